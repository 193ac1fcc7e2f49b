"""Path templates, the route table, and routing through a real App."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from starlette.routing import NoMatchFound

from tests.app.conftest import echo, rewrite_scope
from wskit._types import Receive, Scope, Send
from wskit.app import App
from wskit.app.routing import Mount, Route, RouteTable, route_path
from wskit.connection import WebSocket
from wskit.contrib.starlette import Endpoint, WebSocketRoute
from wskit.testing import TestClient, WebSocketDenied


async def handler(ws: WebSocket) -> None:
    await ws.accept()


class ViewLike:
    async def __call__(self, ws: WebSocket) -> None:
        await ws.accept()


# -- compiling and matching ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "params"),
    [
        ("/rooms/{room}", "/rooms/lobby", {"room": "lobby"}),
        ("/rooms/{room:str}", "/rooms/caf\u00e9", {"room": "caf\u00e9"}),
        ("/users/{id:int}", "/users/42", {"id": 42}),
        ("/scores/{value:float}", "/scores/1.5", {"value": 1.5}),
        ("/scores/{value:float}", "/scores/2", {"value": 2.0}),
        (
            "/items/{key:uuid}",
            "/items/12345678-1234-5678-1234-567812345678",
            {"key": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        ),
        ("/files/{rest:path}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("/files/{rest:path}", "/files/", {"rest": ""}),
        ("/a/{x}/b/{y:int}", "/a/1/b/2", {"x": "1", "y": 2}),
        ("/static", "/static", {}),
        ("/dots.and+plus", "/dots.and+plus", {}),
    ],
)
def test_match(template: str, path: str, params: dict[str, Any]) -> None:
    route = Route(template, handler)
    assert route.match(path) == params


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/rooms/{room}", "/rooms/a/b"),
        ("/rooms/{room}", "/rooms/"),
        ("/users/{id:int}", "/users/x"),
        ("/users/{id:int}", "/users/-1"),
        ("/scores/{value:float}", "/scores/1e5"),
        ("/items/{key:uuid}", "/items/not-a-uuid"),
        ("/admin", "/admin\n"),  # a "$" anchor alone would match before the newline
        ("/admin", "/admin/"),
        ("/admin", "/ADMIN"),
        ("/dots.and+plus", "/dotsXand+plus"),
        ("/users/{id:int}", "/users/" + "9" * 5000),  # int() refuses: not a match, no error
    ],
)
def test_no_match(template: str, path: str) -> None:
    assert Route(template, handler).match(path) is None


def test_route_attributes() -> None:
    route = Route("/u/{id:int}/{name}", handler)
    assert route.path == "/u/{id:int}/{name}"
    assert route.handler is handler
    assert route.name == "handler"
    assert route.param_names == ("id", "name")
    assert set(route.convertors) == {"id", "name"}
    assert route.path_format == "/u/{id}/{name}"
    assert route.options == {}
    assert Route("/o", handler, origins=None).options == {"origins": None}
    assert repr(route) == "Route(path='/u/{id:int}/{name}', name='handler')"
    assert Route("/v", ViewLike()).name == "ViewLike"
    assert Route("/n", handler, name="custom").name == "custom"


def test_url_path_for() -> None:
    route = Route("/u/{id:int}/{name}", handler)
    path = route.url_path_for("handler", id=3, name="bob")
    assert (path, path.protocol) == ("/u/3/bob", "websocket")
    with pytest.raises(NoMatchFound):
        route.url_path_for("handler", id=3)
    with pytest.raises(NoMatchFound):
        route.url_path_for("other", id=3, name="bob")


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("rooms", ValueError),
        ("/x/{a:nope}", ValueError),
        ("/x/{a}/{a}", ValueError),
    ],
)
def test_bad_templates(template: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        Route(template, handler)


def test_bad_handler() -> None:
    with pytest.raises(TypeError):
        Route("/x", "not callable")  # type: ignore[arg-type]


def test_unknown_options_are_refused_where_they_are_given() -> None:
    """``**options`` still refuses a misspelt keyword at once, as a signature would."""
    app = App()
    calls: list[tuple[str, Callable[[], object]]] = [
        ("Route", lambda: Route("/x", handler, idle_timout=1)),  # type: ignore[call-arg]
        ("Route", lambda: app.add_route("/x", handler, origin=[])),  # type: ignore[call-arg]
        ("websocket", lambda: app.websocket("/x", ratelimit=None)),  # type: ignore[call-arg]
        ("App", lambda: App(max_lifetime=1)),  # type: ignore[call-arg]
        ("Endpoint", lambda: Endpoint(handler, codecs=None)),  # type: ignore[call-arg]
        ("WebSocketRoute", lambda: WebSocketRoute("/x", handler, auth=None)),  # type: ignore[call-arg]
    ]
    for owner, call in calls:
        with pytest.raises(TypeError, match=rf"^{owner}\(\) got an unexpected keyword argument"):
            call()
    assert app.routes == ()


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"path": "/a/b"}, "/a/b"),
        ({"path": "/api/ws", "root_path": "/api"}, "/ws"),
        ({"path": "/api", "root_path": "/api"}, ""),
        ({"path": "/apix", "root_path": "/api"}, "/apix"),
        ({"path": "/ws", "root_path": "/api"}, "/ws"),
        ({"path": "/ws", "root_path": None}, "/ws"),
        ({"path": "/ws", "root_path": 7}, "/ws"),
        ({"path": b"/ws"}, ""),
        ({}, ""),
    ],
)
def test_route_path(scope: Scope, expected: str) -> None:
    assert route_path(scope) == expected


def test_table_first_registered_wins() -> None:
    table = RouteTable()
    dynamic = Route("/rooms/{room}", handler)
    static_after = Route("/rooms/lobby", handler)
    static_first = Route("/exact", handler)
    dynamic_after = Route("/{anything}", handler)
    for route in (static_first, dynamic, static_after, dynamic_after):
        table.add(route)
    assert table.match("/rooms/lobby") == (dynamic, {"room": "lobby"})
    assert table.match("/exact") == (static_first, {})
    assert table.match("/other") == (dynamic_after, {"anything": "other"})
    assert table.match("/no/where") is None
    duplicate = Route("/exact", handler)
    table.add(duplicate)
    assert table.match("/exact") == (static_first, {})
    assert table.routes == [static_first, dynamic, static_after, dynamic_after, duplicate]


def test_mount_matching() -> None:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
        pass

    mount = Mount("/legacy", asgi)
    assert mount.matches("/legacy")
    assert mount.matches("/legacy/ws")
    assert not mount.matches("/legacyx")
    assert not mount.matches("/other")
    assert repr(mount).startswith("Mount(path='/legacy'")
    table = RouteTable()
    assert table.match_mount("/legacy") is None
    table.mount(mount)
    assert table.match_mount("/legacy/x") is mount
    assert table.match_mount("/x") is None
    for bad in ("legacy", "/legacy/", 3):
        with pytest.raises(ValueError, match="mount path"):
            Mount(bad, asgi)  # type: ignore[arg-type]


# -- through the App ----------------------------------------------------------------------------


async def test_path_params_reach_the_handler() -> None:
    seen: list[dict[str, Any]] = []
    app = App()

    @app.websocket("/rooms/{room}/users/{id:int}")
    async def room(ws: WebSocket) -> None:
        seen.append(dict(ws.path_params))
        await ws.accept()

    async with TestClient(app) as client, client.websocket_connect("/rooms/lobby/users/7"):
        pass
    assert seen == [{"room": "lobby", "id": 7}]


async def test_outer_path_params_are_kept() -> None:
    seen: list[dict[str, Any]] = []

    async def show(ws: WebSocket) -> None:
        seen.append(dict(ws.path_params))
        await ws.accept()

    app = App([Route("/x/{b}", show)])
    outer = rewrite_scope(app, lambda scope: scope.update(path_params={"a": "1"}))
    async with TestClient(outer).websocket_connect("/x/2"):
        pass
    assert seen == [{"a": "1", "b": "2"}]


async def test_list_form_and_routes_view() -> None:
    view = ViewLike()
    app = App([Route("/echo", echo), Route("/view/{id:uuid}", view, name="view")])
    route = app.add_route("/added", handler)
    assert [r.path for r in app.routes] == ["/echo", "/view/{id:uuid}", "/added"]
    second = app.routes[1]
    assert isinstance(second, Route)
    assert second.handler is view
    assert second.param_names == ("id",)
    assert app.routes[2] is route
    key = uuid.UUID(int=1)
    assert app.url_path_for("view", id=key) == f"/view/{key}"
    with pytest.raises(NoMatchFound):
        app.url_path_for("missing")
    client = TestClient(app)
    async with client.websocket_connect("/echo") as conn:
        await conn.send_text("hi")
        assert await conn.receive_text() == "hi"
    async with client.websocket_connect(f"/view/{key}") as conn:
        pass


@pytest.mark.parametrize("denial_response", [True, False])
async def test_unknown_path(denial_response: bool) -> None:
    app = App([Route("/echo", echo)])
    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/nope", denial_response=denial_response):
            pass  # pragma: no cover
    assert info.value.status == (404 if denial_response else 403)


async def test_mounted_app_gets_root_path() -> None:
    inner = App()
    seen: list[tuple[str, str, dict[str, Any]]] = []

    @inner.websocket("/room/{name}")
    async def room(ws: WebSocket) -> None:
        seen.append((ws.scope["path"], ws.scope["root_path"], dict(ws.path_params)))
        await ws.accept()

    outer = App()
    outer.mount("/chat", inner)
    client = TestClient(outer)
    async with client.websocket_connect("/chat/room/blue"):
        pass
    assert seen == [("/chat/room/blue", "/chat", {"name": "blue"})]
    response = await client.http("GET", "/chat/room/blue")
    assert response.status == 426
    response = await client.http("GET", "/chat/nothing")
    assert response.status == 404
    with pytest.raises(WebSocketDenied):
        async with client.websocket_connect("/chatroom/blue"):
            pass  # pragma: no cover
