"""The server side of ``benchmarks/load.py``: subscribers on a Hub, and a publisher endpoint.

Served by ``python -m wskit run benchmarks._load_app:app`` in its own process. Environment:

* ``WSKIT_LOAD_REDIS``: a Redis URL; the hub then uses a ``RedisBackend`` (the two-process
  mode), else the in-memory backend.
* ``WSKIT_LOAD_PREFIX``: the Redis channel prefix (one per run).

Routes:

* ``/sub``: subscribe to the ``load`` topic, send ``ready``, then wait until the client leaves.
* ``/control``: the benchmark's driver sends a :class:`Command`; the server publishes
  ``count`` messages ``"<phase> <seq> <monotonic_ns> <padding>"`` (``rate`` per second, or as
  fast as the hub takes them when ``rate`` is 0) and answers ``"published <seconds>"``.

The hub keeps up to 4,096 messages per slow connection and waits 60 s for a stalled one, so
a lagging *client* shows up as latency, not as loss; the driver checks that there is none.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import AsyncIterator

import anyio
import msgspec

from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.pubsub.backends.base import Backend

__all__ = ["Command", "app", "raise_fd_limit"]

TOPIC = "load"


class Command(msgspec.Struct):
    """What ``/control`` publishes: ``count`` messages of ``phase`` at ``rate`` per second."""

    phase: str
    count: int
    rate: float = 0.0
    size: int = 0


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _backend() -> Backend | None:
    url = os.environ.get("WSKIT_LOAD_REDIS")
    if not url:
        return None
    from wskit.pubsub.backends.redis import RedisBackend

    return RedisBackend(url, prefix=os.environ.get("WSKIT_LOAD_PREFIX", "wskit-load:"))


raise_fd_limit()
hub = Hub(_backend(), max_queue=4096, send_timeout=60.0, max_pending=4096)


@contextlib.asynccontextmanager
async def _lifespan(app: App) -> AsyncIterator[None]:
    async with hub:
        yield


app = App(lifespan=_lifespan)


@app.websocket("/sub")
async def subscriber(ws: WebSocket) -> None:
    """Subscribe, say ``ready``, and wait for the client to leave."""
    await ws.accept()
    await hub.subscribe(ws, TOPIC)
    await ws.send_text("ready")
    try:
        while True:
            await ws.receive()
    except WebSocketDisconnect:
        pass


@app.websocket("/control")
async def control(ws: WebSocket) -> None:
    """Publish what each :class:`Command` asks for; answer ``published <seconds>``."""
    async with ws:
        async for command in ws.iter_data(Command):
            padding = "x" * command.size
            interval = 1.0 / command.rate if command.rate > 0 else 0.0
            start = anyio.current_time()
            for seq in range(command.count):
                if interval:
                    delay = start + seq * interval - anyio.current_time()
                    if delay > 0:
                        await anyio.sleep(delay)
                await hub.publish(TOPIC, f"{command.phase} {seq} {time.monotonic_ns()} {padding}")
            await hub.flush()
            await ws.send_text(f"published {anyio.current_time() - start:.3f}")
