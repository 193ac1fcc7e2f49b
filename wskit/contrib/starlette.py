"""Starlette integration: a route that hands its handler a ``wskit.WebSocket``.

:class:`WebSocketRoute` is a drop-in for ``starlette.routing.WebSocketRoute``: it fits
``Starlette(routes=[...])``, ``Router`` and ``Mount``, takes Starlette ``Middleware`` and a
``name`` for ``url_path_for``, and fills ``ws.path_params`` from the path template. The handler
gets a :class:`wskit.connection.WebSocket` (codec, limits and policies applied) and its outcome
follows the same rules as in :class:`wskit.App` (1000 on return, one 1011 and one log record on
an error, denial statuses before accept).

To drain on shutdown, share a :class:`wskit.app.Registry` between the routes and call its
``shutdown()`` from the Starlette lifespan::

    registry = Registry(max_connections=1000)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await registry.shutdown()

    app = Starlette(
        routes=[WebSocketRoute("/rooms/{room}", chat, registry=registry)],
        lifespan=lifespan,
    )

:class:`Endpoint` is the same thing without the route: a handler as a plain ASGI app, for any
router that dispatches to ASGI apps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from starlette import routing

from ..app import Registry, run_handler
from ..codecs import JSON, Codec
from ..connection import DEFAULT_LIMITS, Limits, WebSocket
from ..policies import Authenticate, Handshake, OriginPolicy, SubprotocolPolicy
from ..routing import Handler

if TYPE_CHECKING:
    from starlette.middleware import Middleware

    from .._types import Receive, Scope, Send

__all__ = ["Endpoint", "WebSocketRoute"]

_logger = logging.getLogger("wskit.app")


class Endpoint:
    """A wskit handler as an ASGI app for ``websocket`` scopes, policies included.

    Args:
        handler: ``async def handler(ws)`` or any callable taking a wskit ``WebSocket``.
        registry: Track connections here (cap and drain); ``None``: untracked.
        origins: Allowed origins (see :class:`~wskit.policies.OriginPolicy`), or ``None``.
        authenticate: ``async def authenticate(ws) -> identity | None``, or ``None``.
        subprotocols: Subprotocols spoken, or a mapping of subprotocol to codec, or ``None``.
        require_subprotocol: Refuse (400) clients offering none of ``subprotocols``.
        codec: The connection's codec unless a subprotocol selects another.
        limits: The connection's limits.
        logger: Where handler errors go (default: the registry's, else ``wskit.app``).
    """

    __slots__ = ("handler", "handshake", "logger", "registry")

    def __init__(
        self,
        handler: Handler,
        *,
        registry: Registry | None = None,
        origins: OriginPolicy | Sequence[str] | None = None,
        authenticate: Authenticate | None = None,
        subprotocols: SubprotocolPolicy | Sequence[str] | Mapping[str, Codec] | None = None,
        require_subprotocol: bool = False,
        codec: Codec = JSON,
        limits: Limits = DEFAULT_LIMITS,
        logger: logging.Logger | None = None,
    ) -> None:
        if not callable(handler):
            raise TypeError(f"a WebSocket handler must be callable, got {handler!r}")
        self.handler = handler
        self.registry = registry
        self.logger = logger or (registry.logger if registry is not None else _logger)
        self.handshake = Handshake(
            origins=origins,
            authenticate=authenticate,
            subprotocols=subprotocols,
            require_subprotocol=require_subprotocol,
            codec=codec,
            limits=limits,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``websocket`` scope."""
        handshake = self.handshake
        ws = WebSocket(scope, receive, send, codec=handshake.codec, limits=handshake.limits)
        if self.registry is not None:
            await self.registry.serve(ws, self.handler, handshake)
        else:
            await run_handler(ws, self.handler, handshake, self.logger)


class WebSocketRoute(routing.WebSocketRoute):
    """A Starlette WebSocket route whose handler receives a ``wskit.WebSocket``.

    Args:
        path: The path template, with Starlette's convertors (``/users/{id:int}``).
        endpoint: ``async def handler(ws)`` or any callable taking a wskit ``WebSocket``.
        name: The route name for ``url_path_for`` (default: the handler's name).
        middleware: Starlette ``Middleware`` wrapped around this route only.
        registry: Track connections here (cap and drain); ``None``: untracked.
        origins: Allowed origins, or ``None``.
        authenticate: The auth hook, or ``None``.
        subprotocols: Subprotocols spoken (or a mapping to codecs), or ``None``.
        require_subprotocol: Refuse (400) clients offering none of ``subprotocols``.
        codec: The connection's codec unless a subprotocol selects another.
        limits: The connection's limits.
    """

    def __init__(
        self,
        path: str,
        endpoint: Handler,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        registry: Registry | None = None,
        origins: OriginPolicy | Sequence[str] | None = None,
        authenticate: Authenticate | None = None,
        subprotocols: SubprotocolPolicy | Sequence[str] | Mapping[str, Codec] | None = None,
        require_subprotocol: bool = False,
        codec: Codec = JSON,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        asgi = Endpoint(
            endpoint,
            registry=registry,
            origins=origins,
            authenticate=authenticate,
            subprotocols=subprotocols,
            require_subprotocol=require_subprotocol,
            codec=codec,
            limits=limits,
        )
        # An Endpoint instance is not a function, so Starlette treats it as an ASGI app.
        super().__init__(path, asgi, name=name or routing.get_name(endpoint), middleware=middleware)
        self.endpoint = endpoint
        self.wskit_endpoint = asgi
