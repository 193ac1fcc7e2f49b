"""Tutorial 5: rooms with the Hub: subscribe, publish, presence, and the operation router."""

from __future__ import annotations

# isort: split
# --8<-- [start:hub]
import contextlib
from collections.abc import AsyncIterator

import msgspec

from wskit import App, WebSocket
from wskit.pubsub import Hub

hub = Hub(max_queue=32, overflow="drop_oldest", send_timeout=5.0)


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    async with hub:  # the hub's fan-out task runs for the app's lifetime
        yield


app = App(lifespan=lifespan)


class Said(msgspec.Struct):
    room: str
    user: str
    text: str


@app.websocket("/rooms/{room}/{user}")
async def room(ws: WebSocket) -> None:
    name: str = ws.path_params["room"]
    user: str = ws.path_params["user"]
    topic = f"room:{name}"
    async with ws:
        await hub.subscribe(ws, topic)  # ends by itself when the connection ends
        await ws.send_data({"room": name, "present": len(hub.subscribers(topic))})
        async for text in ws.iter_text():
            await hub.publish(topic, Said(room=name, user=user, text=text))  # encoded once


# --8<-- [end:hub]


# --8<-- [start:operations]
import msgspec

from wskit import WebSocket
from wskit.operations import OperationRouter
from wskit.pubsub import Hub


class Join(msgspec.Struct):
    room: str


class Say(msgspec.Struct):
    room: str
    text: str


chat = OperationRouter(hub=hub)
chat.emits("said", payload=Said, summary="Someone said something in a room you joined.")


@chat.on("join", reply="joined")
async def join(payload: Join, ws: WebSocket, hub: Hub) -> list[str]:
    """Join a room; the reply lists your rooms."""
    await hub.subscribe(ws, f"room:{payload.room}")
    return hub.topics(ws)


@chat.on("say")
async def say(payload: Say, ws: WebSocket, hub: Hub) -> None:
    """Say something in a room you joined."""
    if f"room:{payload.room}" in hub.topics(ws):
        said = Said(room=payload.room, user=ws.state.user, text=payload.text)
        await hub.publish(f"room:{payload.room}", {"type": "said", "payload": said})


async def anyone(ws: WebSocket) -> str:
    return ws.query_params.get("name", "anonymous")


app.add_route("/chat", chat, authenticate=anyone)  # the identity lands on ws.state.user
# --8<-- [end:operations]
