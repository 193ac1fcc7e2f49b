"""Tutorial 3: the App: routing, path parameters, handshake policies and lifespan hooks."""

from __future__ import annotations

# --8<-- [start:app]
import logging

from wskit import App, Limits, WebSocket

logger = logging.getLogger(__name__)


async def startup() -> None:
    logger.info("ready")  # open database pools, start background tasks...


app = App(
    origins=["https://chat.example.com"],  # browsers on other sites are refused (403)
    max_connections=10_000,  # over it, new handshakes get 503
    limits=Limits(max_message_size=64 * 1024),  # over it, close 1009
    on_startup=[startup],
)


@app.websocket("/echo")
async def echo(ws: WebSocket) -> None:
    async with ws:
        async for text in ws.iter_text():
            await ws.send_text(text)


@app.websocket("/rooms/{room}")
async def room(ws: WebSocket) -> None:
    name: str = ws.path_params["room"]
    async with ws:
        await ws.send_data({"joined": name})
        async for text in ws.iter_text():
            await ws.send_data({"room": name, "text": text})


@app.websocket("/users/{user_id:int}", origins=None)  # no Origin check on this route
async def user(ws: WebSocket) -> None:
    user_id: int = ws.path_params["user_id"]  # already an int
    async with ws:
        await ws.send_data({"user": user_id})


# --8<-- [end:app]


# --8<-- [start:routes]
from wskit import App, Route, WebSocket


async def ping(ws: WebSocket) -> None:
    async with ws:
        await ws.expect("ping")
        await ws.send_text("pong")


routes_app = App(routes=[Route("/ping", ping), Route("/echo", echo)])
# --8<-- [end:routes]
