"""The tests' one fake ASGI server: an in-memory ``(receive, send)`` pair for one WebSocket.

``ASGIPair`` plays the server's part for one connection: tests queue the events the
application will receive (``connect()``, ``text()``, ``binary()``, ``disconnect()``) and read back
every message the application sent (``sent``, ``data``), how often each callable was awaited
(``receive_calls``, ``send_calls``), make the next ``send`` fail (``fail_send``), hold every
``send`` until an event is set (``gate``) or forever (``block_send``), and wait until the
application has sent a number of frames (``wait_frames``). :func:`accepted` gives an accepted
``wskit.WebSocket`` over a pair; tests of the hub use it for the connections they subscribe.

``receive`` returns queued events at once; with nothing queued it waits until a test pushes
one (that is how timeouts and concurrent receives are tested), for at most ``HANG_LIMIT``
seconds, so a broken test fails instead of hanging.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import anyio

from wskit.codecs import JSON, Codec
from wskit.connection import DEFAULT_LIMITS, Limits, WebSocket

__all__ = ["DENIAL", "HANG_LIMIT", "ASGIPair", "accepted", "make_scope"]

Message = MutableMapping[str, Any]

#: The extensions entry of a server that supports denial responses.
DENIAL: dict[str, dict[str, Any]] = {"websocket.http.response": {}}
#: The longest an empty ``receive`` waits before failing the test.
HANG_LIMIT = 5.0


def make_scope(
    *,
    path: str = "/ws",
    query_string: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
    subprotocols: Iterable[str] = (),
    denial: bool = True,
    **extra: Any,
) -> Message:
    """A websocket scope as a server builds it."""
    scope: Message = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string,
        "headers": [(b"host", b"testserver"), *headers],
        "subprotocols": list(subprotocols),
        "extensions": dict(DENIAL) if denial else {},
        "state": {},
    }
    scope.update(extra)
    return scope


class ASGIPair:
    """A scripted server side for one WebSocket connection.

    Args:
        scope: The scope to hand the application (``make_scope()`` when ``None``).
        connect: Queue the ``websocket.connect`` event right away.
    """

    def __init__(self, scope: Message | None = None, *, connect: bool = True) -> None:
        self.scope = make_scope() if scope is None else scope
        self.inbound: deque[Message] = deque()
        self.sent: list[Message] = []
        self.receive_calls = 0
        self.send_calls = 0
        #: Raised by the next ``send`` (once), instead of recording the message.
        self.fail_send: BaseException | None = None
        #: When set, ``send`` blocks (until cancelled) instead of returning.
        self.block_send = False
        #: When set, each ``send`` waits until this event is set (then records or fails), with
        #: no deadline of its own: a stalled client.
        self.gate: anyio.Event | None = None
        #: ``(len(sent), send_calls, receive_calls)`` when ``websocket.disconnect`` was handed
        #: to the application, or when ``fail_send`` was raised: nothing may follow either.
        self.disconnect_delivered: tuple[int, int, int] | None = None
        self.send_failed: tuple[int, int, int] | None = None
        self._arrived: anyio.Event | None = None
        self._recorded: anyio.Event | None = None
        if connect:
            self.connect()

    # -- scripting the client -----------------------------------------------------------------

    def push(self, *messages: Message) -> ASGIPair:
        """Queue events for the application's ``receive``."""
        self.inbound.extend(messages)
        if self._arrived is not None:
            self._arrived.set()
        return self

    def connect(self) -> ASGIPair:
        """Queue ``websocket.connect``."""
        return self.push({"type": "websocket.connect"})

    def text(self, *texts: str) -> ASGIPair:
        """Queue text frames."""
        return self.push(*({"type": "websocket.receive", "text": t} for t in texts))

    def binary(self, *datas: bytes) -> ASGIPair:
        """Queue binary frames."""
        return self.push(*({"type": "websocket.receive", "bytes": d} for d in datas))

    def disconnect(self, code: int = 1000, reason: str | None = None) -> ASGIPair:
        """Queue ``websocket.disconnect``."""
        message: Message = {"type": "websocket.disconnect", "code": code}
        if reason is not None:
            message["reason"] = reason
        return self.push(message)

    # -- the ASGI callables -------------------------------------------------------------------

    async def receive(self) -> Message:
        """The application's ``receive``."""
        self.receive_calls += 1
        with anyio.fail_after(HANG_LIMIT):
            while not self.inbound:
                self._arrived = arrived = anyio.Event()
                try:
                    await arrived.wait()
                finally:
                    self._arrived = None
        message = self.inbound.popleft()
        if message["type"] == "websocket.disconnect" and self.disconnect_delivered is None:
            self.disconnect_delivered = self._counts()
        return message

    def _counts(self) -> tuple[int, int, int]:
        return len(self.sent), self.send_calls, self.receive_calls

    async def send(self, message: Message) -> None:
        """The application's ``send``: records a copy of ``message``."""
        self.send_calls += 1
        if self.gate is not None:
            await self.gate.wait()  # a stalled client: as long as the test wants
        if self.fail_send is not None:
            exc, self.fail_send = self.fail_send, None
            self.send_failed = self._counts()
            raise exc
        if self.block_send:
            with anyio.fail_after(HANG_LIMIT):
                await anyio.sleep_forever()
        self.sent.append(dict(message))
        if self._recorded is not None:
            self._recorded.set()
            self._recorded = None

    # -- reading the record -------------------------------------------------------------------

    @property
    def types(self) -> list[str]:
        """The ``type`` of every message sent, in order."""
        return [m["type"] for m in self.sent]

    @property
    def closes(self) -> list[Message]:
        """Every ``websocket.close`` message sent."""
        return [m for m in self.sent if m["type"] == "websocket.close"]

    @property
    def data(self) -> list[str | bytes]:
        """The payload of every ``websocket.send`` message, in order."""
        out: list[str | bytes] = []
        for m in self.sent:
            if m["type"] == "websocket.send":
                out.append(m["text"] if m.get("text") is not None else m["bytes"])
        return out

    async def wait_frames(self, count: int) -> list[str | bytes]:
        """Wait until the application has sent ``count`` frames (at most ``HANG_LIMIT`` s)."""
        with anyio.fail_after(HANG_LIMIT):
            while len(self.data) < count:
                self._recorded = recorded = anyio.Event()
                await recorded.wait()
        return self.data

    def snapshot(self, ws: WebSocket) -> tuple[bool, str, str]:
        """``(closed, client_state, application_state)`` of ``ws``, read afresh (a function
        call, so that mypy does not carry a narrowed property from one assert to the next)."""
        return ws.closed, ws.client_state.name, ws.application_state.name

    def websocket(
        self,
        *,
        codec: Codec = JSON,
        limits: Limits = DEFAULT_LIMITS,
        cls: type[WebSocket] = WebSocket,
        send: Callable[[Message], Awaitable[None]] | None = None,
    ) -> WebSocket:
        """A ``cls`` over this pair (``send``: the server's ``send`` instead of the pair's)."""
        return cls(self.scope, self.receive, send or self.send, codec=codec, limits=limits)


async def accepted(
    pair: ASGIPair | None = None,
    *,
    codec: Codec = JSON,
    limits: Limits = DEFAULT_LIMITS,
    cls: type[WebSocket] = WebSocket,
    send: Callable[[Message], Awaitable[None]] | None = None,
) -> tuple[ASGIPair, WebSocket]:
    """An accepted connection over ``pair`` (a new one when ``None``); see :meth:`websocket`."""
    pair = ASGIPair() if pair is None else pair
    ws = pair.websocket(codec=codec, limits=limits, cls=cls, send=send)
    await ws.accept()
    return pair, ws
