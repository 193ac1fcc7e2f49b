"""Serving wskit apps: one behaviour on hypercorn, uvicorn and granian.

``wskit run module:app`` (:mod:`wskit.serving.cli`) and :func:`serve` / :func:`serve_async`
(:mod:`wskit.serving.entry`) serve any ASGI app on the server ``server=`` names, each through its
adapter module (:mod:`~wskit.serving.hypercorn`, :mod:`~wskit.serving.uvicorn`,
:mod:`~wskit.serving.granian`), with the same behaviour everywhere: the app's limits are the
server's (:mod:`~wskit.serving.limits`), a closed connection is drained until the server lets
it go, the client's close code reaches the handler, and SIGINT/SIGTERM close every wskit
connection with 1001 before the server stops (:mod:`~wskit.serving.drain`). The options are
defined once, in :class:`ServerOptions` (:mod:`~wskit.serving.options`). One process
(:mod:`~wskit.serving.process`), several sharing a socket (:mod:`~wskit.serving.workers`) or a
reloading child (:mod:`~wskit.serving.reload`) all run the same serving loop.
"""

from __future__ import annotations

from .entry import serve as serve
from .entry import serve_async as serve_async
from .entry import serve_workers as serve_workers
from .options import ServeKwargs as ServeKwargs
from .options import ServeOptions as ServeOptions
from .options import ServerName as ServerName
from .options import ServerOptions as ServerOptions
from .options import Worker as Worker
from .process import configure_logging as configure_logging
from .process import load_app as load_app
from .process_local import check_multiprocess_safety as check_multiprocess_safety
from .process_local import find_process_local as find_process_local
from .sockets import Listening as Listening

__all__ = [
    "Listening",
    "ServeKwargs",
    "ServeOptions",
    "ServerName",
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
