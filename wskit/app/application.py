"""``App``: a raw ASGI app that routes WebSocket paths to handlers, with policies and a drain.

An :class:`App` is what an ASGI server (or a parent framework) calls. For a ``websocket`` scope
it finds the route, builds one :class:`~wskit.connection.WebSocket` with the route's codec and
limits, runs the handshake policies (:mod:`wskit.policies`), calls the handler and settles the
outcome. For ``http`` it hands the request to ``http_app`` or answers 426 Upgrade Required; for
``lifespan`` it runs the startup and shutdown hooks and forwards the lifespan to ``http_app``
(see :mod:`wskit._lifespan`), and on shutdown drains every connection, those of the wskit Apps
it mounts included, before anything else shuts down.

Everything is decided once per connection: after the handler is called, the App adds nothing
to any message; the handler talks to the server through the ``WebSocket`` alone.

How a handler's outcome becomes a close (the same table as ``async with ws:``):

==============================================  ===============================================
Outcome                                          What the client sees
==============================================  ===============================================
returns, connection still open                   close 1000
returns without accepting                        close before accept (HTTP 403)
raises ``WebSocketDisconnect`` (client left)     nothing more; not logged as an error
raises a wskit error with a client-side code     that code and its reason; one WARNING logged
raises anything else after accept                close 1011 "internal error"; one ERROR + traceback
raises before accept (``Denied`` aside)          denial 500 (or close before accept: HTTP 403)
raises ``Denied`` before accept                  denial with its status, body and headers
is cancelled (server stopping, drain deadline)   close 1001, never 1011
over its ``rate_limit``                          close 1008 (or an error reply, by policy)
waits ``idle_timeout`` s for the client          close 1008 "idle timeout"
lives ``max_lifespan`` s                         close 1001 "connection lifespan ended"
==============================================  ===============================================

An exception is logged once, on the App's logger (``wskit.app``): ``async with ws:`` inside the
handler closes 1011 and re-raises a server error without logging it, and handles (logs once,
does not re-raise) a client fault. See :mod:`wskit._outcome`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, Unpack

import anyio
from starlette.datastructures import URLPath
from starlette.routing import NoMatchFound

from wskit.connection import WebSocket
from wskit.exceptions import Denied
from wskit.policies import Handshake, OverloadPolicy, RouteOptions, check_options

from ._lifespan import LifespanFailure, SubLifespan
from .endpoint import EndpointSpec, refuse
from .registry import Registry
from .routing import Handler, Mount, Route, RouteTable, route_path
from .server_limit import check_server_limit

if TYPE_CHECKING:
    from wskit._types import ASGIApp, Receive, Scope, Send

__all__ = ["App", "Lifespan", "Registry"]

_default_logger: Final = logging.getLogger("wskit.app")

H = TypeVar("H", bound=Handler)
#: ``lifespan(app)`` returns an async context manager, as in Starlette; a mapping it yields is
#: merged into the ASGI lifespan ``state`` (so handlers see it on ``ws.state``).
Lifespan: TypeAlias = Callable[["App"], AbstractAsyncContextManager[Mapping[str, Any] | None]]
Hook: TypeAlias = Callable[[], object]


class App:
    """A raw ASGI app: WebSocket routing, handshake policies, lifespan and a graceful drain.

    Args:
        routes: Routes to register first, in order (``Route(path, handler, ...)``).
        on_startup: Callables (sync or async) run at lifespan startup, in order.
        on_shutdown: Callables run at lifespan shutdown, after the drain, in order.
        lifespan: ``lifespan(app)`` returning an async context manager entered at startup
            (after ``on_startup``) and exited at shutdown (after the drain and the
            ``http_app``'s shutdown), as in Starlette.
        http_app: The ASGI app that answers plain HTTP requests; by default they get 426
            Upgrade Required (or 404 for a path no route matches). Its lifespan runs inside
            the App's: startup after the App's own, shutdown after the drain and before the
            App's own. An app that does not speak lifespan (it raises on the ``lifespan``
            scope without sending anything, as Django's does) is fine.
        max_connections: Cap on concurrent connections (``None``: no cap).
        on_overload: Over the cap, ``"deny"`` (503) or ``"close"`` (accept, then 1013).
        drain_timeout: Seconds :meth:`shutdown` waits for handlers before cancelling them.
        logger: The logger for handler errors and the drain (default: ``wskit.app``).
        **options: The :class:`~wskit.policies.RouteOptions` of every route: ``origins``,
            ``authenticate``, ``subprotocols``, ``require_subprotocol``, ``codec``, ``limits``,
            ``rate_limit``, ``idle_timeout`` and ``max_lifespan``. All are off (or default)
            unless given.

    Every option can be overridden per route with the same keyword in :meth:`websocket`,
    :meth:`add_route` or :class:`~wskit.routing.Route` (``None`` turns a policy off for that
    route). ``rate_limit``, ``idle_timeout`` and ``max_lifespan`` cost nothing on routes where
    they are off: the handler gets the server's ``receive`` as is.

    Raises:
        TypeError: If an option is not a :class:`~wskit.policies.RouteOptions` key.
    """

    def __init__(
        self,
        routes: Sequence[Route] | None = None,
        *,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        lifespan: Lifespan | None = None,
        http_app: ASGIApp | None = None,
        max_connections: int | None = None,
        on_overload: OverloadPolicy = "deny",
        drain_timeout: float = 10.0,
        logger: logging.Logger | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        check_options(options, "App")
        self.logger = logger or _default_logger
        self.registry = Registry(
            max_connections=max_connections,
            on_overload=on_overload,
            drain_timeout=drain_timeout,
            logger=self.logger,
        )
        self.handshake = Handshake(**options)
        self.http_app = http_app
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self.lifespan = lifespan
        self._table = RouteTable()
        self._endpoints: dict[int, EndpointSpec] = {}
        for route in routes or ():
            self._add(route)

    # -- registration ---------------------------------------------------------------------------

    def _add(self, route: Route) -> None:
        handshake = self.handshake.override(route.options)
        self._endpoints[id(route)] = EndpointSpec(route.handler, handshake)
        self._table.add(route)

    def add_route(
        self,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Route WebSocket connections on ``path`` to ``handler``.

        Args:
            path: The path template (see :class:`~wskit.routing.Route`).
            handler: ``async def handler(ws)`` or any callable taking a wskit ``WebSocket``.
            name: A name for the route (default: the handler's ``__name__``).
            **options: Overrides of the app's :class:`~wskit.policies.RouteOptions` for this
                route (``None`` turns a policy off here).

        Returns:
            The registered :class:`~wskit.routing.Route`.
        """
        route = Route(path, handler, name=name, **options)
        self._add(route)
        return route

    def websocket(
        self, path: str, *, name: str | None = None, **options: Unpack[RouteOptions]
    ) -> Callable[[H], H]:
        """Decorator form of :meth:`add_route`: ``@app.websocket("/rooms/{room}")``."""
        check_options(options, "websocket")

        def decorator(handler: H) -> H:
            self.add_route(path, handler, name=name, **options)
            return handler

        return decorator

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        """Serve ``app`` (HTTP and WebSocket) under the prefix ``path``, after the routes.

        A mounted wskit App keeps its own routes, policies and registry, and :meth:`shutdown`
        drains it with this App. Another kind of ASGI app is left to drain itself. Lifespan
        events are not forwarded to mounted apps (Starlette's ``Mount`` does not either).
        With a ``name``, the child's routes reverse as ``"<name>:<route>"``.
        """
        self._table.mount(Mount(path, app, name=name))

    @property
    def routes(self) -> Sequence[Route | Mount]:
        """The registered routes, then the mounts, in the order the App matches them.

        Starlette's ``Mount`` walks this list to build URLs, and the AsyncAPI builder to find
        the handlers.
        """
        return (*self._table.routes, *self._table.mounts)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Build the path of the route called ``name``, as Starlette's ``url_path_for`` does.

        The App's routes come first, then its mounts, then its ``http_app`` (a Starlette or
        FastAPI app's routes), so handlers on either side build each other's URLs
        (``ws.url_for("about")``, ``request.url_for("chat", room="x")``).

        Raises:
            NoMatchFound: No route has that name with those parameters (Starlette's error).
        """
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        reverse = getattr(self.http_app, "url_path_for", None)
        if reverse is not None:
            url: URLPath = reverse(name, **path_params)
            return url
        raise NoMatchFound(name, path_params)

    # -- registry -------------------------------------------------------------------------------

    @property
    def connections(self) -> Collection[WebSocket]:
        """The live connections: a read-only view (``len()``, iteration, ``in``)."""
        return self.registry.connections

    async def shutdown(self, timeout: float | None = None) -> None:
        """Drain: refuse new handshakes, close live connections with 1001, await handlers.

        Drains the wskit Apps mounted with :meth:`mount` too (and theirs), concurrently, each
        with its own registry; a mounted ASGI app of another kind is left alone. See
        :meth:`Registry.shutdown`. Idempotent; lifespan shutdown calls it.

        Args:
            timeout: Seconds for the whole drain (default: each App's ``drain_timeout``).
        """
        registries = self._registries()
        if len(registries) == 1:
            await self.registry.shutdown(timeout)
            return
        async with anyio.create_task_group() as tg:
            for registry in registries:
                tg.start_soon(registry.shutdown, timeout)

    def _registries(self) -> list[Registry]:
        """This App's registry, then those of the wskit Apps mounted below it (each App once)."""
        apps = [self]
        for app in apps:  # grows while walked: breadth first, and a cycle ends
            for mount in app._table.mounts:
                child = mount.app
                if isinstance(child, App) and child not in apps:
                    apps.append(child)
        return [app.registry for app in apps]

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            raise ValueError(f"wskit.App cannot handle an ASGI scope of type {kind!r}")

    def _mounted(self, scope: Scope, path: str) -> tuple[ASGIApp, Scope] | None:
        mount = self._table.match_mount(path) if self._table.mounts else None
        if mount is None:
            return None
        child = dict(scope)
        root = str(scope.get("root_path") or "")
        child["root_path"] = root + mount.path
        # As Starlette's Mount does: url_for from inside the child builds URLs from the top, so
        # it asks the topmost router and starts from the root path above every mount.
        child.setdefault("router", self)
        child.setdefault("app_root_path", root)
        return mount.app, child

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        found = self._table.match(path)
        if found is None:
            mounted = self._mounted(scope, path)
            if mounted is not None:
                await mounted[0](mounted[1], receive, send)
                return
            await refuse(WebSocket(scope, receive, send), Denied(404, b"not found"), self.logger)
            return
        route, params = found
        child = dict(scope)
        child["app"] = self  # as Starlette does: handlers (and operation injection) find the App
        outer = scope.get("path_params")
        child["path_params"] = {**outer, **params} if isinstance(outer, Mapping) else dict(params)
        endpoint = self._endpoints[id(route)]
        ws, handler = endpoint.connect(child, receive, send)
        await self.registry.serve(ws, handler, endpoint.handshake)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        mounted = self._mounted(scope, path)
        if mounted is not None:
            await mounted[0](mounted[1], receive, send)
            return
        if self.http_app is not None:
            if "router" not in scope:
                # Starlette's url_for asks scope["router"]: make it this App, which knows the
                # WebSocket routes and hands other names to the http_app.
                scope = {**scope, "router": self}
            await self.http_app(scope, receive, send)
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if self._table.match(path) is not None:
            status, body = 426, b"Upgrade Required: this endpoint speaks WebSocket only.\n"
            headers += [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")]
        else:
            status, body = 404, b"Not Found\n"
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        check_server_limit(self)  # a server of the user's own, whose limit is below ours
        if self.http_app is None:
            error = await self._run_lifespan(scope, receive, send, None)
        else:
            http = SubLifespan(self.http_app, scope, self.logger)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(http.run)
                    error = await self._run_lifespan(scope, receive, send, http)
                    tg.cancel_scope.cancel()  # an http_app still running after its shutdown
            finally:
                http.close()
        if error is not None:
            # Raised out of the task group, so the server sees the error itself, not a group.
            raise error

    async def _run_lifespan(
        self, scope: Scope, receive: Receive, send: Send, http: SubLifespan | None
    ) -> Exception | None:
        """Run both lifespans and report to the server; return the error to raise, if any."""
        # Startup: the App's hooks and lifespan, then the http_app's. Shutdown in reverse, after
        # the drain, so WebSocket clients get their 1001 while both are still up. A failure in
        # the http_app's shutdown does not skip the App's own.
        started = False
        errors: list[Exception] = []
        try:
            for registry in self._registries():
                registry.reset()
            async with AsyncExitStack() as stack:
                for hook in self.on_startup:
                    await _call(hook)
                if self.lifespan is not None:
                    state = await stack.enter_async_context(self.lifespan(self))
                    if state:
                        if "state" not in scope:
                            raise RuntimeError("the ASGI server does not support lifespan state")
                        scope["state"].update(state)
                if http is not None:
                    await http.startup()
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
                await self.shutdown()
                if http is not None:
                    try:
                        await http.shutdown()
                    except LifespanFailure as exc:
                        errors.append(exc)
            for hook in self.on_shutdown:
                await _call(hook)
        except Exception as exc:
            errors.append(exc)
        if errors:
            return await self._lifespan_failed("shutdown" if started else "startup", errors, send)
        await send({"type": "lifespan.shutdown.complete"})
        return None

    async def _lifespan_failed(self, phase: str, errors: list[Exception], send: Send) -> Exception:
        """Log each error and report them in one ``lifespan.<phase>.failed``; return the error."""
        for error in errors:
            self.logger.error("lifespan %s failed", phase, exc_info=error)
        message = "\n".join(
            error.message if isinstance(error, LifespanFailure) else repr(error) for error in errors
        )
        await send({"type": f"lifespan.{phase}.failed", "message": message})
        if len(errors) == 1:
            return errors[0]
        return ExceptionGroup(f"lifespan {phase} failed", errors)


async def _call(hook: Hook) -> None:
    result = hook()
    if inspect.isawaitable(result):
        await result
