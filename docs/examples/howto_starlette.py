"""wskit in a Starlette app: WebSocket routes that hand their handler a ``wskit.WebSocket``."""

from __future__ import annotations

# isort: split
# --8<-- [start:routes]
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from wskit import Limits, RateLimit, Registry, WebSocket
from wskit.contrib.starlette import WebSocketRoute


async def room(ws: WebSocket) -> None:
    name: str = ws.path_params["room"]
    async with ws:
        async for text in ws.iter_text():
            await ws.send_data({"room": name, "text": text})


async def homepage(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"chat at {request.url_for('room', room='lobby')}")


registry = Registry(max_connections=10_000)  # shared by the routes: one cap, one drain


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await registry.shutdown()  # close live sockets with 1001 before the server stops


app = Starlette(
    routes=[
        Route("/", homepage),
        WebSocketRoute(
            "/rooms/{room}",
            room,
            name="room",
            registry=registry,
            origins=["https://chat.example.com"],
            limits=Limits(max_message_size=64 * 1024),
            rate_limit=RateLimit(messages_per_second=20, burst_messages=40),  # else close 1008
            idle_timeout=300,  # a silent client is closed with 1008
        ),
    ],
    lifespan=lifespan,
)
# --8<-- [end:routes]

# --8<-- [start:mount]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from wskit import App, WebSocket

realtime = App()  # a whole wskit App, with its own routes and policies


@realtime.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    async with ws:
        async for text in ws.iter_text():
            await ws.send_text(text)


async def start(request: Request) -> PlainTextResponse:
    # The parent reverses the mounted App's routes: ws://.../ws/echo
    return PlainTextResponse(f"echo at {request.url_for('echo')}")


mounted = Starlette(routes=[Route("/", start), Mount("/ws", app=realtime)])
# --8<-- [end:mount]


# --8<-- [start:front]
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from wskit import App


@contextlib.asynccontextmanager
async def site_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    yield {"motd": "welcome"}  # lifespan state: Starlette's requests and wskit's handlers see it


async def motd(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.state.motd)


site = Starlette(routes=[Route("/motd", motd)], lifespan=site_lifespan)
front = App(http_app=site)  # wskit routes WebSockets, Starlette answers HTTP; both lifespans run
front.add_route("/echo", echo)
# --8<-- [end:front]
