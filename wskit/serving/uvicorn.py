"""uvicorn, as wskit serves it: websockets' sans-I/O protocol, uvloop and httptools when installed.

uvicorn serves WebSockets through one of several protocol implementations; wskit always picks
``websockets-sansio`` (the ``websockets`` library's sans-I/O core driven by uvicorn's own
transport code), the cheapest per message. The adapter starts ``uvicorn.Server`` on wskit's
sockets inside wskit's event loop, with wskit's signal handling: on SIGINT/SIGTERM wskit drains
first (uvicorn alone would close every WebSocket with 1012), then lets uvicorn stop.

uvicorn passes the client's close code and reason to the application, refuses malformed
handshakes itself, stops reading while the application has a message it has not taken, and
drops what the client sends after the application closed: none of hypercorn's faults apply.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import anyio

from .._extras import require
from .drain import Control
from .options import ServerOptions

if TYPE_CHECKING:
    import socket

    from .._types import ASGIApp

__all__ = ["make_config", "run"]


def make_config(app: ASGIApp, options: ServerOptions) -> Any:
    """The ``uvicorn.Config`` of ``options`` (``max_message_size`` already resolved).

    Raises:
        TypeError: A ``server_config`` name that ``uvicorn.Config`` does not take.
    """
    uvicorn = require("uvicorn", "the uvicorn server")
    size = options.max_message_size
    settings: dict[str, Any] = {
        "ws": "websockets-sansio",
        "lifespan": "auto",
        "ws_max_size": size if isinstance(size, int) else sys.maxsize,
        "ws_ping_interval": options.ping_interval,
        "ws_per_message_deflate": options.per_message_deflate,
        "timeout_graceful_shutdown": options.graceful_timeout,
        "ssl_certfile": options.certfile,
        "ssl_keyfile": options.keyfile,
        "proxy_headers": options.proxy_headers,
        "forwarded_allow_ips": options.forwarded_allow_ips,
        "log_level": options.log_level,
        "access_log": options.access_log,
        "backlog": options.backlog,
        "server_header": False,
    }
    settings.update(options.server_config)
    return uvicorn.Config(app, **settings)


def _no_connection_lines(record: logging.LogRecord) -> bool:
    """Without ``access_log``, drop the INFO lines uvicorn logs for every WebSocket."""
    if record.levelno != logging.INFO:
        return True
    message = record.getMessage()
    return not (
        message in ("connection open", "connection closed")
        or '"WebSocket ' in message
        or message.startswith("connection rejected")
    )


async def run(
    app: ASGIApp, options: ServerOptions, sockets: list[socket.socket], control: Control
) -> None:
    """Serve ``app`` on ``sockets`` with uvicorn until ``control.drained`` is set."""
    import uvicorn

    class SignalFreeServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # wskit handles the signals: drain first, then stop uvicorn

    server = SignalFreeServer(make_config(app, options))  # (re)configures uvicorn's logging
    if not options.access_log:
        logging.getLogger("uvicorn.error").addFilter(_no_connection_lines)

    def force() -> None:
        server.force_exit = True

    control.on_force(force)

    async def stop_when_drained() -> None:
        await control.drained.wait()
        server.should_exit = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_when_drained)
        try:
            await server.serve(sockets=sockets)
        except SystemExit as exc:  # uvicorn's way of saying the lifespan startup failed
            raise RuntimeError(f"uvicorn stopped during startup (status {exc.code})") from None
        tg.cancel_scope.cancel()
