"""From a Django Channels consumer with groups to a wskit handler with the Hub."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
import contextlib
from collections.abc import AsyncIterator

from wskit import App, WebSocket
from wskit.pubsub import Hub

hub = Hub()  # CHANNEL_LAYERS: InMemoryChannelLayer -> the default MemoryBackend


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    async with hub:
        yield


async def authenticate(ws: WebSocket) -> str | None:  # AuthMiddlewareStack -> scope["user"]
    return ws.cookies.get("user")  # look the session up here; None refuses with 401


app = App(
    lifespan=lifespan,
    origins=["https://chat.example.com"],  # AllowedHostsOriginValidator
    authenticate=authenticate,
)


@app.websocket("/ws/chat/{room}")  # URLRouter([path("ws/chat/<room>/", ChatConsumer.as_asgi())])
async def chat(ws: WebSocket) -> None:
    room: str = ws.path_params["room"]  # self.scope["url_route"]["kwargs"]["room"]
    group = f"chat_{room}"
    async with ws:  # connect(): self.accept()
        await hub.subscribe(ws, group)  # group_add(group, self.channel_name)
        async for content in ws.iter_json():  # receive_json(self, content)
            # group_send(group, {"type": "chat.message", ...}) + chat_message(): send_json
            await hub.publish(group, {"user": ws.state.user, "text": content["text"]})
    # disconnect(): group_discard() is automatic, on every path


# --8<-- [end:app]
