"""The registry of live connections: a connection cap, and the graceful drain.

:class:`Registry` tracks the live connections of an :class:`~wskit.app.App` (or of Starlette
routes that share one, :mod:`wskit.contrib.starlette`) for the connection cap
(``max_connections``, ``on_overload``) and the graceful drain (``shutdown``: 1001 to every
client, concurrently, within a deadline). Each connection is served by
:func:`~wskit.app.endpoint.run_handler`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Final

import anyio
from starlette.websockets import WebSocketState

from wskit._outcome import peer
from wskit.connection import WebSocket
from wskit.exceptions import Denied, RemoteProtocolError, WebSocketDisconnect
from wskit.policies import OverloadPolicy
from wskit.status import CloseCode

from .endpoint import close_open, refuse, run_handler

if TYPE_CHECKING:
    from wskit.policies import Handshake

    from .routing import Handler

__all__ = ["SHUTDOWN_REASON", "Registry"]

_CONNECTING: Final = WebSocketState.CONNECTING
_CANCEL_GRACE: Final = 1.0
#: The reason of the 1001 a drain closes connections with (the Registry's and the server's).
SHUTDOWN_REASON: Final = "server shutting down"
_default_logger: Final = logging.getLogger("wskit.app")


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
        except (WebSocketDisconnect, RemoteProtocolError):
            return
        await close_open(ws, CloseCode.TRY_AGAIN_LATER, "too many connections")

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
