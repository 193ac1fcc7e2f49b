"""One serving process: load the app, pick the event loop, serve until the drain is done.

:func:`serve_in_loop` is the heart of every way wskit serves: it binds (or is handed) the
sockets, resolves the options against the app (:mod:`wskit.serving.limits`), wraps the app so
the drain finds its connections (:class:`~wskit.serving.drain.LiveConnections`), runs the chosen
server's adapter, and on SIGINT/SIGTERM (or ``stop``, or the supervisor's event) drains before
the adapter stops its server. ``wskit.serve`` runs it in a new event loop, worker processes
(:mod:`wskit.serving.workers`) and the reloader's child (:mod:`wskit.serving.reload`) too.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio
import anyio.abc

from .._extras import require
from .drain import Control, LiveConnections, drain, poll, watch_signals
from .limits import resolve_message_limit
from .options import ServerOptions
from .sockets import Listening, bind, close, listening

if TYPE_CHECKING:
    import socket

    from .._types import ASGIApp

__all__ = ["check_asgi_app", "configure_logging", "load_app", "run_loop", "serve_in_loop"]

logger = logging.getLogger("wskit.server")


class Adapter(Protocol):
    """What each server module (``wskit.serving.hypercorn`` ...) provides."""

    async def run(
        self,
        app: ASGIApp,
        options: ServerOptions,
        sockets: list[socket.socket],
        control: Control,
    ) -> None: ...


def adapter(options: ServerOptions) -> Adapter:
    """The adapter module of ``options.server``."""
    return cast("Adapter", importlib.import_module(f"wskit.serving.{options.server}"))


def configure_logging(level: str = "info") -> None:
    """Send the ``wskit`` loggers to stderr in hypercorn's format (for the CLI and workers).

    Idempotent. Libraries embedding :func:`wskit.serve` may skip this and configure logging
    themselves.
    """
    log = logging.getLogger("wskit")
    log.setLevel(level.upper())
    if not any(getattr(h, "_wskit", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                "[%Y-%m-%d %H:%M:%S %z]",
            )
        )
        handler._wskit = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.propagate = False


def load_app(path: str) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted) and return the object.

    Raises:
        ValueError: If ``path`` is not ``module:attr``.
        ImportError: If the module or the attribute does not exist.
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:attribute', got {path!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ImportError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def check_asgi_app(obj: object, name: str) -> None:
    """Refuse what cannot be an ASGI app: ``app(scope, receive, send)`` returning an awaitable.

    A class is refused (an ASGI 3 app is an instance or a function), and so is anything that
    cannot be called with three arguments.

    Raises:
        TypeError: One line saying what ``name`` is instead.
    """
    kind = type(obj).__name__
    if inspect.isclass(obj):
        raise TypeError(f"{name} is a class, not an ASGI app (an async app(scope, receive, send))")
    if not callable(obj):
        raise TypeError(f"{name} is a {kind}, not an ASGI app (an async callable)")
    try:
        inspect.signature(obj).bind(None, None, None)
    except TypeError:
        raise TypeError(
            f"{name} is a {kind} that does not take (scope, receive, send): not an ASGI app"
        ) from None
    except ValueError:  # pragma: no cover - no signature to inspect (a builtin): let it run
        return


async def serve_in_loop(
    app: ASGIApp,
    options: ServerOptions,
    *,
    sockets: list[socket.socket] | None = None,
    stop: anyio.Event | None = None,
    install_signal_handlers: bool = True,
    shutdown_poll: Callable[[], bool] | None = None,
    second_signal_forces: bool = True,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` in the running event loop until stopped, drained first.

    Args:
        app: The ASGI app.
        options: The serving options (``server`` picks the adapter).
        sockets: Listening sockets handed down by a supervisor; ``None`` binds them here
            (and removes a unix socket on exit).
        stop: Set it to drain and stop.
        install_signal_handlers: Drain on SIGINT/SIGTERM (main thread only).
        shutdown_poll: Drain once it returns true (a supervisor's ``multiprocessing.Event``).
        second_signal_forces: A second signal skips the rest of the drain (else it is
            ignored: the reloader's child, whose parent kills it after a deadline).
        task_status: Receives the :class:`Listening` value once the sockets listen.
    """
    server = adapter(options)
    options = resolve_message_limit(app, options)
    owned = sockets is None
    if sockets is None:
        sockets = bind(options)
        where = listening(sockets, tls=options.tls)
    else:
        where = Listening((), None)
    stop = stop if stop is not None else anyio.Event()
    live = LiveConnections()
    control = Control()
    drain_scope = anyio.CancelScope()

    def force() -> None:
        if second_signal_forces:
            logger.warning("second signal: skipping the rest of the drain")
            drain_scope.cancel()
            control.force()

    async def drain_then_stop() -> None:
        await stop.wait()
        with drain_scope:
            await drain(app, live, options.drain_timeout)
        control.drained.set()

    async def run_server(tg: anyio.abc.TaskGroup) -> None:
        await server.run(live.wrap(app), options, sockets, control)
        tg.cancel_scope.cancel()  # stop the signal watcher, the poller and the drain

    try:
        async with anyio.create_task_group() as tg:
            if install_signal_handlers and threading.current_thread() is threading.main_thread():
                await tg.start(watch_signals, stop, force)
            if shutdown_poll is not None:
                tg.start_soon(poll, shutdown_poll, stop)
            tg.start_soon(drain_then_stop)
            task_status.started(where)
            # The server runs in a child task: on Python 3.11 hypercorn's asyncio.TaskGroup
            # leaves the task's cancellation count raised, which would confuse this scope.
            tg.start_soon(run_server, tg)
    finally:
        close(sockets, options, unlink=owned)


def run_loop(options: ServerOptions, main: Callable[[], Awaitable[Any]]) -> None:
    """Run ``main`` in a new event loop of the kind ``options`` resolves to."""
    loop = options.loop
    if loop == "trio":
        require("trio", "worker='trio'")
        anyio.run(main, backend="trio")
    elif loop == "uvloop":
        require("uvloop", "worker='uvloop'")
        anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    else:
        anyio.run(main, backend="asyncio")
