"""Tutorial 6: the rooms of part 5 across processes and machines, through Redis."""

from __future__ import annotations

# --8<-- [start:app]
import contextlib
import os
from collections.abc import AsyncIterator

import anyio
import msgspec

from wskit import App, BackendUnavailable, WebSocket
from wskit.pubsub import Hub, RedisBackend

REDIS_URL = os.environ.get("WSKIT_REDIS_URL", "redis://localhost:6379/0")


class Said(msgspec.Struct):
    room: str
    user: str
    text: str


def build_app(redis_url: str = REDIS_URL) -> App:
    redis = RedisBackend(redis_url)
    hub = Hub(redis, max_queue=32)  # the hub of part 5, with another backend

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        async with hub:  # reconnects by itself, with backoff, whenever the link drops
            with anyio.fail_after(5):  # serve only once Redis answers (fail the startup else)
                await redis.wait_connected()
            yield

    app = App(lifespan=lifespan)

    @app.websocket("/rooms/{room}/{user}")
    async def room(ws: WebSocket) -> None:
        name: str = ws.path_params["room"]
        user: str = ws.path_params["user"]
        async with ws:
            await hub.subscribe(ws, f"room:{name}")  # returns once Redis has the subscription
            await ws.send_data({"joined": name})
            async for text in ws.iter_text():
                try:
                    await hub.publish(f"room:{name}", Said(room=name, user=user, text=text))
                except BackendUnavailable:
                    # Redis is down (the backend reconnects by itself): this process's
                    # clients got the message, the other processes' did not. Say so, and
                    # keep the connection.
                    await ws.send_data({"undelivered": text})

    return app


app = build_app()  # wskit run tutorial_06_redis:app --workers 4
# --8<-- [end:app]
