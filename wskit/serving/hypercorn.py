"""hypercorn, as wskit serves it: its config from the options, and its WebSocket faults corrected.

hypercorn is the default server: the only one with a trio worker, and HTTP/2. Its WebSocket
stream (``hypercorn.protocol.ws_stream.WSStream``, hypercorn 0.17-0.18) has faults that a wskit
app runs into; the adapter replaces the stream class hypercorn's HTTP/1.1 and HTTP/2 protocols
build with a subclass that corrects them, for the servers it starts (a hypercorn server started
by other code in the same process keeps hypercorn's behaviour):

* **Oversized messages hang.** Over ``websocket_max_message_size`` hypercorn sends its 1009
  without a reason and stops reading the frames already received, so the client's answering
  close frame is never seen and both ends wait. Here the rest of the message is dropped and
  reading goes on: the client gets 1009 "message too big" and the close completes.
* **Characters are not bytes.** hypercorn counts a text message in characters; here both kinds
  count in bytes, as wskit's ``Limits.max_message_size`` does.
* **A closed stream is kept forever.** After the application closed, hypercorn keeps putting the
  client's messages in the application's queue; once it is full (the application no longer
  reads) the stream, its task and its socket stay blocked. Here messages after the
  application's close are dropped (as uvicorn does), and a put still blocked when the
  application returns is abandoned.
* **The client's close code is lost.** hypercorn reports every close the client starts as 1006
  with no reason; here the application gets the client's code and reason.
* **Hostile handshakes.** A non-ASCII byte in a WebSocket header raised out of hypercorn (a
  traceback at ERROR per attempt, no response) and any ``Sec-WebSocket-Key`` was accepted;
  here both get HTTP 400 and a DEBUG line.
* **permessage-deflate** is negotiated only when ``per_message_deflate`` is on (hypercorn
  always offers it).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import sys
import time
from io import BytesIO, StringIO
from typing import TYPE_CHECKING, Any, Final, cast

import anyio

from .._extras import require
from ..status import CloseCode, reason_for
from .drain import Control
from .handshakes import valid_handshake
from .options import ServerOptions

if TYPE_CHECKING:
    import socket

    from hypercorn.config import Config

    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["TOO_BIG_REASON", "make_config", "run"]

logger = logging.getLogger("wskit.server")

#: The reason of the 1009 close sent for a message over the limit (wskit's own wording).
TOO_BIG_REASON: Final = reason_for(CloseCode.MESSAGE_TOO_BIG)
_installed: list[bool] = []


def make_config(options: ServerOptions) -> Config:
    """The hypercorn ``Config`` of ``options`` (``max_message_size`` already resolved).

    Raises:
        TypeError: A ``server_config`` name that is not a hypercorn ``Config`` attribute.
    """
    require("server", "the hypercorn server")
    config = _config_class()()
    config.bind = [f"unix:{options.uds}"] if options.uds else [f"{options.host}:{options.port}"]
    config.workers = options.workers
    config.worker_class = options.loop
    config.backlog = options.backlog
    size = options.max_message_size
    # hypercorn needs an int; ``None`` means "no server-side limit" (wskit's own limit remains).
    config.websocket_max_message_size = size if isinstance(size, int) else sys.maxsize
    config.websocket_ping_interval = options.ping_interval
    config.graceful_timeout = options.graceful_timeout
    config.accesslog = "-" if options.access_log else None
    config.loglevel = options.log_level.upper()
    config.certfile = options.certfile
    config.keyfile = options.keyfile
    config.wskit_deflate = options.per_message_deflate  # type: ignore[attr-defined]
    for name, value in options.server_config.items():
        if name.startswith("_") or not hasattr(config, name):
            raise TypeError(f"unknown hypercorn option {name!r}")
        setattr(config, name, value)
    return config


async def run(
    app: ASGIApp, options: ServerOptions, sockets: list[socket.socket], control: Control
) -> None:
    """Serve ``app`` on ``sockets`` with hypercorn until ``control.drained`` is set."""
    from hypercorn.config import Sockets
    from hypercorn.utils import wrap_app

    config = make_config(options)
    _install()
    if options.proxy_headers:
        app = _trusted_proxies(app, options.forwarded_allow_ips)
    secure = list(sockets) if options.tls else []
    plain = [] if options.tls else list(sockets)
    hsockets = Sockets(secure_sockets=secure, insecure_sockets=plain, quic_sockets=[])
    control.on_force(lambda: setattr(config, "graceful_timeout", 0.0))
    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    if _current_library() == "trio":
        from hypercorn.trio.run import worker_serve as trio_serve

        from ._hypercorn_trio import install as install_trio

        install_trio()  # a close racing a write must not end the worker (see the module)

        await trio_serve(wrapped, config, sockets=hsockets, shutdown_trigger=control.drained.wait)
    else:
        from hypercorn.asyncio.run import worker_serve as asyncio_serve

        await asyncio_serve(
            wrapped, config, sockets=hsockets, shutdown_trigger=control.drained.wait
        )


def _current_library() -> str:
    try:
        import sniffio
    except ImportError:  # pragma: no cover - anyio depends on sniffio
        return "asyncio"
    return sniffio.current_async_library()


def _trusted_proxies(app: ASGIApp, allowed: str) -> ASGIApp:
    """hypercorn's ``ProxyFixMiddleware`` (one trusted hop), for peers in ``allowed`` only.

    hypercorn's middleware trusts by hop count; uvicorn and granian trust by the peer's
    address. Applying it only to peers in ``forwarded_allow_ips`` gives the three the same
    meaning (for one proxy in front; uvicorn and granian also walk a chain of trusted ones).
    """
    from hypercorn.middleware import ProxyFixMiddleware

    async def websocket_scheme(scope: Scope, receive: Receive, send: Send) -> None:
        # ProxyFixMiddleware copies X-Forwarded-Proto as it is ("https"); ASGI says "wss".
        if scope["type"] == "websocket" and scope.get("scheme") in ("http", "https"):
            scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        await app(scope, receive, send)

    fixed: ASGIApp = ProxyFixMiddleware(websocket_scheme, mode="legacy", trusted_hops=1)  # type: ignore[arg-type,assignment]
    trusted = _Trusted(allowed)

    async def proxied(scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "lifespan" and client and client[0] in trusted:
            await fixed(scope, receive, send)
        else:
            await app(scope, receive, send)

    return proxied


class _Trusted:
    """``--forwarded-allow-ips``: addresses, networks, ``*`` (anything), or unix socket peers."""

    def __init__(self, allowed: str) -> None:
        items = [item.strip() for item in allowed.split(",") if item.strip()]
        self.everything = "*" in items
        self.networks = []
        self.names = set()
        for item in items:
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.names.add(item)

    def __contains__(self, host: str) -> bool:
        if self.everything or host in self.names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


# --- the corrected stream -----------------------------------------------------------------


@functools.cache
def _config_class() -> type[Config]:
    """hypercorn's ``Config`` with a marker: streams of these servers are corrected."""
    from hypercorn.config import Config

    class WskitConfig(Config):
        wskit_deflate = False

    return WskitConfig


def _install() -> None:
    """Make hypercorn's HTTP/1.1 and HTTP/2 protocols build the corrected stream (once)."""
    if _installed:
        return
    import hypercorn.protocol.h2
    import hypercorn.protocol.h11

    stream = _stream_class()
    for module in (hypercorn.protocol.h11, hypercorn.protocol.h2):
        module.__dict__["WSStream"] = stream
    _installed.append(True)


def _stream_class() -> type[Any]:
    from hypercorn.protocol.events import Body, Data, Request, StreamClosed
    from hypercorn.protocol.ws_stream import (
        ASGIWebsocketState,
        FrameTooLargeError,
        WebsocketBuffer,
        WSStream,
    )
    from wsproto.connection import ConnectionState
    from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage

    class ByteBuffer(WebsocketBuffer):
        """hypercorn's message buffer, counting UTF-8 bytes of text instead of characters."""

        def extend(self, event: Message[Any]) -> None:
            data = event.data
            if self.value is None:
                self.value = StringIO() if isinstance(event, TextMessage) else BytesIO()
            self.value.write(data)
            if isinstance(data, str) and not data.isascii():
                self.length += len(data.encode())
            else:
                self.length += len(data)
            if self.length > self.max_length:
                raise FrameTooLargeError()

    class Stream(WSStream):
        """hypercorn's WebSocket stream with the faults listed in the module docs corrected."""

        def __init__(self, app: Any, config: Any, *args: Any) -> None:
            super().__init__(app, config, *args)
            self.wskit = wskit = isinstance(config, _config_class())
            if wskit:
                self.buffer = ByteBuffer(config.websocket_max_message_size)
            self.client_close: tuple[int, str] | None = None
            self.app_closed = False  # the application sent websocket.close: drop data
            self.app_done = False  # the application returned: drop everything
            self.dropping = False  # the rest of an oversized message
            self.blocked: anyio.CancelScope | None = None
            #: The application queue's non-blocking put and the error it raises when full.
            self.nowait: Any = None
            self.full: type[Exception] = Exception

        async def handle(self, event: Any) -> None:
            if not self.wskit:
                await super().handle(event)
            elif isinstance(event, Request):
                if not valid_handshake(event.headers):
                    logger.debug("refusing a WebSocket handshake with invalid headers (400)")
                    self.start_time = time.time()
                    path, _, query = event.raw_path.partition(b"?")
                    self.scope = {  # enough for the access log
                        "type": "websocket",
                        "http_version": event.http_version,
                        "scheme": self.scheme,
                        "path": path.decode("latin-1"),
                        "raw_path": path,
                        "query_string": query,
                        "root_path": self.config.root_path,
                        "headers": [],
                        "client": self.client,
                        "server": self.server,
                    }  # type: ignore[typeddict-item]
                    await self._send_error_response(400)
                    self.closed = True
                    await self.send(StreamClosed(stream_id=self.stream_id))  # close the socket
                    return
                await super().handle(event)
                if self.closed:  # refused by hypercorn (400, 404): close the socket too
                    await self.send(StreamClosed(stream_id=self.stream_id))
                    return
                if not getattr(self.config, "wskit_deflate", False):
                    self.handshake.extensions = None
                owner: Any = getattr(self.app_put, "__self__", None)
                if hasattr(owner, "put_nowait"):  # asyncio.Queue
                    import asyncio

                    self.nowait, self.full = owner.put_nowait, asyncio.QueueFull
                elif hasattr(owner, "send_nowait"):  # trio.MemorySendChannel
                    import trio

                    self.nowait, self.full = owner.send_nowait, trio.WouldBlock
            elif isinstance(event, StreamClosed):
                if self.closed:
                    return
                self.closed = True
                if self.app_put is not None:
                    code, reason = self.client_close or (1006, "")
                    await self.put({"type": "websocket.disconnect", "code": code, "reason": reason})
            elif isinstance(event, Data | Body) and not self.closed and not self.handshake.accepted:
                # Data before the accept (a client that did not wait for the 101, RFC 6455 4.1):
                # 400, as hypercorn answers, but closed first (an accept racing the answer is
                # ignored) and with the application and the socket let go too.
                self.closed = True
                await self._send_error_response(400)
                await self.put({"type": "websocket.disconnect", "code": 1006, "reason": ""})
                await self.send(StreamClosed(stream_id=self.stream_id))
            else:
                await super().handle(event)

        async def app_send(self, message: Any) -> None:
            if self.wskit:
                if message is None:
                    self.app_done = True
                    if self.blocked is not None:
                        self.blocked.cancel()
                elif message["type"] == "websocket.close":
                    self.app_closed = True
            await super().app_send(message)

        async def put(self, message: dict[str, Any]) -> None:
            """Hand ``message`` to the application, unless it returned meanwhile."""
            if self.app_done:
                return
            nowait = self.nowait
            if nowait is not None:
                try:
                    nowait(message)
                    return
                except self.full:
                    pass
            with anyio.CancelScope() as scope:  # the queue is full: wait, unless the app returns
                self.blocked = scope
                try:
                    await cast("Any", self.app_put)(message)
                finally:
                    self.blocked = None

        async def _handle_events(self) -> None:
            if not self.wskit:
                await super()._handle_events()
                return
            for event in self.connection.events():
                if isinstance(event, Message):
                    if self.dropping or self.app_closed:
                        self.dropping = self.dropping and not event.message_finished
                        continue
                    try:
                        self.buffer.extend(event)
                    except FrameTooLargeError:
                        self.buffer.clear()
                        self.dropping = not event.message_finished
                        self.app_closed = True
                        await self._send_wsproto_event(
                            CloseConnection(code=1009, reason=TOO_BIG_REASON)
                        )
                        continue
                    if event.message_finished:
                        await self.put(self.buffer.to_message())
                        self.buffer.clear()
                elif isinstance(event, Ping):
                    await self._send_wsproto_event(event.response())
                elif isinstance(event, CloseConnection):
                    if self.client_close is None:
                        self.client_close = (event.code, event.reason or "")
                    if self.connection.state == ConnectionState.REMOTE_CLOSING:
                        await self._send_wsproto_event(event.response())
                    await self.send(StreamClosed(stream_id=self.stream_id))

    _ = (ASGIWebsocketState, BytesMessage)  # the names hypercorn's own stream uses
    return Stream
