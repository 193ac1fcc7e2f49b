"""The client side of one in-memory WebSocket connection: :class:`WebSocketTestSession`.

Theory of operation. The session plays the ASGI server and the browser at once. Two bounded
anyio memory streams carry messages: client -> application (``websocket.connect`` first, then
``websocket.receive``) and application -> client (the messages the application passes to its
``send``). The application runs in a task group owned by :func:`open_session`; its ``send``
checks every message against the ASGI WebSocket sequence as a server does (ASGI www spec,
"WebSocket"), records it in :attr:`WebSocketTestSession.sent_messages`, and queues it for the
client. The connection ends from either side:

* the client calls :meth:`~WebSocketTestSession.close`, :meth:`~WebSocketTestSession.drop`, or
  leaves the ``async with`` block: the client -> application stream is closed, so the
  application's ``receive`` returns what is still queued and then ``websocket.disconnect``,
  every time it is called (it never blocks forever);
* the application sends ``websocket.close``: the client reads the messages queued before it,
  then the close (``receive_*`` raise :class:`~wskit.exceptions.WebSocketDisconnect`), and the
  application's next ``receive`` gets ``websocket.disconnect`` with the same code, as if the
  client echoed the close frame (RFC 6455 section 5.5.1);
* the application returns or raises: the client reads what is queued, then gets
  ``WebSocketDisconnect(1006)`` (returned without a close frame; uvicorn drops the TCP
  connection, hypercorn sends 1011) or the application's exception.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn

import anyio
import anyio.lowlevel
import msgspec
from starlette.datastructures import Headers

from wskit._types import Message
from wskit.exceptions import DecodeError, FrameTypeError, Timeout, WebSocketDisconnect
from wskit.status import is_sendable

from ._common import ClientDisconnected, WebSocketDenied, check_headers, format_seconds
from ._protocol import State, transition

if TYPE_CHECKING:
    from wskit._types import ASGIApp, Scope

__all__ = ["WebSocketTestSession", "open_session"]


def _is_disconnect(exc: BaseException) -> bool:
    """Tell whether ``exc`` only says "the client went away" (an application may let it escape)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(exc, WebSocketDisconnect | ClientDisconnected)


class WebSocketTestSession:
    """One in-memory WebSocket connection to the application under test.

    Get one from :meth:`TestClient.websocket_connect`; it is usable inside its ``async with``
    block only. All ``receive_*`` methods wait at most ``timeout`` seconds (the client's default
    when ``None``) and raise :class:`~wskit.exceptions.Timeout` after that. Once the application
    has raised, the first call that notices (a receive or send once the queued messages are
    read, :meth:`close`, or leaving the block) re-raises its exception; later calls raise
    ``WebSocketDisconnect(1011)``.

    Attributes:
        scope: The ASGI scope the application received.
        accepted_subprotocol: The subprotocol the application accepted, or ``None``.
        accepted_headers: The extra headers of the application's ``websocket.accept``.
        close_code: The code of the application's ``websocket.close`` (``None`` until it sends
            one, and when the connection ended any other way).
        close_reason: The reason of the application's ``websocket.close``.
        sent_messages: Every message the application passed to ``send``, in order, including
            the handshake and any message the client refused (at most ``max_recorded``).
    """

    #: How many of the application's messages :attr:`sent_messages` keeps at most.
    max_recorded: ClassVar[int] = 10_000

    def __init__(
        self, app: ASGIApp, scope: Scope, *, timeout: float, max_queue: int, denial_response: bool
    ) -> None:
        self.scope = scope
        self.accepted_subprotocol: str | None = None
        self.accepted_headers = Headers()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.sent_messages: list[Message] = []
        self._app = app
        self._timeout = timeout
        self._denial_response = denial_response
        self._to_app, self._app_inbox = anyio.create_memory_object_stream[Message](max_queue)
        self._app_outbox, self._from_app = anyio.create_memory_object_stream[Message](max_queue)
        self._state = State.HANDSHAKE
        # Why the connection ended, as the client sees it (the first ending wins).
        self._end: tuple[int, str] | None = None
        # What the application's receive returns once its inbox is drained and closed.
        self._disconnect: tuple[int, str] = (1006, "")
        self._disconnect_seen = False
        self._inbox_open = True
        self._client_gone = False  # close(), drop() or the end of the block: the client stopped
        self._dropped = False
        self._close_received = False
        self._pending: deque[Message] = deque()
        self._app_scope = anyio.CancelScope()
        self._app_done = anyio.Event()
        self._app_error: Exception | None = None
        self._app_error_delivered = False

    def __repr__(self) -> str:
        ended = f", ended={self._end}" if self._end is not None else ""
        return (
            f"<WebSocketTestSession {self.scope['path']!r} state={self._state.value}"
            f"{ended} sent={len(self.sent_messages)}>"
        )

    # -- the client's API ------------------------------------------------------------------

    async def send(self, message: Message, *, timeout: float | None = None) -> None:
        """Pass a raw ASGI message to the application's ``receive``, as it is.

        Nothing is checked or tracked: use it to inject messages a real server would produce
        (or would never produce). Waits while the application's inbox is full.

        Raises:
            WebSocketDisconnect: If the connection has ended.
            Timeout: If the application does not make room in its inbox in time.
        """
        if self._end is not None:
            self._raise_ended()
        limit = self._timeout if timeout is None else timeout
        with anyio.move_on_after(limit):
            try:
                await self._to_app.send(message)
                return
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            # Raised outside the except block, which would overwrite the application's own
            # exception context if _raise_ended re-raises it.
            self._raise_ended()
        raise Timeout(
            f"the application did not read its messages within {format_seconds(limit)}: "
            "its inbox is full"
        )

    async def send_text(self, data: str, *, timeout: float | None = None) -> None:
        """Send a text frame."""
        if not isinstance(data, str):
            raise TypeError(f"send_text() takes a str, not {type(data).__name__}")
        await self.send({"type": "websocket.receive", "text": data}, timeout=timeout)

    async def send_bytes(
        self, data: bytes | bytearray | memoryview, *, timeout: float | None = None
    ) -> None:
        """Send a binary frame."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"send_bytes() takes bytes, not {type(data).__name__}")
        await self.send({"type": "websocket.receive", "bytes": bytes(data)}, timeout=timeout)

    async def send_json(
        self,
        data: object,
        mode: Literal["text", "binary"] = "text",
        *,
        timeout: float | None = None,
    ) -> None:
        """Send ``data`` as compact JSON, in a text frame or (``mode="binary"``) a binary one."""
        payload = msgspec.json.encode(data)
        if mode == "text":
            await self.send_text(payload.decode(), timeout=timeout)
        elif mode == "binary":
            await self.send_bytes(payload, timeout=timeout)
        else:
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")

    async def receive(self, *, timeout: float | None = None) -> Message:
        """Return the next raw message the application sent (``websocket.send`` or ``.close``).

        Raises:
            WebSocketDisconnect: If the connection has ended and its close was already read.
            Timeout: If nothing arrives in time.
            Exception: The application's own exception, if it raised.
        """
        message = await self._next("receive", timeout)
        if message["type"] == "websocket.close":
            self._close_received = True
        return message

    async def receive_text(self, *, timeout: float | None = None) -> str:
        """Return the next text frame.

        Raises:
            FrameTypeError: If the next frame is a binary one (it is consumed).
            WebSocketDisconnect: If the application closed (``close_code`` is set) or finished.
            Timeout: If nothing arrives in time.
        """
        text: str = self._data(await self._next("receive_text", timeout), "text")
        return text

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """Return the next binary frame; raises as :meth:`receive_text` does (a text frame is
        the ``FrameTypeError``)."""
        return bytes(self._data(await self._next("receive_bytes", timeout), "bytes"))

    async def receive_json(
        self, mode: Literal["text", "binary"] = "text", *, timeout: float | None = None
    ) -> Any:
        """Return the next frame decoded as JSON (from a text frame, or a binary one).

        Raises:
            DecodeError: If the frame is not valid JSON.
            FrameTypeError: If the frame is of the other kind.
            WebSocketDisconnect: If the application closed or finished.
            Timeout: If nothing arrives in time.
        """
        if mode == "text":
            payload: str | bytes = await self.receive_text(timeout=timeout)
        elif mode == "binary":
            payload = await self.receive_bytes(timeout=timeout)
        else:
            raise ValueError(f"mode must be 'text' or 'binary', not {mode!r}")
        try:
            return msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"the application sent invalid JSON: {exc}") from exc

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection and wait for the application to finish.

        The application's ``receive`` returns the messages already sent, then
        ``websocket.disconnect`` with ``code`` and ``reason``. Calling it again does nothing
        more than waiting again. To hand the application a code no client may send (1005, or
        1006 for a lost connection), use :meth:`send` with a raw ``websocket.disconnect``, or
        :meth:`drop`.

        Raises:
            ValueError: If ``code`` is not one an endpoint may send, or ``reason`` is over 123
                UTF-8 bytes (RFC 6455 sections 5.5 and 7.4).
            Timeout: If the application is still running after the client's timeout (it is
                cancelled).
            Exception: The application's own exception, if it raised and it was not yet
                re-raised.
        """
        if not is_sendable(code):
            raise ValueError(f"{code} is not a close code an endpoint may send")
        if len(reason.encode()) > 123:
            raise ValueError("a close reason must be at most 123 bytes once UTF-8 encoded")
        self._leave(code, reason)
        await self._wait_app("after the client closed the connection")
        error = self._take_app_error()
        if error is not None:
            raise error

    def drop(self) -> None:
        """Simulate a client that vanished without a closing handshake.

        The application's ``receive`` returns what is already queued, then
        ``websocket.disconnect`` with code 1006; its ``send`` raises :class:`ClientDisconnected`
        (an ``OSError``). Messages the application sent and the client did not read are lost.
        """
        if not self._client_gone:
            self._dropped = True
            self._leave(1006, "")

    # -- the application's ASGI callables --------------------------------------------------

    async def _app_receive(self) -> Message:
        try:
            return await self._app_inbox.receive()
        except anyio.EndOfStream:
            self._disconnect_seen = True
            code, reason = self._disconnect
            return {"type": "websocket.disconnect", "code": code, "reason": reason}

    async def _app_send(self, message: Message) -> None:
        # A server consumes the message during send(); copy it, so an application that reuses
        # its dictionaries cannot change what the client reads later.
        message = dict(message)
        if len(self.sent_messages) < self.max_recorded:
            self.sent_messages.append(message)
        if self._dropped:
            raise ClientDisconnected("the client's connection dropped")
        self._transition(message)
        if not self._client_gone:
            try:
                await self._app_outbox.send(message)
                return
            except anyio.BrokenResourceError:
                if self._dropped:
                    raise ClientDisconnected("the client's connection dropped") from None
        # The client left. A message sent before the application saw the disconnect was in
        # flight and is lost; one sent after it is a bug ASGI 2.4 servers answer with OSError.
        if self._disconnect_seen:
            raise ClientDisconnected("the client closed the connection")
        await anyio.lowlevel.checkpoint()

    def _transition(self, message: Message) -> None:
        """Check ``message`` against the ASGI sequence and apply what it means to the session."""
        before = self._state
        self._state = after = transition(before, message, denial_response=self._denial_response)
        if after is State.CLOSED and before is State.OPEN:
            code, reason = message.get("code", 1000), message.get("reason") or ""
            self.close_code, self.close_reason = code, reason
            if self._end is None:
                self._end = (code, reason)
            self._end_inbox(code, reason)
        elif after is State.CLOSED:  # refused: a close before accept, or a denial response
            self._end_inbox(1006, "")

    # -- machinery ---------------------------------------------------------------------------

    async def _run_app(self) -> None:
        try:
            with self._app_scope:
                await self._app(self.scope, self._app_receive, self._app_send)
        except Exception as exc:
            self._app_error = exc
        finally:
            self._app_outbox.close()
            self._app_inbox.close()
            if self._end is None:
                self._end = (1011 if self._app_error is not None else 1006, "")
            self._app_done.set()

    async def _handshake(self) -> None:
        """Wait for the application to accept; raise what a refused handshake means."""
        with anyio.move_on_after(self._timeout):
            message = await self._handshake_message()
            if message is None:
                raise WebSocketDenied(500)
            if message["type"] == "websocket.accept":
                self._accepted(message)
                return
            if message["type"] == "websocket.close":
                raise WebSocketDenied(403)
            status: int = message["status"]
            headers = Headers(raw=check_headers("websocket.http.response.start", message))
            body = bytearray()
            more_body = True
            while more_body:
                chunk = await self._handshake_message()
                if chunk is None:  # the application returned in the middle of its response
                    break
                body += chunk.get("body", b"")
                more_body = chunk.get("more_body", False)
            raise WebSocketDenied(status, headers, bytes(body))
        raise Timeout(
            "the application neither accepted nor refused the connection within "
            f"{format_seconds(self._timeout)}"
        )

    async def _handshake_message(self) -> Message | None:
        """Return the application's next message, ``None`` if it returned, or its exception."""
        try:
            return await self._from_app.receive()
        except anyio.EndOfStream:
            pass
        error = self._take_app_error()
        if error is not None:
            raise error
        return None

    def _accepted(self, message: Message) -> None:
        subprotocol: str | None = message.get("subprotocol")
        offered: list[str] = self.scope["subprotocols"]
        if subprotocol is not None and subprotocol not in offered:
            raise RuntimeError(
                f"the application accepted subprotocol {subprotocol!r}, which the client did "
                f"not offer ({offered}): a browser would fail the connection"
            )
        self.accepted_subprotocol = subprotocol
        self.accepted_headers = Headers(raw=check_headers("websocket.accept", message))

    async def _next(self, call: str, timeout: float | None) -> Message:
        if self._pending:
            return self._pending.popleft()
        if self._client_gone or self._close_received:
            self._raise_ended()
        limit = self._timeout if timeout is None else timeout
        with anyio.move_on_after(limit):
            try:
                return await self._from_app.receive()
            except anyio.EndOfStream:
                pass
            self._raise_ended()  # the application finished and everything it sent was read
        raise Timeout(
            f"{call}() got no message from the application within {format_seconds(limit)}"
        )

    def _data(self, message: Message, kind: Literal["text", "bytes"]) -> Any:
        """The ``kind`` payload of a ``websocket.send`` message; a close is the error.

        Raises:
            WebSocketDisconnect: The message is the application's close.
            FrameTypeError: The frame is of the other kind.
        """
        if message["type"] == "websocket.close":
            self._close_received = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        data = message.get(kind)
        if data is None:
            raise FrameTypeError(kind, "bytes" if kind == "text" else "text")
        return data

    def _raise_ended(self) -> NoReturn:
        error = self._take_app_error()
        if error is not None:
            raise error
        code, reason = self._end or (1006, "")
        raise WebSocketDisconnect(code, reason)

    def _take_app_error(self) -> Exception | None:
        """Return the application's exception once, unless it only said "the client left"."""
        error = self._app_error
        if error is None or self._app_error_delivered:
            return None
        if self._state is not State.HANDSHAKE and _is_disconnect(error):
            return None
        self._app_error_delivered = True
        return error

    def _end_inbox(self, code: int, reason: str) -> None:
        if self._inbox_open:
            self._inbox_open = False
            self._disconnect = (code, reason)
            self._to_app.close()

    def _leave(self, code: int, reason: str) -> None:
        """The client stops: the application gets its disconnect, the client stops reading."""
        if self._client_gone:
            return
        self._client_gone = True
        if self._end is None:
            self._end = (code, reason)
        self._end_inbox(code, reason)
        while not self._dropped:  # keep what was already sent, so receive() can still read it
            try:
                self._pending.append(self._from_app.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        self._from_app.close()

    async def _wait_app(self, when: str) -> None:
        with anyio.move_on_after(self._timeout):
            await self._app_done.wait()
            return
        self._app_scope.cancel()
        raise Timeout(
            f"the application was still running {format_seconds(self._timeout)} {when}; an "
            "application should return once its receive() gives 'websocket.disconnect'"
        )

    def _abort(self) -> None:
        """Stop at once: the test body failed, or the handshake timed out."""
        self._app_scope.cancel()
        self._leave(1006, "")


@contextlib.asynccontextmanager
async def open_session(
    app: ASGIApp, scope: Scope, *, timeout: float, max_queue: int, denial_response: bool
) -> AsyncIterator[WebSocketTestSession]:
    """Run ``app`` for a new session, handshake, yield the session, then end it cleanly.

    Errors are raised only after the task group has exited, so a test sees the exception itself
    and never an ``ExceptionGroup`` around it.
    """
    session = WebSocketTestSession(
        app, scope, timeout=timeout, max_queue=max_queue, denial_response=denial_response
    )
    error: Exception | None = None
    streams = (session._to_app, session._app_inbox, session._app_outbox, session._from_app)
    with contextlib.ExitStack() as stack:
        for stream in streams:
            stack.enter_context(stream)
        async with anyio.create_task_group() as tg:
            session._to_app.send_nowait({"type": "websocket.connect"})
            tg.start_soon(session._run_app)
            try:
                await session._handshake()
            except Exception as exc:
                error = await _refused(session, exc)
            else:
                try:
                    yield session
                except Exception as exc:
                    session._abort()
                    error = session._take_app_error() or exc
                else:
                    error = await _finish(session)
    if error is not None:
        raise error


async def _refused(session: WebSocketTestSession, error: Exception) -> Exception:
    if isinstance(error, Timeout):
        session._abort()
        return error
    session._leave(1006, "")
    try:
        await session._wait_app("after it refused the connection")
    except Timeout as exc:
        return exc
    return session._take_app_error() or error


async def _finish(session: WebSocketTestSession) -> Exception | None:
    session._leave(1000, "")
    try:
        await session._wait_app("after the client left the 'async with' block")
    except Timeout as exc:
        return exc
    return session._take_app_error()
