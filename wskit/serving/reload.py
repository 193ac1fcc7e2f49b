"""``--reload``: serve in a child process and start a new one when a ``.py`` file changes.

For development. The parent binds the listening socket once (so the port, ``port=0``'s too,
stays the same across restarts) and watches the app's directory with ``watchfiles`` (the
``reload`` extra), the file watcher uvicorn and granian use. On a change it sends the child
SIGINT: the child drains (every client gets 1001, browsers reconnect to the new code) and a new
child serves the same socket. In the child every signal means "drain", never "skip the
drain": a Ctrl+C in the terminal reaches the child and then the parent's stop too.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import TYPE_CHECKING, Any

from .._extras import require
from .options import ServerOptions
from .process import configure_logging, load_app, run_loop, serve_in_loop
from .sockets import Listening, bind, close, listening

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

__all__ = ["run_reloading"]

logger = logging.getLogger("wskit.server")


def _child_main(
    app_path: str, options: ServerOptions, sockets: list[socket.socket], app_dir: str
) -> None:
    """One generation of the server (must be importable for the spawn context)."""
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    configure_logging(options.log_level)
    app = load_app(app_path)

    async def main() -> None:
        await serve_in_loop(app, options, sockets=sockets, second_signal_forces=False)

    try:
        run_loop(options, main)
    except KeyboardInterrupt:  # pragma: no cover - a signal before the handlers are installed
        pass


def _changed(changes: set[tuple[Any, str]]) -> None:
    names = sorted({path for _, path in changes})
    logger.info("reloading: %s changed", ", ".join(names[:3]) + (" ..." if len(names) > 3 else ""))


def run_reloading(
    app_path: str,
    options: ServerOptions,
    *,
    app_dir: str,
    on_ready: Callable[[Listening], object] | None = None,
) -> int:
    """Serve ``app_path`` in a child process, restarted when a ``.py`` file under ``app_dir``
    changes, until SIGINT/SIGTERM; return the exit status.

    Raises:
        MissingExtra: watchfiles is not installed (the ``reload`` extra).
    """
    watchfiles = require("reload", "wskit run --reload")
    sockets = bind(options)
    try:
        if on_ready is not None:
            on_ready(listening(sockets, tls=options.tls))
        logger.info("watching %s for changes", app_dir)
        watchfiles.run_process(
            app_dir,
            target=_child_main,
            args=(app_path, options, sockets, app_dir),
            target_type="function",
            watch_filter=watchfiles.PythonFilter(),
            callback=_changed,
            sigint_timeout=math.ceil(options.drain_deadline + options.graceful_timeout),
            sigkill_timeout=5,
        )
    finally:
        close(sockets, options)
    return 0
