"""Path templates compiled into matchers, and the route table an :class:`~wskit.app.App` walks.

A template such as ``/rooms/{room}`` or ``/users/{id:int}`` is compiled once, at registration,
by Starlette's own :func:`starlette.routing.compile_path`, so the convertors (``str``, ``int``,
``float``, ``uuid``, ``path``, and any registered with
:func:`starlette.convertors.register_url_convertor`) behave exactly as they do in a Starlette
app. Two details differ on purpose:

* an unknown convertor name is a ``ValueError`` at registration (Starlette uses ``assert``,
  which ``python -O`` strips);
* matching uses :meth:`re.Pattern.fullmatch`, so ``/admin\\n`` never matches ``/admin`` (a
  ``$`` anchor matches before a trailing newline).

Routes without parameters are found with one dictionary lookup; the others are tried in
registration order.

Routes and mounts reverse as Starlette's do: ``url_path_for(name, /, **path_params)`` returns a
:class:`starlette.datastructures.URLPath` (a ``str``) and raises Starlette's
:class:`~starlette.routing.NoMatchFound` for a name (or parameters) it does not know, so a
Starlette app that mounts a wskit App, or that a wskit App serves as ``http_app``, builds URLs
across both (``request.url_for("chat", room="x")``, ``ws.url_for("about")``).

The path matched is the ASGI ``scope["path"]`` with ``scope["root_path"]`` removed (the part a
parent app consumed when it mounted this one), never a URL rebuilt from the ``Host`` header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, Unpack

from starlette.convertors import CONVERTOR_TYPES, Convertor
from starlette.datastructures import URLPath
from starlette.routing import PARAM_REGEX, NoMatchFound, compile_path, replace_params

from wskit.policies import RouteOptions, check_options

if TYPE_CHECKING:
    from re import Pattern

    from wskit._types import ASGIApp, Scope
    from wskit.connection import WebSocket

__all__ = ["Handler", "Mount", "Route", "RouteTable", "route_path"]

#: A WebSocket handler: any callable taking a wskit ``WebSocket`` and returning an awaitable.
#: Plain ``async def handler(ws)`` functions, and objects with ``async def __call__(self, ws)``
#: (views, operation routers), both fit.
Handler: TypeAlias = Callable[["WebSocket"], Awaitable[None]]

_NO_PARAMS: Final[Mapping[str, Any]] = {}


def route_path(scope: Scope) -> str:
    """Return the path a router should match: ``scope["path"]`` minus ``scope["root_path"]``.

    Follows Starlette's rule (ASGI spec, "HTTP Connection Scope": ``path`` includes
    ``root_path`` when a parent app mounted this one), and never fails on odd values: a
    ``root_path`` that is not a prefix of the path is ignored.
    """
    path = scope.get("path")
    if not isinstance(path, str):
        return ""
    root = scope.get("root_path")
    if not root or not isinstance(root, str) or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest or rest[0] == "/":
        return rest
    return path


def _compile(path: str) -> tuple[Pattern[str], str, dict[str, Convertor[Any]]]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"a route path must be a string starting with '/', got {path!r}")
    for match in PARAM_REGEX.finditer(path):
        kind = (match.group(2) or ":str")[1:]
        if kind not in CONVERTOR_TYPES:
            known = ", ".join(sorted(CONVERTOR_TYPES))
            raise ValueError(f"unknown path convertor {kind!r} in {path!r} (known: {known})")
    return compile_path(path)


class Route:
    """One WebSocket path template bound to a handler.

    Args:
        path: The template, starting with ``/``: ``/rooms/{room}``, ``/users/{id:int}``,
            ``/files/{rest:path}``, ``/items/{key:uuid}``, ``/scores/{value:float}``.
        handler: ``async def handler(ws)`` or any callable taking a wskit ``WebSocket``.
        name: A name for the route (default: the handler's ``__name__``).
        **options: Overrides of the app's :class:`~wskit.policies.RouteOptions` (``origins``,
            ``authenticate``, ``subprotocols``, ``require_subprotocol``, ``codec``, ``limits``,
            ``rate_limit``, ``idle_timeout``, ``max_lifespan``) for this route. An option not
            given keeps the app's setting; ``None`` turns a policy off on this route.

    Attributes:
        path: The template as given.
        handler: The handler.
        name: The route's name.
        param_names: The parameter names, in template order.
        convertors: Parameter name to Starlette ``Convertor``.
        path_format: The template with convertor suffixes removed (``/users/{id}``).
        options: The overrides given, resolved against the app's settings at registration.

    Raises:
        TypeError: If an option is not a :class:`~wskit.policies.RouteOptions` key.
        ValueError: If the path does not start with ``/``, names an unknown convertor, or
            repeats a parameter name.
    """

    __slots__ = (
        "convertors",
        "handler",
        "name",
        "options",
        "param_names",
        "path",
        "path_format",
        "regex",
    )

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        **options: Unpack[RouteOptions],
    ) -> None:
        if not callable(handler):
            raise TypeError(f"a route handler must be callable, got {handler!r}")
        check_options(options, "Route")
        self.regex, self.path_format, self.convertors = _compile(path)
        self.path = path
        self.handler = handler
        self.name: str = name if name is not None else _handler_name(handler)
        self.param_names: tuple[str, ...] = tuple(self.convertors)
        self.options: RouteOptions = options

    def match(self, path: str) -> dict[str, Any] | None:
        """Return the converted path parameters if ``path`` fits the template, else ``None``."""
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        convertors = self.convertors
        try:
            return {key: convertors[key].convert(value) for key, value in found.groupdict().items()}
        except ValueError:
            # int() refuses over 4300 digits; a custom convertor may refuse too. Not a match.
            return None

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Build the path of this route if it is called ``name`` (the inverse of :meth:`match`).

        Starlette's signature and behaviour, so Starlette's ``Mount`` and ``url_for`` walk wskit
        routes like their own.

        Returns:
            The path, with ``protocol="websocket"`` (``url_for`` makes a ``ws://`` URL of it).

        Raises:
            NoMatchFound: The route has another name, or other parameters than ``path_params``.
        """
        if name != self.name or set(path_params) != set(self.param_names):
            raise NoMatchFound(name, path_params)
        path, _ = replace_params(self.path_format, self.convertors, dict(path_params))
        return URLPath(path=path, protocol="websocket")

    def __repr__(self) -> str:
        return f"Route(path={self.path!r}, name={self.name!r})"


class Mount:
    """An ASGI app served under a path prefix, for HTTP and WebSocket scopes alike.

    The child app receives the scope with ``root_path`` extended by the prefix (``path`` keeps
    the full path, as the ASGI spec and Starlette's ``Mount`` do). Connections into a mounted
    app are the child's business: the parent's policies and registry do not apply. The parent
    App's drain reaches a mounted wskit App (it drains the child's registry too), never another
    kind of ASGI app.

    Args:
        path: The prefix, starting with ``/`` and without a trailing ``/`` (``"/legacy"``).
        app: Any ASGI application.
        name: A name for reversal: the child's route ``chat`` is then ``"<name>:chat"``, as with
            Starlette's ``Mount``. Without one, the child's names are used as they are.
    """

    __slots__ = ("app", "name", "path")

    def __init__(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"a mount path must start with '/' and not end with it: {path!r}")
        self.path = path
        self.app = app
        self.name = name

    @property
    def routes(self) -> Sequence[Any]:
        """The child app's routes, if it has any (for Starlette's and AsyncAPI's walks)."""
        routes = getattr(self.app, "routes", None)
        return routes if isinstance(routes, Sequence) else ()

    def matches(self, path: str) -> bool:
        """Tell whether ``path`` is the prefix itself or lies below it."""
        prefix = self.path
        return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/")

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """Build the path of the child's route ``name``, under this prefix.

        Raises:
            NoMatchFound: The child has no such route, or cannot build paths.
        """
        if self.name is not None:
            if not name.startswith(self.name + ":"):
                raise NoMatchFound(name, path_params)
            name = name[len(self.name) + 1 :]
        reverse = getattr(self.app, "url_path_for", None)
        if reverse is None:
            raise NoMatchFound(name, path_params)
        url = reverse(name, **path_params)
        return URLPath(path=self.path + str(url), protocol=getattr(url, "protocol", ""))

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, app={self.app!r})"


class RouteTable:
    """Routes and mounts, indexed for matching: static paths in a dict, the rest in order.

    When two routes could match a path, the one registered first wins, as in Starlette; a
    static route registered after a parametrised one that also matches is never reached.
    """

    __slots__ = ("_dynamic", "_static", "mounts", "routes")

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.mounts: list[Mount] = []
        self._static: dict[str, Route] = {}
        self._dynamic: list[Route] = []

    def add(self, route: Route) -> None:
        """Register ``route`` after those already present."""
        self.routes.append(route)
        if route.param_names:
            self._dynamic.append(route)
        elif route.path not in self._static and not any(
            r.match(route.path) is not None for r in self._dynamic
        ):
            self._static[route.path] = route

    def mount(self, mount: Mount) -> None:
        """Register ``mount``; mounts are tried after every route."""
        self.mounts.append(mount)

    def match(self, path: str) -> tuple[Route, Mapping[str, Any]] | None:
        """Find the route for ``path`` and its converted parameters, or ``None``."""
        route = self._static.get(path)
        if route is not None:
            return route, _NO_PARAMS
        for route in self._dynamic:
            params = route.match(path)
            if params is not None:
                return route, params
        return None

    def match_mount(self, path: str) -> Mount | None:
        """Find the first mount ``path`` lies under, or ``None``."""
        for mount in self.mounts:
            if mount.matches(path):
                return mount
        return None


def _handler_name(handler: object) -> str:
    name = getattr(handler, "__name__", None)
    return name if isinstance(name, str) else type(handler).__name__
