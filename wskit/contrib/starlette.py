"""Starlette integration: a route that hands its handler a ``wskit.WebSocket``.

:class:`WebSocketRoute` is a drop-in for ``starlette.routing.WebSocketRoute``: it fits
``Starlette(routes=[...])``, ``Router`` and ``Mount``, takes Starlette ``Middleware`` and a
``name`` for ``url_path_for``, and fills ``ws.path_params`` from the path template. It takes the
same options as a route of :class:`wskit.App` (:class:`~wskit.policies.RouteOptions`: origins,
authentication, subprotocols, codec, limits, rate limit, idle timeout, maximum lifespan), applied
by the same code. The handler gets a :class:`wskit.connection.WebSocket` and its outcome follows
the same rules as in :class:`wskit.App` (1000 on return, one 1011 and one log record on an
error, denial statuses before accept, 1008 when idle or over the rate limit, 1001 at the end of
its lifespan).

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Unpack

from starlette import routing

from ..app.endpoint import EndpointSpec, run_handler
from ..app.registry import Registry
from ..app.routing import Handler
from ..policies import Handshake, RouteOptions, check_options

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
        logger: Where handler errors go (default: the registry's, else ``wskit.app``).
        **options: The endpoint's :class:`~wskit.policies.RouteOptions` (``origins``,
            ``authenticate``, ``subprotocols``, ``require_subprotocol``, ``codec``, ``limits``,
            ``rate_limit``, ``idle_timeout``, ``max_lifespan``), as on a route of the App;
            an option not given takes its default (off).

    Raises:
        TypeError: If ``handler`` is not callable, or an option is not a ``RouteOptions`` key.
    """

    __slots__ = ("handler", "handshake", "logger", "registry", "spec")

    def __init__(
        self,
        handler: Handler,
        *,
        registry: Registry | None = None,
        logger: logging.Logger | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        if not callable(handler):
            raise TypeError(f"a WebSocket handler must be callable, got {handler!r}")
        check_options(options, type(self).__name__)
        self.handler = handler
        self.registry = registry
        self.logger = logger or (registry.logger if registry is not None else _logger)
        self.handshake = Handshake(**options)
        #: The handler, settings and guards, resolved once (the App's per-route record).
        self.spec = EndpointSpec(handler, self.handshake)

    @property
    def wskit_endpoint(self) -> Endpoint:
        """The endpoint itself, as a :class:`WebSocketRoute`'s (what a walk of the app finds)."""
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ``websocket`` scope."""
        ws, handler = self.spec.connect(scope, receive, send)
        if self.registry is not None:
            await self.registry.serve(ws, handler, self.handshake)
        else:
            await run_handler(ws, handler, self.handshake, self.logger)


class WebSocketRoute(routing.WebSocketRoute):
    """A Starlette WebSocket route whose handler receives a ``wskit.WebSocket``.

    Args:
        path: The path template, with Starlette's convertors (``/users/{id:int}``).
        endpoint: ``async def handler(ws)`` or any callable taking a wskit ``WebSocket``.
        name: The route name for ``url_path_for`` (default: the handler's name).
        middleware: Starlette ``Middleware`` wrapped around this route only.
        registry: Track connections here (cap and drain); ``None``: untracked.
        **options: The route's :class:`~wskit.policies.RouteOptions`, as on a route of the
            App; an option not given takes its default (off).

    Raises:
        TypeError: If an option is not a ``RouteOptions`` key.
    """

    def __init__(
        self,
        path: str,
        endpoint: Handler,
        *,
        name: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        registry: Registry | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        check_options(options, type(self).__name__)
        asgi = Endpoint(endpoint, registry=registry, **options)
        # An Endpoint instance is not a function, so Starlette treats it as an ASGI app.
        super().__init__(path, asgi, name=name or routing.get_name(endpoint), middleware=middleware)
        self.endpoint = endpoint
        self.wskit_endpoint = asgi
