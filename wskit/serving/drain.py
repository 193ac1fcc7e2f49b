"""The drain: on SIGINT/SIGTERM every wskit connection gets 1001 before the server stops.

Servers stop WebSocket connections by dropping or cancelling them (hypercorn after its graceful
timeout, uvicorn with 1012, granian without a close frame). wskit drains first, whatever the
app is:

* an app with an async ``shutdown(timeout=...)`` (``wskit.App``, duck-typed, found behind
  middleware through ``.app``) is awaited: it refuses new handshakes with 503, closes its
  connections with 1001 and waits for their handlers;
* every other :class:`~wskit.connection.WebSocket`, in a Starlette app with wskit routes, a
  mounted wskit app, or a raw ASGI app that builds ``wskit.WebSocket`` itself, is found through
  :class:`LiveConnections`: the serving process puts it in each WebSocket scope (the
  ``"wskit.connections"`` extension) and the connection registers itself when it accepts.

Both run concurrently; a connection closed by one is not closed again. A second signal skips
what is left of the drain.
"""

from __future__ import annotations

import inspect
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.abc

from ..app.registry import SHUTDOWN_REASON
from ..connection import LIVE_EXTENSION, WebSocket
from ..status import CloseCode
from .options import DRAIN_BACKSTOP, DRAIN_GRACE

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "Control",
    "LiveConnections",
    "drain",
    "drain_app",
    "find_shutdown",
    "poll",
    "watch_signals",
]

logger = logging.getLogger("wskit.server")

#: The drain's deadline when neither the options nor the app give one (``wskit.App``'s default).
DEFAULT_DRAIN_TIMEOUT: Final = 10.0


class Control:
    """What a server adapter needs to know to stop: the drain is done, or stop right now."""

    def __init__(self) -> None:
        #: Set once the drain is over: the adapter stops its server then.
        self.drained = anyio.Event()
        self.forced = False
        self._on_force: list[Callable[[], object]] = []

    def on_force(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` on a second signal (stop without waiting for connections)."""
        self._on_force.append(callback)

    def force(self) -> None:
        """A second signal: skip the rest of the drain and every graceful wait."""
        self.forced = True
        for callback in self._on_force:
            callback()
        self.drained.set()


class _Call:
    """One WebSocket scope being served: the ``wskit.connections`` extension the app sees."""

    __slots__ = ("live", "sockets")

    def __init__(self, live: LiveConnections) -> None:
        self.live = live
        self.sockets: list[WebSocket] = []

    def add(self, ws: WebSocket) -> None:
        """Register ``ws`` (``WebSocket.accept`` calls this): the drain closes it with 1001."""
        self.sockets.append(ws)
        self.live.changed()


class LiveConnections:
    """The WebSocket scopes a serving process runs, and the wskit connections among them.

    :meth:`wrap` puts a per-scope registrar in ``scope["extensions"]["wskit.connections"]``;
    a ``wskit.WebSocket`` that accepts adds itself. :meth:`drain` closes every one with 1001
    and waits until the app calls that hold one have returned. App calls without a wskit
    connection (a plain Starlette endpoint, say) are not waited for: the server's graceful
    timeout covers them.
    """

    def __init__(self) -> None:
        self._calls: dict[int, _Call] = {}
        self._changed: anyio.Event | None = None
        self.draining = False

    def changed(self) -> None:
        """Wake the drain: a connection was added, or a call returned."""
        if self._changed is not None:
            self._changed.set()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` with the registrar in every WebSocket scope (other scopes pass through)."""
        calls = self._calls

        async def tracked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "websocket":
                await app(scope, receive, send)
                return
            call = _Call(self)
            scope["extensions"] = {**(scope.get("extensions") or {}), LIVE_EXTENSION: call}
            key = id(call)
            calls[key] = call
            try:
                await app(scope, receive, send)
            finally:
                del calls[key]
                if call.sockets:
                    self.changed()

        return tracked

    def open_count(self) -> int:
        """How many app calls hold an accepted wskit connection."""
        return sum(1 for call in self._calls.values() if call.sockets)

    async def drain(self, timeout: float) -> None:
        """Close every wskit connection with 1001; wait (at most ``timeout`` s) for the calls."""
        self.draining = True
        closing: set[int] = set()
        with anyio.move_on_after(timeout) as scope:
            async with anyio.create_task_group() as tg:
                while True:
                    self._changed = changed = anyio.Event()
                    waiting = False
                    for call in list(self._calls.values()):
                        for ws in call.sockets:
                            waiting = True
                            if id(ws) not in closing:
                                closing.add(id(ws))
                                tg.start_soon(_going_away, ws)
                    if not waiting:
                        break
                    await changed.wait()
        self._changed = None
        if scope.cancelled_caught:
            logger.warning(
                "%d WebSocket handlers still running after %.1f s", self.open_count(), timeout
            )


async def _going_away(ws: WebSocket) -> None:
    try:
        await ws.close(CloseCode.GOING_AWAY, SHUTDOWN_REASON)
    except Exception as exc:  # a broken transport must not stop the drain of the others
        logger.debug("close 1001 failed on %r: %r", ws.scope.get("path", ""), exc)


def find_shutdown(app: object) -> Any:
    """Find the async ``shutdown`` of ``app``, or of the app a middleware wraps.

    Middleware such as hypercorn's ``ProxyFixMiddleware`` or Starlette's keep the wrapped app
    in ``.app``; following that chain (a few links at most) keeps the drain working behind them.
    """
    for _ in range(8):
        shutdown = getattr(app, "shutdown", None)
        if shutdown is not None and inspect.iscoroutinefunction(shutdown):
            return shutdown
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


async def drain_app(app: object, timeout: float | None) -> None:
    """Await ``app.shutdown(timeout=...)`` (or ``app.shutdown()``) if the app has one.

    ``timeout=None`` calls ``shutdown()`` without a deadline, so the app's own default
    applies; the server still gives up after :data:`DRAIN_BACKSTOP` seconds.
    """
    shutdown = find_shutdown(app)
    if shutdown is None:
        return
    try:
        accepts_timeout = "timeout" in inspect.signature(shutdown).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        accepts_timeout = False
    pass_timeout = accepts_timeout and timeout is not None
    backstop = DRAIN_BACKSTOP if timeout is None else timeout + DRAIN_GRACE
    with anyio.move_on_after(backstop) as scope:
        try:
            await (shutdown(timeout=timeout) if pass_timeout else shutdown())
        except Exception:
            logger.exception("app.shutdown() failed; stopping without a complete drain")
    if scope.cancelled_caught and anyio.current_time() >= scope.deadline:
        logger.warning("app.shutdown() still running after %.1f s: stopping anyway", backstop)


async def drain(app: object, live: LiveConnections | None, timeout: float | None) -> None:
    """Drain ``app`` (its ``shutdown()``) and the connections ``live`` tracks, concurrently."""
    logger.info("draining connections")
    async with anyio.create_task_group() as tg:
        tg.start_soon(drain_app, app, timeout)
        if live is not None:
            tg.start_soon(live.drain, DEFAULT_DRAIN_TIMEOUT if timeout is None else timeout)


async def watch_signals(
    stop: anyio.Event,
    force: Callable[[], None],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Set ``stop`` on the first SIGINT/SIGTERM, call ``force`` on the next."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if stop.is_set():
                force()
            else:
                logger.info("%s received: draining", signal.Signals(signum).name)
                stop.set()


async def poll(is_set: Callable[[], bool], stop: anyio.Event) -> None:
    """Set ``stop`` once ``is_set()`` (a ``multiprocessing.Event``, which cannot be awaited)."""
    while not is_set():  # noqa: ASYNC110
        await anyio.sleep(0.1)
    stop.set()
