"""granian, as wskit serves it: its ASGI interface, embedded in wskit's asyncio event loop.

granian's HTTP and WebSocket protocol code is Rust; the application runs on the Python event
loop of the process. wskit runs granian's *embedded* server (``granian.server.embed``, marked
experimental by granian, whose warning about it wskit leaves out of the log) on wskit's own
listening socket, so the drain, ``--workers`` and ``--reload`` work as with the other servers.

What the adapter corrects:

* **A pending receive never returns after the application's close.** granian reports nothing
  once the application sent ``websocket.close`` (not even the client's answering close), so a
  handler waiting in ``receive`` (the drain closes connections from another task) waited until
  cancelled, and the server's shutdown then logged a traceback per connection. Here a receive
  after the application's close, or one pending when it closes, returns
  ``websocket.disconnect`` with the application's own code, as uvicorn does.
* **Ports are strings** in the scope's ``client`` and ``server``; here they are ints (ASGI).

What it cannot: granian has no message size setting (it accepts frames up to 16 MiB and
messages up to 64 MiB, and drops the connection without a close code beyond), no ping interval
and no permessage-deflate; the documentation's server page lists these.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .._extras import require
from .drain import Control
from .handshakes import valid_handshake
from .options import ServerOptions

if TYPE_CHECKING:
    import socket

    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["run"]

logger = logging.getLogger("wskit.server")


class _QuietEmbedded(logging.Filter):
    """Drop granian's one warning that its embedded server is experimental."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mbedded server is experimental" not in record.getMessage()


class _Connection:
    """One WebSocket scope's ``receive`` and ``send``, with granian's close corrected."""

    __slots__ = ("_ended", "_pending", "_receive", "_send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._pending: Any = None
        self._ended: Message | None = None

    async def receive(self) -> Message:
        ended = self._ended
        if ended is not None:
            return ended
        waiter = self._pending = self._receive()
        try:
            return await waiter
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._ended is None or (task is not None and task.cancelling()):
                raise
            return self._ended  # our own cancel of granian's waiter, after the close
        finally:
            self._pending = None

    async def send(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "websocket.close" and self._ended is None:
            code = message.get("code", 1000)
            self._ended = {
                "type": "websocket.disconnect",
                "code": code,
                "reason": message.get("reason") or "",
            }
            pending = self._pending
            if pending is not None and hasattr(pending, "cancel"):
                pending.cancel()


def _corrected(app: ASGIApp) -> ASGIApp:
    async def corrected(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await app(scope, receive, send)
            return
        for key in ("client", "server"):
            address = scope.get(key)
            if address and isinstance(address[1], str):
                scope[key] = (address[0], int(address[1]) if address[1].isdigit() else 0)
        if kind == "websocket":
            if not valid_handshake(scope["headers"]):
                logger.debug("refusing a WebSocket handshake with invalid headers (400)")
                await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
                await send({"type": "websocket.http.response.body", "body": b""})
                return
            connection = _Connection(receive, send)
            await app(scope, connection.receive, connection.send)
        else:
            await app(scope, receive, send)

    return corrected


async def run(
    app: ASGIApp, options: ServerOptions, sockets: list[socket.socket], control: Control
) -> None:
    """Serve ``app`` on ``sockets`` with granian until ``control.drained`` is set."""
    require("granian", "the granian server")
    from granian._granian import SocketHolder
    from granian.constants import Interfaces
    from granian.server.embed import Server as Embedded

    for asked, what in (
        (options.ping_interval is not None, "ping_interval (no pings are sent)"),
        (options.per_message_deflate, "per_message_deflate (never negotiated)"),
    ):
        if asked:
            logger.warning("granian does not support %s", what)
    if options.proxy_headers:
        from granian.utils.proxies import wrap_asgi_with_proxy_headers

        app = wrap_asgi_with_proxy_headers(app, options.forwarded_allow_ips)
    sock = sockets[0]
    is_unix = bool(options.uds)

    class OnWskitSocket(Embedded):
        def _init_shared_socket(self) -> None:  # wskit's socket, already listening
            # granian closes the descriptor it is given: give it a copy of wskit's.
            fd = os.dup(sock.fileno())
            holder: Any = SocketHolder(fd, is_unix, options.backlog)  # type: ignore[call-arg]
            self._shd = holder
            self._sfd = holder.get_fd()
            self._ssp = None

    settings: dict[str, Any] = {
        "address": options.host,
        "port": options.port,
        "interface": Interfaces.ASGI,
        "websockets": True,
        "backlog": options.backlog,
        "log_level": options.log_level,
        "log_access": options.access_log,
        "ssl_cert": Path(options.certfile) if options.certfile else None,
        "ssl_key": Path(options.keyfile) if options.keyfile else None,
    }
    settings.update(options.server_config)
    server = OnWskitSocket(_corrected(app), **settings)  # (re)configures granian's logging
    logging.getLogger("_granian").addFilter(_QuietEmbedded())
    stop: Any = server.stop
    control.on_force(stop)

    async def stop_when_drained() -> None:
        await control.drained.wait()
        stop()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stop_when_drained)
        await server.serve()
        tg.cancel_scope.cancel()
