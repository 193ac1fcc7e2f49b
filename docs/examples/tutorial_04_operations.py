"""Tutorial 4: typed operations with an OperationRouter, mounted on the App."""

from __future__ import annotations

# isort: split
# --8<-- [start:router]
import msgspec

from wskit import WebSocket
from wskit.operations import OperationError, OperationRouter


class SendMessage(msgspec.Struct):
    room: str
    text: str


class MessageSent(msgspec.Struct):
    room: str
    length: int


class Notice(msgspec.Struct):
    text: str


ops = OperationRouter(max_bad_messages=10)  # the 11th bad message closes with 1008
ops.emits("notice", payload=Notice, summary="Something the server wants you to know.")


@ops.on("chat.send", reply="chat.sent")
async def send_message(payload: SendMessage, ws: WebSocket) -> MessageSent:
    """Send a message to a room."""
    if not payload.text.strip():
        raise OperationError("empty_message", "say something")  # an error reply, not a crash
    await ops.emit(ws, "notice", Notice(text=f"{payload.room} got your message"))
    return MessageSent(room=payload.room, length=len(payload.text))


@ops.on("ping", reply="pong")
async def ping() -> str:
    """Check that the server is there."""
    return "pong"


# --8<-- [end:router]


# --8<-- [start:include]
import msgspec

from wskit.operations import OperationRouter


class Stats(msgspec.Struct):
    connections: int


admin = OperationRouter()


@admin.on("stats", reply="stats.result")
async def stats() -> Stats:
    """How many clients are connected."""
    return Stats(connections=len(app.connections))


ops.include_router(admin, prefix="admin.")  # "admin.stats" -> "admin.stats.result"
# --8<-- [end:include]

# --8<-- [start:app]
from wskit import App

app = App()
app.add_route("/ops", ops)  # a router is a handler: it accepts and serves the connection
# --8<-- [end:app]

# --8<-- [start:asyncapi]
from wskit.asyncapi import AsyncAPIApp

# Plain HTTP requests go to the docs app: /asyncapi (HTML), /asyncapi.json, /asyncapi.yaml.
app.http_app = AsyncAPIApp(app, title="Chat", version="1.0.0", servers=["ws://127.0.0.1:8000"])
# --8<-- [end:asyncapi]
