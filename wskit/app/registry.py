"""Serving one connection, and the registry of an App's live connections.

:func:`run_handler` is the per-connection core shared by :class:`~wskit.app.App` and the
Starlette route of :mod:`wskit.contrib.starlette`: handshake checks, the handler, and the
outcome settled as the table in :mod:`wskit.app` says. :class:`EndpointSpec` is one endpoint
resolved once (handler, settings, guards). :class:`Registry` tracks the live connections of an
App for its connection cap (``max_connections``, ``on_overload``) and its graceful drain
(``shutdown``: 1001 to every client, concurrently, within a deadline).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Final

import anyio
from starlette.websockets import WebSocketDisconnect as _AnyDisconnect
from starlette.websockets import WebSocketState

from wskit._outcome import is_disconnect, log_handler_error, peer
from wskit.connection import WebSocket
from wskit.exceptions import Denied, RemoteProtocolError
from wskit.policies import Handshake, OverloadPolicy
from wskit.status import CloseCode, reason_for

from ._guards import GuardSpec
from .routing import Handler

if TYPE_CHECKING:
    from wskit._types import Receive, Scope, Send

__all__ = ["SHUTDOWN_REASON", "EndpointSpec", "Registry", "refuse", "run_handler"]

_CONNECTING: Final = WebSocketState.CONNECTING
_CONNECTED: Final = WebSocketState.CONNECTED
_DISCONNECTED: Final = WebSocketState.DISCONNECTED
_CANCEL_GRACE: Final = 1.0
#: The reason of the 1001 a drain closes connections with (the Registry's and the server's).
SHUTDOWN_REASON: Final = "server shutting down"
_default_logger: Final = logging.getLogger("wskit.app")


async def refuse(
    ws: WebSocket, denied: Denied, logger: logging.Logger, level: int = logging.DEBUG
) -> None:
    """Send a denial (or close before accept); a client already gone is not an error.

    Logged at ``level`` with the status, the reason and the peer: INFO for a policy's refusal
    (Origin, authentication, subprotocol, connection cap, a ``Denied`` of the handler's own), so
    a client that cannot connect leaves a trace; DEBUG for the rest (unknown path, shutdown).
    """
    logger.log(level, "refusing %s with HTTP %d: %s", peer(ws.scope), denied.status, denied.reason)
    try:
        await ws.deny(denied.status, denied.headers, denied.body)
    except (_AnyDisconnect, RemoteProtocolError):
        pass


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Close an open connection, shielded and bounded by ``Limits.close_timeout``."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(ws.limits.close_timeout):
        await ws.close(code, reason)


async def _settle_error(ws: WebSocket, exc: Exception, logger: logging.Logger) -> None:
    """Turn a handler's exception into a denial, a close, or nothing (see the table)."""
    state = ws.application_state
    if state is _CONNECTING and isinstance(exc, Denied):
        await refuse(ws, exc, logger, logging.INFO)  # a policy (or the handler) refused it
        return
    if is_disconnect(exc):
        logger.debug("client left %r: %r", ws.scope.get("path", ""), exc)
        code, reason = int(CloseCode.NORMAL_CLOSURE), ""
    else:
        code, reason = log_handler_error(exc, ws.scope, logger)
        if state is _CONNECTING:
            await refuse(ws, Denied(500, b"internal server error"), logger)
            return
    if state is _CONNECTED:
        await _close(ws, code, reason)


async def run_handler(
    ws: WebSocket,
    handler: Handler,
    handshake: Handshake,
    logger: logging.Logger,
    cancel_scope: anyio.CancelScope | None = None,
) -> None:
    """Run the handshake checks and ``handler(ws)``, and settle the outcome (see the table).

    This is the per-connection core shared by :class:`App` and the Starlette route in
    :mod:`wskit.contrib.starlette`. It never raises, except for cancellation (after closing an
    open connection with 1001).
    """
    try:
        if handshake.enabled:
            await handshake.check(ws)
        await handler(ws)
    except Exception as exc:
        await _settle_error(ws, exc, logger)
    except BaseException as exc:
        # Cancellation (the server stopping, the drain's deadline) is a 1001, never a 1011.
        if isinstance(exc, anyio.get_cancelled_exc_class()) and ws.application_state is _CONNECTED:
            await _close(ws, CloseCode.GOING_AWAY, reason_for(CloseCode.GOING_AWAY))
        raise
    else:
        state = ws.application_state
        if state is _CONNECTED:
            if cancel_scope is None:
                with anyio.move_on_after(ws.limits.close_timeout):
                    await ws.close(CloseCode.NORMAL_CLOSURE)
                    await ws.finish_close()
                return
            # Reuse the registry's scope for the deadline: one timer less per connection.
            cancel_scope.deadline = anyio.current_time() + ws.limits.close_timeout
            await ws.close(CloseCode.NORMAL_CLOSURE)
        elif state is _CONNECTING:
            logger.debug("handler for %r returned without accepting", ws.scope.get("path", ""))
            await refuse(ws, Denied(403), logger)
            return
    # Closed by this side: read what the client still sends until the server reports the
    # disconnect, so that the server lets go of the stream (see WebSocket.finish_close).
    if ws.application_state is _DISCONNECTED:
        await ws.finish_close()


class EndpointSpec:
    """One endpoint resolved once, at registration: its handler, settings and guards.

    :class:`App` keeps one per route, and the Starlette endpoint in :mod:`wskit.contrib.starlette`
    one for itself, so both build connections the same way.

    Args:
        handler: The endpoint's handler.
        handshake: The endpoint's resolved :class:`~wskit.policies.Handshake`.
    """

    __slots__ = ("guards", "handler", "handshake")

    def __init__(self, handler: Handler, handshake: Handshake) -> None:
        self.handler = handler
        self.handshake = handshake
        #: The after-accept guards, or ``None`` when the endpoint has none (the fast path).
        self.guards = GuardSpec(handshake, handler) if handshake.guarded else None

    def connect(self, scope: Scope, receive: Receive, send: Send) -> tuple[WebSocket, Handler]:
        """Build one connection's ``WebSocket`` and the handler to run it with."""
        guards = self.guards
        if guards is not None:
            return guards.connect(scope, receive, send)
        handshake = self.handshake
        ws = WebSocket(scope, receive, send, codec=handshake.codec, limits=handshake.limits)
        return ws, self.handler


class _Live:
    """One tracked connection: its WebSocket and the cancel scope its handler runs in."""

    __slots__ = ("cancel_scope", "ws")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.cancel_scope = anyio.CancelScope()


class _ConnectionsView(Collection[WebSocket]):
    """A read-only, live view of the WebSockets a :class:`Registry` tracks."""

    __slots__ = ("_live",)

    def __init__(self, live: dict[int, _Live]) -> None:
        self._live = live

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[WebSocket]:
        return iter([entry.ws for entry in self._live.values()])

    def __contains__(self, item: object) -> bool:
        return any(entry.ws is item for entry in self._live.values())

    def __repr__(self) -> str:
        return f"<connections: {len(self._live)}>"


class Registry:
    """Live connections, a connection cap, and the graceful drain.

    :class:`App` has one (``app.registry``); the Starlette route in
    :mod:`wskit.contrib.starlette` takes one so that Starlette apps can drain too.

    Args:
        max_connections: Cap on concurrent connections, handshakes in progress included
            (``None``: no cap).
        on_overload: Over the cap, ``"deny"`` refuses with HTTP 503; ``"close"`` accepts and
            closes with 1013 (Try Again Later), for clients that cannot see denial statuses.
        drain_timeout: Default deadline, in seconds, of :meth:`shutdown`.
        logger: Where drain and error records go (default: the ``wskit.app`` logger).
    """

    def __init__(
        self,
        *,
        max_connections: int | None = None,
        on_overload: OverloadPolicy = "deny",
        drain_timeout: float = 10.0,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if on_overload not in ("deny", "close"):
            raise ValueError(f"on_overload must be 'deny' or 'close', got {on_overload!r}")
        if drain_timeout <= 0:
            raise ValueError(f"drain_timeout must be positive, got {drain_timeout}")
        self.max_connections = max_connections
        self.on_overload = on_overload
        self.drain_timeout = drain_timeout
        self.logger = logger or _default_logger
        self._live: dict[int, _Live] = {}
        self._view = _ConnectionsView(self._live)
        self._closing = False
        self._idle: anyio.Event | None = None
        self._done: anyio.Event | None = None

    @property
    def connections(self) -> Collection[WebSocket]:
        """The live connections: a read-only view (``len()``, iteration, ``in``)."""
        return self._view

    @property
    def closing(self) -> bool:
        """Whether :meth:`shutdown` has started (new handshakes are refused with 503)."""
        return self._closing

    def reset(self) -> None:
        """Accept connections again after a :meth:`shutdown` (a new lifespan startup)."""
        self._closing = False
        self._idle = self._done = None

    async def serve(self, ws: WebSocket, handler: Handler, handshake: Handshake) -> None:
        """Track ``ws`` while :func:`run_handler` runs it, unless shut down or over the cap."""
        if self._closing:
            await refuse(ws, Denied(503, b"server shutting down"), self.logger)
            return
        cap = self.max_connections
        if cap is not None and len(self._live) >= cap:
            await self._overloaded(ws)
            return
        entry = _Live(ws)
        key = id(entry)
        self._live[key] = entry
        try:
            with entry.cancel_scope:
                await run_handler(ws, handler, handshake, self.logger, entry.cancel_scope)
            if entry.cancel_scope.cancelled_caught and ws.application_state is _CONNECTING:
                # A handshake the drain cancelled is refused like any handshake after it.
                await refuse(ws, Denied(503, b"server shutting down"), self.logger)
        finally:
            del self._live[key]
            if self._idle is not None and not self._live:
                self._idle.set()

    async def _overloaded(self, ws: WebSocket) -> None:
        reason = f"{len(self._live)} connections (max_connections={self.max_connections})"
        if self.on_overload == "deny":
            denied = Denied(503, b"too many connections", reason=reason)
            await refuse(ws, denied, self.logger, logging.INFO)
            return
        self.logger.info("closing %s with 1013: %s", peer(ws.scope), reason)
        try:
            await ws.accept()
        except (_AnyDisconnect, RemoteProtocolError):
            return
        await _close(ws, CloseCode.TRY_AGAIN_LATER, "too many connections")

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop accepting, close every live connection with 1001 and wait for the handlers.

        New handshakes are refused with 503 from the first call on. Open connections are closed
        with 1001 (Going Away) concurrently; handshakes still in progress are cancelled and
        refused with 503. Handlers still running at the deadline are cancelled. Calling it
        again (or concurrently) waits for the first drain to finish.

        Args:
            timeout: Seconds for the whole drain (default: ``drain_timeout``).
        """
        timeout = self.drain_timeout if timeout is None else timeout
        if self._done is not None:
            with anyio.move_on_after(timeout + _CANCEL_GRACE):
                await self._done.wait()
            return
        self._closing = True
        self._done = done = anyio.Event()
        try:
            await self._drain(timeout)
        finally:
            done.set()

    async def _drain(self, timeout: float) -> None:
        if not self._live:
            return
        self._idle = idle = anyio.Event()
        self.logger.info("closing %d WebSocket connections (1001)", len(self._live))
        with anyio.move_on_after(timeout):
            async with anyio.create_task_group() as tg:
                for entry in list(self._live.values()):
                    tg.start_soon(self._going_away, entry)
            await idle.wait()
        if self._live:
            self.logger.warning(
                "cancelling %d WebSocket handlers still running after %.1f s",
                len(self._live),
                timeout,
            )
            for entry in self._live.values():
                entry.cancel_scope.cancel()
            with anyio.move_on_after(_CANCEL_GRACE):
                await idle.wait()

    async def _going_away(self, entry: _Live) -> None:
        ws = entry.ws
        if ws.application_state is _CONNECTING:
            entry.cancel_scope.cancel()
            return
        try:
            await ws.close(CloseCode.GOING_AWAY, SHUTDOWN_REASON)
        except Exception as exc:  # a broken transport must not stop the drain of the others
            self.logger.debug("close 1001 failed on %r: %r", ws.scope.get("path", ""), exc)
