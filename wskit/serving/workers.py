"""Several worker processes sharing one listening socket, each draining on shutdown.

The design of hypercorn's own runner (spawn context, a ``multiprocessing.Event`` as the
shutdown signal), for every server wskit offers. On Linux each worker listens on the port with
``SO_REUSEPORT`` (the parent holds it, bound but not listening, so ``port=0`` works), and the
kernel spreads connections over the workers; elsewhere, and for a unix socket, the parent's
socket is shared. One difference matters for WebSockets: each worker runs
:func:`wskit.serving.process.serve_in_loop`, so a shutdown drains the app (1001 to every
client) before its server stops.

The parent ignores SIGINT/SIGTERM while it spawns (the workers inherit the ignored
disposition until they install their own handlers), then turns either signal into the
shared shutdown event. A worker that dies while the server is running stops the others
and makes the exit status non-zero; restarting is left to the process manager.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

from .options import ServerOptions
from .process import configure_logging, load_app, run_loop, serve_in_loop
from .sockets import Listening, bind, can_reuse_port, close, listening

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

__all__ = ["run_workers"]

logger = logging.getLogger("wskit.server")

# Seconds a worker may take beyond its drain and graceful timeouts before it is terminated.
_EXIT_GRACE = 5.0
# Seconds the parent waits for the workers to listen before it reports the address anyway.
_READY_TIMEOUT = 60.0


def _worker_main(
    app_path: str,
    options: ServerOptions,
    sockets: list[socket.socket] | None,
    event: Event,
    ready: Event,
) -> None:
    """Entry point of one worker process (must be importable for the spawn context).

    ``sockets`` is the parent's shared socket, or ``None``: the worker listens on the port
    itself (``SO_REUSEPORT``) and sets ``ready`` once it does.
    """
    configure_logging(options.log_level)
    app = load_app(app_path)
    if sockets is None:
        sockets = bind(options, reuse_port=True)
    ready.set()

    async def main() -> None:
        await serve_in_loop(app, options, sockets=sockets, shutdown_poll=event.is_set)

    try:
        run_loop(options, main)
    except KeyboardInterrupt:  # pragma: no cover - a signal before the handlers are installed
        pass


def run_workers(
    app_path: str,
    options: ServerOptions,
    *,
    on_ready: Callable[[Listening], object] | None = None,
) -> int:
    """Serve ``app_path`` with ``options.workers`` processes until SIGINT/SIGTERM.

    Returns:
        0 when every worker exited cleanly, else the first non-zero exit code (or 1).
    """
    shared = not can_reuse_port(options)
    # Without a shared socket the parent only holds the port (bound, not listening): each
    # worker listens on it with SO_REUSEPORT and the kernel spreads connections evenly.
    sockets = bind(options, listen=shared, reuse_port=not shared)
    where = listening(sockets, tls=options.tls)
    if not shared and where.port is not None:
        options = options.replace(port=where.port)
    ctx = multiprocessing.get_context("spawn")
    event = ctx.Event()
    ready = [ctx.Event() for _ in range(options.workers)]
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in handled}
    processes: list[BaseProcess] = []
    stop_by: list[float] = []

    def on_signal(signum: int, frame: object) -> None:
        if not event.is_set():
            logger.info(
                "%s received: stopping %d workers", signal.Signals(signum).name, len(processes)
            )
            event.set()
            stop_by.append(time.monotonic() + options.drain_deadline + options.graceful_timeout)
        else:  # a second signal: stop waiting for the drain
            stop_by.append(time.monotonic())

    try:
        for index in range(options.workers):
            process = ctx.Process(
                target=_worker_main,
                args=(app_path, options, sockets if shared else None, event, ready[index]),
                name=f"wskit-worker-{index}",
            )
            process.start()
            processes.append(process)
        for signum in handled:
            signal.signal(signum, on_signal)
        _wait_ready(processes, ready)
        if on_ready is not None:
            on_ready(where)
        return _supervise(processes, event, stop_by, options)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        close(sockets, options)


def _wait_ready(processes: list[BaseProcess], ready: list[Event]) -> None:
    """Wait until every worker listens (or has died: the supervision loop reports it)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    for process, event in zip(processes, ready, strict=True):
        while not event.wait(0.1) and process.is_alive() and time.monotonic() < deadline:
            pass


def _supervise(
    processes: list[BaseProcess], event: Event, stop_by: list[float], options: ServerOptions
) -> int:
    exitcode = 0
    alive = list(processes)
    while alive:
        wait([process.sentinel for process in alive], timeout=0.2)
        for process in [p for p in alive if p.exitcode is not None]:
            alive.remove(process)
            process.join()
            if process.exitcode != 0 and exitcode == 0:
                exitcode = process.exitcode or 1
            if not event.is_set():
                logger.error("%s exited with %s: stopping", process.name, process.exitcode)
                event.set()
                stop_by.append(time.monotonic() + options.drain_deadline + options.graceful_timeout)
        if alive and stop_by and time.monotonic() > min(stop_by) + _EXIT_GRACE:
            for process in alive:
                logger.error("%s did not stop in time: terminating it", process.name)
                process.terminate()
                process.join(_EXIT_GRACE)
                if process.exitcode is None:  # pragma: no cover - ignores SIGTERM
                    process.kill()
                    process.join()
            exitcode = exitcode or 1
            alive.clear()
    return exitcode
