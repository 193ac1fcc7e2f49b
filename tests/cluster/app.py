"""The wskit server the cluster tests run in several processes: plain ASGI, a sharded hub.

``python -m wskit run tests.cluster.app:app`` with ``WSKIT_CLUSTER_URL`` (the node this process
starts from) and ``WSKIT_CLUSTER_PREFIX`` (a channel prefix) in the environment.

- ``/room/<topic>``: subscribes, sends ``{"ready": true, "node": <pid>}``; each text received
  is a sequence number, published to the topic as ``{"node": <pid>, "seq": n}`` with history;
  when the backend refuses it (``BackendUnavailable``), the sender gets ``{"failed": n}``.
- ``/history/<topic>``: sends the topic's kept ``seq`` numbers as one list, then closes.
- ``/stats``: sends the backend's statistics, then closes.
"""

from __future__ import annotations

import os

import anyio
import msgspec

from wskit._types import Receive, Scope, Send
from wskit.connection import WebSocket
from wskit.exceptions import BackendUnavailable
from wskit.pubsub import Hub, RedisBackend

backend = RedisBackend(
    os.environ.get("WSKIT_CLUSTER_URL", "redis://127.0.0.1:7000"),
    sharded=True,
    prefix=os.environ.get("WSKIT_CLUSTER_PREFIX", "wskit-cluster:"),
    backoff_max=0.5,
    publish_timeout=1.0,
    keepalive=2.0,
    max_outgoing=256,
    max_buffer=1024,
)
hub = Hub(backend, history=10_000, max_queue=4096)
NODE = os.getpid()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        async with hub:
            with anyio.fail_after(30):
                await backend.wait_connected()
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    kind, _, topic = scope["path"].strip("/").partition("/")
    ws = WebSocket(scope, receive, send)
    async with ws:
        if kind == "stats":
            await ws.send_data(msgspec.to_builtins(backend.statistics()))
        elif kind == "history":
            entries = await hub.history(topic)
            await ws.send_data([entry.value()["seq"] for entry in entries])
        else:
            await hub.subscribe(ws, topic)
            await ws.send_data({"ready": True, "node": NODE})
            async for text in ws.iter_text():
                try:
                    await hub.publish(topic, {"node": NODE, "seq": int(text)})
                except BackendUnavailable:
                    await ws.send_data({"failed": int(text)})
