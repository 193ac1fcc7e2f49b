"""Serve an ASGI app on hypercorn with wskit's graceful drain.

Hypercorn stops a server by closing its listeners and then waiting ``graceful_timeout``
for open connections; WebSocket connections are long-lived, so in practice they are
cancelled and clients see a dropped TCP connection (1006) or a 1011. wskit adds the
missing step: on SIGINT/SIGTERM (or when ``stop`` is set) it first awaits
``app.shutdown(timeout=...)`` on any app that has one (duck-typed, as ``wskit.App`` does),
which closes every live WebSocket with 1001 and waits for the handlers, and only then
lets hypercorn stop. A second signal skips what is left of the drain.

``serve()`` is the blocking entry point (one process, or ``workers > 1`` processes through
:mod:`wskit._supervisor`); ``serve_async()`` runs inside an existing anyio event loop and
reports the bound addresses through ``task_status`` (so ``port=0`` works in tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack, cast

import anyio
import anyio.abc

from wskit._extras import require
from wskit._process_local import check_multiprocess_safety, find_process_local

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hypercorn.config import Config, Sockets

    from wskit._types import ASGIApp

__all__ = [
    "Listening",
    "ServeKwargs",
    "ServeOptions",
    "ServerOptions",
    "Worker",
    "check_multiprocess_safety",
    "configure_logging",
    "find_process_local",
    "load_app",
    "serve",
    "serve_async",
    "serve_workers",
]

logger = logging.getLogger("wskit.server")

Worker = Literal["asyncio", "uvloop", "trio"]
WORKERS: tuple[Worker, ...] = ("asyncio", "uvloop", "trio")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
#: Seconds granted past ``drain_timeout`` to an app whose ``shutdown()`` overruns it
#: (``wskit.App`` itself may take up to 1 s more to cancel handlers at its deadline).
DRAIN_GRACE = 2.0
#: The bound on an app's drain when no ``drain_timeout`` is given (the app's own default
#: applies, ``wskit.App``'s is 10 s); a second signal skips the drain at any time.
DRAIN_BACKSTOP = 60.0


@dataclass(frozen=True)
class Listening:
    """Where a server listens, reported once its sockets accept connections.

    Attributes:
        urls: One URL per socket: ``http://HOST:PORT`` or ``unix:PATH``.
        port: The TCP port actually bound (useful with ``port=0``), or ``None`` for a
            unix socket.
    """

    urls: tuple[str, ...]
    port: int | None

    @property
    def url(self) -> str:
        """The first URL."""
        return self.urls[0]


@dataclass(frozen=True)
class ServerOptions:
    """Every serving option, as one picklable value (worker processes receive it).

    The fields are the keywords of :func:`serve`: ``host``, ``port``, ``worker``, ``workers``
    and the :class:`ServeOptions` (documented there), with the same defaults.

    Raises:
        ValueError: If an option is out of range.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    worker: Worker = "asyncio"
    workers: int = 1
    max_message_size: int | None = 2**20
    ping_interval: float | None = None
    graceful_timeout: float = 10.0
    drain_timeout: float | None = None
    access_log: bool = False
    log_level: str = "info"
    backlog: int = 2048
    hypercorn: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.worker not in WORKERS:
            raise ValueError(f"worker must be one of {', '.join(WORKERS)}, not {self.worker!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, not {self.port}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        for name, value in (
            ("max_message_size", self.max_message_size),
            ("ping_interval", self.ping_interval),
            ("drain_timeout", self.drain_timeout),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, not {value}")
        if self.graceful_timeout < 0:
            raise ValueError(f"graceful_timeout must be >= 0, not {self.graceful_timeout}")

    def serve_options(self) -> ServeOptions:
        """The :class:`ServeOptions` among these, for ``serve_async(app, host, port, **...)``."""
        names = ServeOptions.__optional_keys__
        return cast("ServeOptions", {name: getattr(self, name) for name in names})

    @property
    def drain_deadline(self) -> float:
        """The longest the drain may take: ``drain_timeout`` plus a grace, or the backstop."""
        if self.drain_timeout is None:
            return DRAIN_BACKSTOP
        return self.drain_timeout + DRAIN_GRACE


class ServeOptions(TypedDict, total=False):
    """The serving options :func:`serve` and :func:`serve_async` share, as keyword arguments.

    Attributes:
        uds: Bind this unix socket path instead of ``host``/``port``.
        max_message_size: hypercorn's ``websocket_max_message_size`` (bytes for binary,
            characters for text); hypercorn closes with 1009. ``None`` disables it. Default
            1 MiB.
        ping_interval: hypercorn's ``websocket_ping_interval`` in seconds (pings only:
            hypercorn does not time out a peer that never answers). Default ``None``.
        graceful_timeout: Seconds hypercorn waits for connections after the drain. Default 10.
        drain_timeout: Seconds the app's drain may take, passed as ``shutdown(timeout=...)``;
            ``None`` (the default) leaves the app's own default (``wskit.App``: its
            ``drain_timeout``).
        access_log: Log one line per request/handshake to stdout. Default ``False``.
        log_level: hypercorn's log level. Default ``"info"``.
        backlog: The listen backlog. Default 2048.
        hypercorn: Any other ``hypercorn.config.Config`` attribute, by name
            (``{"keep_alive_timeout": 5}``); an unknown name is a ``TypeError``. For
            compatibility, any other keyword argument of :func:`serve` or :func:`serve_async`
            is taken as one too.
    """

    uds: str | None
    max_message_size: int | None
    ping_interval: float | None
    graceful_timeout: float
    drain_timeout: float | None
    access_log: bool
    log_level: str
    backlog: int
    hypercorn: Mapping[str, object]


class ServeKwargs(ServeOptions, total=False):
    """Every keyword argument of :func:`serve` besides ``app`` and ``on_ready`` (for CLI commands).

    Attributes:
        host: Interface to bind.
        port: TCP port; ``0`` picks a free one.
        worker: ``"asyncio"``, ``"uvloop"`` (needs uvloop) or ``"trio"``.
        workers: Number of worker processes sharing the listening socket.
    """

    host: str
    port: int
    worker: Worker
    workers: int


def _server_options(options: Mapping[str, Any], **given: Any) -> ServerOptions:
    """Build the :class:`ServerOptions` of a :func:`serve` or :func:`serve_async` call.

    A keyword that is not a :class:`ServeOptions` key goes to hypercorn, as before there was a
    ``hypercorn`` option.
    """
    hypercorn: dict[str, Any] = {}
    for name, value in options.items():
        if name == "hypercorn":
            hypercorn.update(value)
        elif name in ServeOptions.__optional_keys__:
            given[name] = value
        else:
            hypercorn[name] = value
    return ServerOptions(**given, hypercorn=hypercorn)


def configure_logging(level: str = "info") -> None:
    """Send the ``wskit`` loggers to stderr in hypercorn's format (for the CLI and workers).

    Idempotent. Libraries embedding :func:`serve` may skip this and configure logging
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


def _hypercorn_config(options: ServerOptions) -> Config:
    require("server", "serving")
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"unix:{options.uds}"] if options.uds else [f"{options.host}:{options.port}"]
    config.workers = options.workers
    config.worker_class = options.worker
    config.backlog = options.backlog
    # hypercorn needs an int; ``None`` means "no server-side limit" (wskit's own limit remains).
    config.websocket_max_message_size = options.max_message_size or sys.maxsize
    config.websocket_ping_interval = options.ping_interval
    config.graceful_timeout = options.graceful_timeout
    config.accesslog = "-" if options.access_log else None
    config.loglevel = options.log_level.upper()
    for name, value in options.hypercorn.items():
        if name.startswith("_") or not hasattr(Config, name):
            raise TypeError(f"unknown hypercorn option {name!r}")
        setattr(config, name, value)
    return config


def _listen(config: Config) -> tuple[Sockets, Listening]:
    sockets = config.create_sockets()
    urls: list[str] = []
    port: int | None = None
    for sock in sockets.insecure_sockets + sockets.secure_sockets:
        sock.listen(config.backlog)
        name = sock.getsockname()
        if isinstance(name, str | bytes):
            urls.append(f"unix:{os.fsdecode(name)}")
            continue
        host = f"[{name[0]}]" if ":" in name[0] else name[0]
        scheme = "https" if sock in sockets.secure_sockets else "http"
        urls.append(f"{scheme}://{host}:{name[1]}")
        port = name[1] if port is None else port
    return sockets, Listening(tuple(urls), port)


def _close_sockets(sockets: Sockets, options: ServerOptions, *, unlink: bool = True) -> None:
    for sock in sockets.insecure_sockets + sockets.secure_sockets + sockets.quic_sockets:
        sock.close()
    if options.uds and unlink:
        try:
            os.unlink(options.uds)
        except FileNotFoundError:
            pass


def _find_shutdown(app: object) -> Any:
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


async def _drain(app: object, timeout: float | None) -> None:
    """Await ``app.shutdown(timeout=...)`` (or ``app.shutdown()``) if the app has one.

    ``timeout=None`` calls ``shutdown()`` without a deadline, so the app's own default
    applies; the server still gives up after :data:`DRAIN_BACKSTOP` seconds.
    """
    shutdown = _find_shutdown(app)
    if shutdown is None:
        return
    try:
        accepts_timeout = "timeout" in inspect.signature(shutdown).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        accepts_timeout = False
    pass_timeout = accepts_timeout and timeout is not None
    backstop = DRAIN_BACKSTOP if timeout is None else timeout + DRAIN_GRACE
    logger.info("draining connections")
    with anyio.move_on_after(backstop) as scope:
        try:
            await (shutdown(timeout=timeout) if pass_timeout else shutdown())
        except Exception:
            logger.exception("app.shutdown() failed; stopping without a complete drain")
    if scope.cancelled_caught and anyio.current_time() >= scope.deadline:
        logger.warning("app.shutdown() still running after %.1f s: stopping anyway", backstop)


def _current_library() -> str:
    try:
        import sniffio
    except ImportError:  # pragma: no cover - trio depends on sniffio, so this is asyncio
        return "asyncio"
    return sniffio.current_async_library()


async def serve_async(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    stop: anyio.Event | None = None,
    install_signal_handlers: bool = True,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ServeOptions],
) -> None:
    """Serve ``app`` on hypercorn inside the running anyio event loop (asyncio or trio).

    Use ``await task_group.start(serve_async, app, "127.0.0.1", 0, ...)`` to get a
    :class:`Listening` (with the bound port) once the sockets accept connections;
    connections made before the app's lifespan startup completes wait for it.
    Setting ``stop`` (or SIGINT/SIGTERM when ``install_signal_handlers`` is true and this
    runs in the main thread) drains the app and stops the server; this coroutine then
    returns.

    Args:
        app: Any ASGI app; if it has an async ``shutdown(timeout=...)``, it is awaited
            before hypercorn stops (``wskit.App`` closes every connection with 1001).
        host: Interface to bind.
        port: TCP port; ``0`` picks a free one (see ``task_status``).
        stop: Set it to stop the server gracefully.
        install_signal_handlers: Drain on SIGINT/SIGTERM (main thread only).
        task_status: Receives the :class:`Listening` value.
        **options: The :class:`ServeOptions` (``uds``, ``max_message_size``,
            ``ping_interval``, ``graceful_timeout``, ``drain_timeout``, ``access_log``,
            ``log_level``, ``backlog``, ``hypercorn``).

    Raises:
        ValueError: On an invalid option.
    """
    await _serve_with_options(
        app,
        _server_options(options, host=host, port=port),
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        task_status=task_status,
    )


async def _serve_with_options(
    app: ASGIApp,
    options: ServerOptions,
    *,
    stop: anyio.Event | None = None,
    install_signal_handlers: bool = True,
    sockets: Sockets | None = None,
    shutdown_poll: Callable[[], bool] | None = None,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
) -> None:
    from hypercorn.utils import wrap_app

    config = _hypercorn_config(options)
    owned = sockets is None  # a worker process shares its parent's sockets
    if sockets is None:
        sockets, listening = _listen(config)
    else:
        listening = Listening((), None)
    stop = stop if stop is not None else anyio.Event()
    drained = anyio.Event()
    drain_scope = anyio.CancelScope()

    async def shutdown_trigger() -> None:
        await stop.wait()
        with drain_scope:
            await _drain(app, options.drain_timeout)
        drained.set()

    def force() -> None:
        logger.warning("second signal: skipping the rest of the drain")
        drain_scope.cancel()
        config.graceful_timeout = 0.0

    try:
        async with anyio.create_task_group() as tg:
            if install_signal_handlers and threading.current_thread() is threading.main_thread():
                await tg.start(_watch_signals, stop, force)
            if shutdown_poll is not None:
                tg.start_soon(_poll, shutdown_poll, stop)
            wrapped = wrap_app(cast("Any", app), config.wsgi_max_body_size, "asgi")
            task_status.started(listening)
            # hypercorn runs in a child task: on Python 3.11 its asyncio.TaskGroup leaves the
            # task's cancellation count raised, which would confuse this task group's scope.
            tg.start_soon(_run_hypercorn, wrapped, config, sockets, shutdown_trigger, tg)
    finally:
        _close_sockets(sockets, options, unlink=owned)


async def _run_hypercorn(
    app: Any,
    config: Config,
    sockets: Sockets,
    shutdown_trigger: Callable[[], Awaitable[None]],
    tg: anyio.abc.TaskGroup,
) -> None:
    if _current_library() == "trio":
        from hypercorn.trio.run import worker_serve as trio_serve

        from wskit._hypercorn_trio import install

        install()  # a close racing a write must not end the worker (see the module)
        await trio_serve(app, config, sockets=sockets, shutdown_trigger=shutdown_trigger)
    else:
        from hypercorn.asyncio.run import worker_serve as asyncio_serve

        await asyncio_serve(app, config, sockets=sockets, shutdown_trigger=shutdown_trigger)
    tg.cancel_scope.cancel()  # stop the signal watcher and the poller


async def _watch_signals(
    stop: anyio.Event,
    force: Callable[[], None],
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            if stop.is_set():
                force()
            else:
                logger.info("%s received: draining", signal.Signals(signum).name)
                stop.set()


async def _poll(is_set: Callable[[], bool], stop: anyio.Event) -> None:
    # A multiprocessing.Event cannot be awaited; 10 checks a second is cheap and prompt.
    while not is_set():  # noqa: ASYNC110
        await anyio.sleep(0.1)
    stop.set()


def _run_loop(options: ServerOptions, main: Callable[[], Any]) -> None:
    """Run ``main`` on the event loop that ``options.worker`` names."""
    if options.worker == "trio":
        anyio.run(main, backend="trio")
    elif options.worker == "uvloop":
        require("uvloop", "worker='uvloop'")
        anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
    else:
        anyio.run(main, backend="asyncio")


def serve(
    app: ASGIApp | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    worker: Worker = "asyncio",
    workers: int = 1,
    on_ready: Callable[[Listening], object] | None = None,
    **options: Unpack[ServeOptions],
) -> None:
    """Serve ``app`` on hypercorn until SIGINT/SIGTERM, then drain and return.

    Args:
        app: An ASGI app, or its import string ``"module:attr"`` (required when
            ``workers > 1``: each worker process imports the app itself).
        host: Interface to bind.
        port: TCP port; ``0`` picks a free one (``on_ready`` receives it).
        worker: ``"asyncio"``, ``"uvloop"`` (needs uvloop) or ``"trio"``.
        workers: Number of worker processes sharing the listening socket. With more than
            one, objects marked ``is_process_local`` (the in-memory pub/sub backend) are
            reported by :func:`check_multiprocess_safety`.
        on_ready: Called with a :class:`Listening` once the sockets accept connections.
        **options: The :class:`ServeOptions` (``uds``, ``max_message_size``,
            ``ping_interval``, ``graceful_timeout``, ``drain_timeout``, ``access_log``,
            ``log_level``, ``backlog``, ``hypercorn``), as for :func:`serve_async`.

    Raises:
        ValueError: On an invalid option, or ``workers > 1`` with an app object.
        MissingExtra: If ``worker="uvloop"`` and uvloop is not installed.
    """
    resolved = _server_options(options, host=host, port=port, worker=worker, workers=workers)
    if workers > 1:
        if not isinstance(app, str):
            raise ValueError("workers > 1 needs the app as an import string 'module:attr'")
        exitcode = serve_workers(app, resolved, on_ready=on_ready)
        if exitcode:
            raise RuntimeError(f"a worker process exited with status {exitcode}")
        return
    asgi_app: ASGIApp = load_app(app) if isinstance(app, str) else app

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            listening = await tg.start(_serve_one, asgi_app, resolved)
            if on_ready is not None:
                on_ready(listening)

    _run_loop(resolved, main)


def serve_workers(
    app_path: str,
    options: ServerOptions,
    *,
    on_ready: Callable[[Listening], object] | None = None,
) -> int:
    """Serve ``"module:attr"`` with ``options.workers`` processes; return the exit status.

    Imports the app once in this process to run :func:`check_multiprocess_safety`.
    """
    from wskit._supervisor import run_workers

    check_multiprocess_safety(load_app(app_path), module=app_path.partition(":")[0])
    return run_workers(app_path, options, on_ready=on_ready)


async def _serve_one(
    app: ASGIApp,
    options: ServerOptions,
    *,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
) -> None:
    await _serve_with_options(app, options, task_status=task_status)
