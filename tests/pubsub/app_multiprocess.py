"""A tiny chat server for the multi-process test: plain ASGI, ``WebSocket``, a Redis-backed hub.

``python -m wskit run tests.pubsub.app_multiprocess:app`` with ``WSKIT_PUBSUB_TEST_REDIS``
(the Redis URL) and ``WSKIT_PUBSUB_TEST_PREFIX`` (a channel prefix) in the environment. Each
connection to ``/room/<name>`` subscribes to that room and receives ``{"ready": true}``; every
text it sends is published to the room as ``{"node": <pid>, "text": <text>}``.
"""

from __future__ import annotations

import os

import anyio

from wskit._types import Receive, Scope, Send
from wskit.connection import WebSocket
from wskit.exceptions import BackendUnavailable
from wskit.pubsub import Hub, RedisBackend

backend = RedisBackend(
    os.environ.get("WSKIT_PUBSUB_TEST_REDIS", "redis://127.0.0.1:6379"),
    prefix=os.environ.get("WSKIT_PUBSUB_TEST_PREFIX", "wskit-test:"),
    backoff_max=float(os.environ.get("WSKIT_PUBSUB_TEST_BACKOFF_MAX", "0.5")),
)
hub = Hub(backend)
NODE = os.getpid()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        async with hub:
            with anyio.fail_after(10):
                await backend.wait_connected()
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    room = scope["path"].rsplit("/", 1)[-1]
    ws = WebSocket(scope, receive, send)
    async with ws:
        await hub.subscribe(ws, room)
        await ws.send_data({"ready": True, "node": NODE})
        async for text in ws.iter_text():
            try:
                await hub.publish(room, {"node": NODE, "text": text})
            except BackendUnavailable:
                pass  # other processes miss it; this one's subscribers still get it
