"""Guards an :class:`~wskit.app.App` keeps on an open connection: rate limit, idle, lifespan.

These are the policies that act *after* accept (the handshake ones are in
:mod:`wskit.policies`). An endpoint with none of them is served exactly as before: the
``WebSocket`` gets the server's own ``receive`` and the handler is called directly, so the
per-message fast path is untouched. An endpoint with any of them gets, per connection, a
:class:`Guard` that wraps the server's ``receive``:

* **rate limit** (:class:`~wskit.policies.ratelimit.RateLimit`): each ``websocket.receive``
  takes tokens; over the limit the guard closes with 1008 or answers with a ``rate_limited``
  error envelope and drops the message.
* **idle timeout**: a receive that waits longer than ``idle_timeout`` seconds for the client
  closes the connection with 1008 ("idle timeout"). As with the operation router's
  ``idle_timeout``, only time spent waiting for the client counts. It is a deadline on the
  wait itself, so it needs no task.
* **max lifespan**: ``max_lifespan`` seconds after the handler starts (right after the
  handshake checks), the connection is closed with 1001 ("connection lifespan ended"), the
  same code and reason as the operation router's ``max_lifespan``. One timer task runs next to
  the handler, in a task group that ends with it, so no task outlives the connection. The
  handler gets ``Limits.close_timeout`` seconds to return on its own, then it is cancelled.

When a guard closes the connection, a handler waiting in a receive is woken with the
``websocket.disconnect`` it would get from a client that left, carrying the guard's code
(``WebSocketDisconnect(1008, "idle timeout")``): its ``except WebSocketDisconnect:`` clean-up
runs as usual, and the server's ``receive`` is not awaited again. A handler busy elsewhere
finds out on its next send or receive (``ConnectionClosed``, also a ``WebSocketDisconnect``).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Final

import anyio
from starlette.websockets import WebSocketState

from wskit.connection import WebSocket
from wskit.operations.envelope import DEFAULT_FORMAT
from wskit.operations.errors import ErrorHandling
from wskit.policies.ratelimit import RateLimit, TokenBucket, message_size
from wskit.status import CloseCode

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from wskit._types import Message, Receive, Scope, Send
    from wskit.policies import Handshake

    from .routing import Handler

__all__ = ["Guard", "GuardSpec"]

logger: Final = logging.getLogger("wskit.app")

_CONNECTING: Final = WebSocketState.CONNECTING
_CONNECTED: Final = WebSocketState.CONNECTED
_RECEIVE: Final = "websocket.receive"
_DISCONNECT: Final = "websocket.disconnect"
_INF: Final = math.inf

IDLE_REASON: Final = "idle timeout"
LIFESPAN_REASON: Final = "connection lifespan ended"
RATE_REASON: Final = "rate limit exceeded"


def _error_reply(handler: object, limit: RateLimit) -> Callable[[WebSocket], Awaitable[bool]]:
    """Build the ``rate_limited`` error reply of an endpoint, once, at registration.

    The envelope is the operation router's error envelope: the router's own (field names
    included) when the handler is an ``OperationRouter``, else the default format.
    """
    errors = getattr(handler, "errors", None)
    if not isinstance(errors, ErrorHandling):
        errors = ErrorHandling(DEFAULT_FORMAT)
    text = f"{RATE_REASON}: at most {limit.describe()}"

    async def reply(ws: WebSocket) -> bool:
        return await errors.send_error(ws, "rate_limited", text)

    return reply


class GuardSpec:
    """The guards of one endpoint, resolved once at registration.

    Args:
        handshake: The endpoint's resolved settings (its ``rate_limit``, ``idle_timeout``,
            ``max_lifespan``, ``codec`` and ``limits`` are used).
        handler: The endpoint's handler.
    """

    __slots__ = (
        "codec",
        "handler",
        "idle_timeout",
        "limits",
        "max_lifespan",
        "rate_limit",
        "reply",
        "timed",
    )

    def __init__(self, handshake: Handshake, handler: Handler) -> None:
        self.rate_limit = handshake.rate_limit
        self.idle_timeout = handshake.idle_timeout
        self.max_lifespan = handshake.max_lifespan
        self.codec = handshake.codec
        self.limits = handshake.limits
        self.handler = handler
        #: Whether receives wait inside a cancel scope (idle deadline or lifespan interrupt).
        self.timed = self.idle_timeout is not None or self.max_lifespan is not None
        self.reply: Callable[[WebSocket], Awaitable[bool]] | None = None
        if self.rate_limit is not None and self.rate_limit.on_exceed == "reply":
            self.reply = _error_reply(handler, self.rate_limit)

    def connect(self, scope: Scope, receive: Receive, send: Send) -> tuple[WebSocket, Handler]:
        """Build one guarded connection: its ``WebSocket`` and the handler to run it with."""
        guard = Guard(self, receive)
        ws = WebSocket(scope, guard, send, codec=self.codec, limits=self.limits)
        guard.ws = ws
        return ws, guard.run


class Guard:
    """One connection's guard: the ``receive`` its ``WebSocket`` calls (see the module docs)."""

    __slots__ = ("_bucket", "_ended", "_left", "_receive", "_spec", "_waiting", "ws")

    def __init__(self, spec: GuardSpec, receive: Receive) -> None:
        self._spec = spec
        self._receive = receive
        limit = spec.rate_limit
        self._bucket: TokenBucket | None = (
            None if limit is None else limit.bucket(anyio.current_time())
        )
        #: The ``websocket.disconnect`` handed to the application once the guard closed.
        self._ended: Message | None = None
        #: Whether the server has reported the disconnect (``websocket.disconnect``).
        self._left = False
        self._waiting: anyio.CancelScope | None = None
        self.ws: WebSocket

    async def __call__(self) -> Message:
        """The application's ``receive``: the server's, with the guards applied."""
        while True:
            if self._ended is not None:
                return self._ended
            if self._spec.timed:
                message = await self._wait()
                if message is None:
                    continue  # a guard ended the connection meanwhile
            else:
                message = await self._receive()
            bucket = self._bucket
            kind = message.get("type")
            if kind != _RECEIVE:
                if kind == _DISCONNECT:
                    self._left = True  # the server let go: nothing more to read
                return message
            if bucket is None:
                return message
            limit = self._spec.rate_limit
            size = message_size(message) if limit is not None and limit.counts_bytes else 0
            if bucket.take(size, anyio.current_time()):
                return message
            await self._over_limit()

    async def _wait(self) -> Message | None:
        """Await the server's next message under the idle deadline and the lifespan interrupt."""
        deadline = _INF
        idle = self._spec.idle_timeout
        if idle is not None and self.ws.application_state is _CONNECTED:
            deadline = anyio.current_time() + idle
        message: Message | None = None
        with anyio.CancelScope(deadline=deadline) as scope:
            self._waiting = scope
            message = await self._receive()
        self._waiting = None
        if message is None and self._ended is None:
            logger.info("closing %r: idle for %s seconds", self.ws.scope.get("path"), idle)
            await self.end(CloseCode.POLICY_VIOLATION, IDLE_REASON)
        return message

    async def _over_limit(self) -> None:
        ws = self.ws
        reply = self._spec.reply
        if reply is None:
            logger.info("closing %r: %s", ws.scope.get("path"), RATE_REASON)
            await self.end(CloseCode.POLICY_VIOLATION, RATE_REASON)
            return
        logger.debug("dropping a message on %r: %s", ws.scope.get("path"), RATE_REASON)
        if await reply(ws):  # the client left while we answered
            self._ended = {"type": "websocket.disconnect", "code": ws.close_code or 1006}

    async def end(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` (once); later receives get a disconnect."""
        if self._ended is not None:
            return
        self._ended = {"type": "websocket.disconnect", "code": code, "reason": reason}
        ws = self.ws
        with anyio.CancelScope(shield=True), anyio.move_on_after(ws.limits.close_timeout):
            await ws.close(code, reason)

    # -- max lifespan -------------------------------------------------------------------------

    async def run(self, ws: WebSocket) -> None:
        """Run the endpoint's handler (with the lifespan timer next to it), then, if a guard
        closed the connection, read and drop what the client still sends until the server
        reports the disconnect (the guard stopped handing the server's messages on)."""
        try:
            await self._run(ws)
        except Exception:
            await self._finish_close()
            raise
        await self._finish_close()

    async def _finish_close(self) -> None:
        if self._ended is None or self._left:
            return
        receive = self._receive
        with anyio.move_on_after(self.ws.limits.close_timeout):
            try:
                while (await receive()).get("type") != _DISCONNECT:
                    pass
            except Exception as exc:  # the server broke down: nothing more to read either way
                logger.debug("finishing the close of %r: %r", self.ws.scope.get("path"), exc)
        self._left = True

    async def _run(self, ws: WebSocket) -> None:
        lifespan = self._spec.max_lifespan
        if lifespan is None:
            await self._spec.handler(ws)
            return
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._lifespan, tg.cancel_scope, lifespan, name="wskit lifespan timer")
            try:
                await self._spec.handler(ws)
            except Exception as exc:  # re-raised below, outside the task group (no group)
                error = exc
            tg.cancel_scope.cancel()
        if error is not None:
            raise error

    async def _lifespan(self, handler_scope: anyio.CancelScope, lifespan: float) -> None:
        await anyio.sleep(lifespan)
        ws = self.ws
        path = ws.scope.get("path")
        if ws.application_state is _CONNECTING:
            # Not accepted within its whole lifespan: the App refuses it (403).
            handler_scope.cancel()
            return
        logger.info("closing %r: lifespan of %s seconds reached", path, lifespan)
        await self.end(CloseCode.GOING_AWAY, LIFESPAN_REASON)
        if self._waiting is not None:
            self._waiting.cancel()
        await anyio.sleep(ws.limits.close_timeout)
        logger.warning(
            "cancelling the handler of %r: still running %s seconds after its lifespan ended",
            path,
            ws.limits.close_timeout,
        )
        handler_scope.cancel()
