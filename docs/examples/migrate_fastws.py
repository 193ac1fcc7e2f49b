"""From FastWS to wskit's OperationRouter, Hub and AsyncAPI app."""

from __future__ import annotations

# isort: split
# --8<-- [start:types]
import msgspec


class SubscribePayload(msgspec.Struct):  # FastWS: a pydantic BaseModel
    topic: str


class SubscribeResponse(msgspec.Struct):
    detail: str
    topics: list[str]


class AlertPayload(msgspec.Struct):
    message: str


# --8<-- [end:types]


# --8<-- [start:service]
from wskit import WebSocket
from wskit.operations import OperationRouter
from wskit.pubsub import Hub

hub = Hub()
# FastWS(heartbeat_interval=10, max_connection_lifespan=300)
service = OperationRouter(hub=hub, idle_timeout=10, max_lifespan=300)


@service.on("ping", reply="pong")  # FastWS: @service.send("ping")
async def ping() -> str:
    return "pong"


user = OperationRouter()  # FastWS: OperationRouter(prefix="user.")


@user.on("subscribe", reply="subscribed")  # FastWS: @router.send("subscribe")
async def subscribe_to_topic(
    payload: SubscribePayload, ws: WebSocket, hub: Hub
) -> SubscribeResponse:
    await hub.subscribe(ws, payload.topic)  # FastWS: client.subscribe(payload.topic)
    return SubscribeResponse(detail=f"Subscribed to {payload.topic}", topics=hub.topics(ws))


service.include_router(user, prefix="user.")  # FastWS: service.include_router(router)
service.emits("alert", payload=AlertPayload)  # FastWS: @router.recv("alert")


async def alert(topic: str, message: str) -> None:
    """FastWS: await service.server_send(Message(type="alert", ...), topic=topic)."""
    await hub.publish(topic, {"type": "alert", "payload": AlertPayload(message=message)})


# --8<-- [end:service]


# --8<-- [start:app]
import contextlib
from collections.abc import AsyncIterator

from wskit import App
from wskit.asyncapi import AsyncAPIApp


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    async with hub:
        yield


app = App(lifespan=lifespan)
app.add_route("/", service)  # FastWS: Depends(service.manage) + await service.serve(client)
# FastWS: service.setup(app) -> /asyncapi and /asyncapi.json
app.http_app = AsyncAPIApp(app, title="Event Driven Broker", version="1.0.0")
# --8<-- [end:app]
