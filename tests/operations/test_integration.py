"""The router inside wskit.App, inside Starlette, and with the pub/sub hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
from starlette.applications import Starlette

from wskit.app import App
from wskit.codecs import JSON, MSGPACK, Codec
from wskit.connection import WebSocket
from wskit.contrib.starlette import WebSocketRoute
from wskit.operations import OperationRouter
from wskit.pubsub.hub import Hub
from wskit.testing import TestClient

from .models import ChatMessage, ChatSend


def room_router() -> OperationRouter:
    ops = OperationRouter()
    ops.emits("chat.message", payload=ChatMessage)

    @ops.on("join", reply="joined")
    async def join(ws: WebSocket, hub: Hub) -> str:
        room: str = ws.path_params["room"]
        await hub.subscribe(ws, f"room:{room}")
        return room

    @ops.on("chat.send")
    async def send(payload: ChatSend, hub: Hub, ws: WebSocket) -> None:
        user = ws.state.user
        message = ChatMessage(room=payload.room, text=payload.text, author=user)
        await hub.publish(f"room:{payload.room}", {"type": "chat.message", "payload": message})

    return ops


@asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Hub]]:
    async with Hub() as hub:
        yield {"hub": hub}


async def test_router_in_an_app_with_a_hub_subprotocols_and_authentication() -> None:
    async def authenticate(ws: WebSocket) -> str | None:
        return ws.query_params.get("user")

    codecs: dict[str, Codec] = {"wskit.msgpack": MSGPACK, "wskit.json": JSON}
    app = App(authenticate=authenticate, subprotocols=codecs, lifespan=lifespan)
    app.add_route("/rooms/{room}", room_router())
    bob_options = {"query_string": "user=bob", "subprotocols": ["wskit.msgpack"]}
    async with (
        TestClient(app) as client,
        client.websocket_connect("/rooms/a", query_string="user=ann") as ann,
        client.websocket_connect("/rooms/a", **bob_options) as bob,  # type: ignore[arg-type]
    ):
        assert bob.accepted_subprotocol == "wskit.msgpack"
        await ann.send_json({"type": "join", "id": 1})
        assert await ann.receive_json() == {"type": "joined", "payload": "a", "id": 1}
        await bob.send_bytes(msgspec.msgpack.encode({"type": "join", "id": 2}))
        joined = msgspec.msgpack.decode(await bob.receive_bytes())
        assert joined == {"type": "joined", "payload": "a", "id": 2}
        await ann.send_json({"type": "chat.send", "payload": {"room": "a", "text": "hi"}})
        expected = {
            "type": "chat.message",
            "payload": {"room": "a", "text": "hi", "author": "ann"},
        }
        assert await ann.receive_json() == expected
        assert msgspec.msgpack.decode(await bob.receive_bytes()) == expected


async def test_router_in_a_starlette_route() -> None:
    ops = OperationRouter()

    @ops.on("where", reply="here")
    async def where(ws: WebSocket) -> dict[str, str]:
        return dict(ws.path_params)

    app = Starlette(routes=[WebSocketRoute("/rooms/{room}", ops)])
    async with TestClient(app) as client, client.websocket_connect("/rooms/blue") as conn:
        await conn.send_json({"type": "where", "id": "w"})
        assert await conn.receive_json() == {"type": "here", "payload": {"room": "blue"}, "id": "w"}
