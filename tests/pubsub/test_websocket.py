"""The hub with real ``WebSocket`` connections, through ``wskit.testing.TestClient``.

A small chat app: the hub runs in the app's lifespan, each connection subscribes to the room
in its path, and every text it sends is published to the room.
"""

from __future__ import annotations

import msgspec
import pytest

from wskit._types import ASGIApp, Receive, Scope, Send
from wskit.codecs import JSON, MSGPACK
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.testing import TestClient

from ._wait import eventually


def chat_app(hub: Hub) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            async with hub:
                await send({"type": "lifespan.startup.complete"})
                await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        room = scope["path"].strip("/")
        codec = MSGPACK if scope["query_string"] == b"msgpack" else JSON
        ws = WebSocket(scope, receive, send, codec=codec)
        async with ws:
            await hub.subscribe(ws, room)
            await ws.send_data({"joined": room})
            async for text in ws.iter_text():
                await hub.publish(room, {"text": text})

    return app


async def _wait_connections(hub: Hub, count: int) -> None:
    await eventually(lambda: hub.statistics().connections == count)


async def test_a_room_with_three_clients() -> None:
    hub = Hub()
    async with TestClient(chat_app(hub)) as client:
        async with (
            client.websocket_connect("/lobby") as ann,
            client.websocket_connect("/lobby") as bob,
            client.websocket_connect("/lobby", query_string="msgpack") as cat,
        ):
            for conn in (ann, bob):
                assert await conn.receive_json() == {"joined": "lobby"}
            assert msgspec.msgpack.decode(await cat.receive_bytes()) == {"joined": "lobby"}
            for i in range(20):
                await ann.send_text(f"m{i}")
            for conn in (ann, bob):
                assert [await conn.receive_json() for _ in range(20)] == [
                    {"text": f"m{i}"} for i in range(20)
                ]
            frames = [msgspec.msgpack.decode(await cat.receive_bytes()) for _ in range(20)]
            assert frames == [{"text": f"m{i}"} for i in range(20)]
            assert len(hub.subscribers("lobby")) == 3
            await bob.close()
            await _wait_connections(hub, 2)
            await ann.send_text("after bob")
            assert await ann.receive_json() == {"text": "after bob"}
        await _wait_connections(hub, 0)
        assert hub.statistics().topics == 0


async def test_a_client_that_stops_reading_is_evicted() -> None:
    hub = Hub(max_queue=2, overflow="close", send_timeout=2)
    client = TestClient(chat_app(hub), max_queue=4)
    async with (
        client,
        client.websocket_connect("/feed") as reader,
        client.websocket_connect("/feed") as sleeper,
    ):
        assert await reader.receive_json() == {"joined": "feed"}
        for i in range(30):
            await reader.send_text(str(i))
            assert await reader.receive_json() == {"text": str(i)}
        assert hub.statistics().evicted == 1
        received = []

        async def read_all() -> None:
            while True:
                received.append(await sleeper.receive_json())

        with pytest.raises(WebSocketDisconnect) as info:
            await read_all()
        assert info.value.code == 1013
        assert received[0] == {"joined": "feed"}
        assert received[1:] == [{"text": str(i)} for i in range(len(received) - 1)]
        assert len(hub.subscribers("feed")) == 1  # only the reader is left
