"""The same handlers inside real frameworks: Starlette, Litestar and Django (ASGI).

Each test runs the real framework in memory through ``wskit.testing.TestClient``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from litestar import Litestar, asgi, get
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Router
from starlette.routing import Route as StarletteRoute
from starlette.routing import WebSocketRoute as StarletteWebSocketRoute

from tests.app.conftest import Records, echo
from wskit._types import ASGIApp, Receive, Scope, Send
from wskit.app import App, Registry
from wskit.codecs import JSON, MSGPACK
from wskit.connection import WebSocket
from wskit.contrib.starlette import Endpoint, WebSocketRoute
from wskit.exceptions import WebSocketDisconnect
from wskit.policies import RouteOptions
from wskit.policies.ratelimit import RateLimit
from wskit.testing import TestClient, WebSocketDenied


async def describe(ws: WebSocket) -> None:
    """Send back what the handler sees: its type, path params, and the middleware's marks."""
    async with ws:
        await ws.send_json(
            {
                "wskit": type(ws).__module__,
                "params": {k: str(v) for k, v in ws.path_params.items()},
                "tag": ws.scope.get("tag"),
                "user": ws.user.display_name if "user" in ws.scope else None,
            }
        )


def wskit_app() -> App:
    app = App()
    app.add_route("/rooms/{room}", describe)
    app.add_route("/echo", echo)
    return app


# -- Starlette ----------------------------------------------------------------------------------


class Tag:
    """A pure ASGI middleware that marks the scope."""

    def __init__(self, app: ASGIApp, value: str) -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["tag"] = self.value
        await self.app(scope, receive, send)


class TokenBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        token = conn.query_params.get("token")
        if token == "bad":
            raise AuthenticationError("bad token")
        return (AuthCredentials(["authenticated"]), SimpleUser(token)) if token else None


def starlette_app(registry: Registry | None = None) -> Starlette:
    async def homepage(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    async def fail(ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("handler bug")

    return Starlette(
        routes=[
            StarletteRoute("/", homepage),
            WebSocketRoute(
                "/rooms/{room}/{id:int}",
                describe,
                name="room",
                middleware=[Middleware(Tag, value="route")],
                registry=registry,
            ),
            WebSocketRoute("/fail", fail),
            WebSocketRoute("/echo", echo, registry=registry),
            WebSocketRoute(
                "/guarded", echo, origins=["https://app.example.com"], registry=registry
            ),
            WebSocketRoute("/codec", codec_probe, subprotocols={"j": JSON, "m": MSGPACK}),
            StarletteWebSocketRoute("/endpoint/{x}", Endpoint(describe)),
            Mount("/wskit", app=wskit_app()),
        ],
        middleware=[Middleware(AuthenticationMiddleware, backend=TokenBackend())],
    )


async def codec_probe(ws: WebSocket) -> None:
    async with ws:
        await ws.send_data({"codec": ws.codec.name})


async def test_starlette_route_hands_a_wskit_websocket() -> None:
    client = TestClient(starlette_app())
    async with client.websocket_connect("/rooms/blue/7?token=ann") as conn:
        assert await conn.receive_json() == {
            "wskit": "wskit.connection",
            "params": {"room": "blue", "id": "7"},
            "tag": "route",
            "user": "ann",
        }
    async with client.websocket_connect("/endpoint/x1") as conn:
        assert (await conn.receive_json())["params"] == {"x": "x1"}
    response = await client.http("GET", "/")
    assert response.body == b"home"


async def test_starlette_middleware_can_refuse() -> None:
    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(starlette_app()).websocket_connect("/echo?token=bad"):
            pass  # pragma: no cover
    assert info.value.status == 403


async def test_starlette_url_path_for_and_route_shape() -> None:
    app = starlette_app()
    assert app.url_path_for("room", room="blue", id=3) == "/rooms/blue/3"
    route = app.routes[1]
    assert isinstance(route, WebSocketRoute)
    assert route.endpoint is describe
    assert isinstance(route.wskit_endpoint, Endpoint)
    assert WebSocketRoute("/x", echo).name == "echo"
    router = Router(routes=[WebSocketRoute("/echo", echo)])
    async with TestClient(router).websocket_connect("/echo") as conn:
        await conn.send_text("router")
        assert await conn.receive_text() == "router"


async def test_starlette_policies_and_codecs() -> None:
    client = TestClient(starlette_app())
    with pytest.raises(WebSocketDenied) as info:
        async with client.websocket_connect("/guarded", headers={"origin": "https://evil.io"}):
            pass  # pragma: no cover
    assert info.value.status == 403
    async with client.websocket_connect("/guarded", headers={"origin": "https://app.example.com"}):
        pass
    async with client.websocket_connect("/codec", subprotocols=["m"]) as conn:
        assert conn.accepted_subprotocol == "m"
        assert MSGPACK.decode(await conn.receive_bytes()) == {"codec": "msgpack"}


async def test_starlette_handler_error_is_one_1011(records: Records) -> None:
    async with TestClient(starlette_app()).websocket_connect("/fail") as conn:
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
    assert info.value.code == 1011
    assert len(records.errors) == 1


async def test_starlette_mount_of_a_wskit_app() -> None:
    client = TestClient(starlette_app())
    async with client.websocket_connect("/wskit/rooms/red") as conn:
        assert (await conn.receive_json())["params"] == {"room": "red"}
    response = await client.http("GET", "/wskit/echo")
    assert response.status == 426


async def test_starlette_drain_through_a_registry(records: Records) -> None:
    registry = Registry(drain_timeout=5)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await registry.shutdown()

    app = starlette_app(registry)
    app.router.lifespan_context = lifespan
    async with TestClient(app) as client:
        async with (
            client.websocket_connect("/echo") as first,
            client.websocket_connect("/echo") as second,
        ):
            assert len(registry.connections) == 2
            await registry.shutdown()
            for conn in (first, second):
                with pytest.raises(WebSocketDisconnect) as info:
                    await conn.receive_text()
                assert info.value.code == 1001
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/echo"):
                pass  # pragma: no cover
        assert denied.value.status == 503
    assert records.at(logging.WARNING) == []


def test_endpoint_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        Endpoint("nope")  # type: ignore[arg-type]


# -- Starlette routes take the App's options ----------------------------------------------------
# The guards' close codes through these routes are tested in tests/reliability/test_guards.py.


def test_starlette_route_resolves_options_like_an_app_route() -> None:
    options: RouteOptions = {"idle_timeout": 5, "rate_limit": RateLimit(10), "codec": MSGPACK}
    route = WebSocketRoute("/ws", echo, **options)
    handshake = route.wskit_endpoint.handshake
    assert (handshake.idle_timeout, handshake.codec) == (5.0, MSGPACK)
    assert route.wskit_endpoint.spec.guards is not None
    assert WebSocketRoute("/ws", echo).wskit_endpoint.spec.guards is None
    with pytest.raises(ValueError, match="max_lifespan"):
        WebSocketRoute("/ws", echo, max_lifespan=0)


# -- Litestar -----------------------------------------------------------------------------------


def litestar_app(inner: App) -> Litestar:
    # is_static keeps the path as sent: Litestar adds a trailing slash to other mounts' paths.
    @asgi("/chat", is_mount=True, is_static=True, copy_scope=True)
    async def chat(scope: Scope, receive: Receive, send: Send) -> None:
        await inner(scope, receive, send)

    @get("/hello", sync_to_thread=False)
    def hello() -> str:
        return "hello from litestar"

    # logging_config=None: Litestar would otherwise reconfigure logging for the whole process.
    return Litestar([chat, hello], logging_config=None)


async def test_litestar_mount(records: Records) -> None:
    inner = wskit_app()

    @inner.websocket("/fail")
    async def fail(ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("bug")

    async with TestClient(cast("ASGIApp", litestar_app(inner))) as client:
        async with client.websocket_connect("/chat/rooms/blue") as conn:
            assert (await conn.receive_json())["params"] == {"room": "blue"}
        async with client.websocket_connect("/chat/echo") as conn:
            await conn.send_text("via litestar")
            assert await conn.receive_text() == "via litestar"
        async with client.websocket_connect("/chat/fail") as conn:
            with pytest.raises(WebSocketDisconnect) as info:
                await conn.receive_text()
            assert info.value.code == 1011
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/chat/missing"):
                pass  # pragma: no cover
        assert denied.value.status == 404
        response = await client.http("GET", "/hello")
        assert response.body == b"hello from litestar"
    assert len(records.errors) == 1


# -- Django -------------------------------------------------------------------------------------


def django_hello(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse("hello from django")


def django_application(inner: App) -> ASGIApp:
    """Django for HTTP, a small URL router sending WebSocket paths under /ws to the wskit App."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["testserver"],
            SECRET_KEY="wskit-tests-only",
            DEBUG=False,
            INSTALLED_APPS=[],
            MIDDLEWARE=[],
            USE_TZ=True,
        )
        django.setup()
    from django.core.asgi import get_asgi_application

    django_http = get_asgi_application()
    websocket_routes = [("/ws", inner)]

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await django_http(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            await inner(scope, receive, send)
            return
        for prefix, app in websocket_routes:
            if scope["path"] == prefix or scope["path"].startswith(prefix + "/"):
                await app(
                    {**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send
                )
                return
        await send({"type": "websocket.close", "code": 1000})  # pragma: no cover

    return application


def _urlpatterns() -> list[Any]:
    from django.urls import path

    return [path("hello/", django_hello)]


def __getattr__(name: str) -> Any:
    # Django imports ROOT_URLCONF (this module) lazily and reads ``urlpatterns``.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


async def test_django_websocket_routing() -> None:
    inner = wskit_app()
    async with TestClient(django_application(inner)) as client:
        async with client.websocket_connect("/ws/rooms/green") as conn:
            assert (await conn.receive_json())["params"] == {"room": "green"}
        async with client.websocket_connect("/ws/echo") as conn:
            await conn.send_text("via django")
            assert await conn.receive_text() == "via django"
        assert len(inner.connections) == 0


@pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {}), id="asyncio")])
async def test_django_http_alongside(anyio_backend: Any) -> None:
    """Django's own ASGI handler is asyncio-only (it calls ``asyncio.gather``)."""
    from django.test.utils import override_settings

    client = TestClient(django_application(wskit_app()))
    # Django is configured once per process; another test may have set it up first.
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"]):
        response = await client.http("GET", "/hello/")
    assert (response.status, response.body) == (200, b"hello from django")


async def test_starlette_route_closes_1000_after_return() -> None:
    async def hello(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")

    async with TestClient(Router([WebSocketRoute("/hi", hello)])).websocket_connect("/hi") as conn:
        assert await conn.receive_text() == "hello"
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
    assert info.value.code == 1000
