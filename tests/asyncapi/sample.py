"""A non-trivial app to document: several operations, nested and union payloads, path params."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, Literal, TypedDict, TypeVar

import msgspec

from wskit.app import App
from wskit.asyncapi import AsyncAPIApp
from wskit.connection import WebSocket
from wskit.operations import OperationRouter, WebSocketView


class Circle(msgspec.Struct, tag="circle"):
    radius: float


class Square(msgspec.Struct, tag="square"):
    side: float


class Drawing(msgspec.Struct):
    """A drawing: nested structs, a tagged union, a tuple and constrained fields."""

    name: Annotated[str, msgspec.Meta(min_length=1, description="What the drawing is called.")]
    shapes: list[Circle | Square]
    origin: tuple[float, float] = (0.0, 0.0)
    layer: Literal["back", "front"] = "front"
    owner: Annotated[Author, msgspec.Meta(description="Who drew it.")] | None = None


class Author(msgspec.Struct):
    name: str
    avatar: bytes | None = None


class ChatSend(msgspec.Struct):
    text: Annotated[str, msgspec.Meta(max_length=500, examples=["hello"])]
    reply_to: int | None = None


class ChatSent(msgspec.Struct):
    seq: int


class ChatMessage(msgspec.Struct):
    seq: int
    text: str
    author: Author


class Presence(TypedDict):
    user: str
    online: bool


@dataclass
class Ping:
    nonce: int


class Pong(msgspec.Struct):
    nonce: int


chat = OperationRouter(prefix="chat.", tags=["chat"], description="Chat in one room.")


@chat.on("send", reply="sent", tags=["write"])
async def send(payload: ChatSend, ws: WebSocket) -> ChatSent:
    """Post a message to the room.

    Everyone in the room receives it as ``chat.message``.
    """
    return ChatSent(seq=1)


@chat.on("draw", reply="drawn")
async def draw(payload: Drawing) -> Drawing:
    """Share a drawing."""
    return payload


@chat.on("history", reply="page")
async def history(payload: int | None = None) -> list[ChatMessage]:
    """The last messages, newest first."""
    return []


@chat.on("typing")
async def typing() -> None:
    """Tell the room you are typing (no payload, no reply)."""


chat.emits("message", payload=ChatMessage, summary="A message posted by someone.")
chat.emits("presence", payload=Presence, summary="Someone came or went.")
chat.emits("ping", payload=Ping, reply_payload=Pong, summary="Are you still there?")

ops = OperationRouter(description="Every operation of the service.")
ops.include_router(chat)


@ops.on("whoami", reply="you:are")
async def whoami(ws: WebSocket) -> str:
    """Your user name."""
    return "someone"


feed = OperationRouter(
    type_field="kind", payload_field="data", id_field="ref", error_type="failure"
)


@feed.on("subscribe", reply="subscribed")
async def subscribe(payload: list[str]) -> dict[str, int]:
    """Follow topics."""
    return {}


class Echo(WebSocketView[str, str]):
    """Echoes text frames back, upper-cased."""


async def health(ws: WebSocket) -> None:
    """A plain handler: accepts and closes."""
    await ws.accept()


app = App()
app.add_route("/rooms/{room}", ops)
app.add_route("/users/{user_id:int}/feed", feed)
app.add_route("/echo", Echo)
app.add_route("/health", health)
app.title = "Chat service"  # type: ignore[attr-defined]
app.version = "2.1.0"  # type: ignore[attr-defined]

docs = AsyncAPIApp(
    app, title="Chat service", version="2.1.0", servers=["wss://chat.example.com/ws"]
)


T = TypeVar("T")


class Box(msgspec.Struct, Generic[T]):
    """A generic struct: msgspec names its schema ``Box[int]``, not a valid AsyncAPI key."""

    item: T


class Bare(WebSocketView[str, str]):
    pass
