"""Tutorial 2: typed messages with msgspec Structs, ``receive(tp)`` and ``send_data``."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

# isort: split
# --8<-- [start:types]
import msgspec


class Join(msgspec.Struct, tag="join"):
    """The client joins a room: ``{"type": "join", "room": "lobby", "user": "ada"}``."""

    room: str
    user: str


class Say(msgspec.Struct, tag="say"):
    """The client says something: ``{"type": "say", "text": "hello"}``."""

    text: str


class Said(msgspec.Struct, tag="said"):
    """The server repeats what was said, with who said it and where."""

    room: str
    user: str
    text: str


class Problem(msgspec.Struct, tag="problem"):
    """The server explains why a message was refused; the connection stays open."""

    message: str
    path: str


ClientMessage = Join | Say  # msgspec tells them apart by their "type" field
# --8<-- [end:types]


# --8<-- [start:handler]
from wskit import DecodeError, WebSocket


async def chat(ws: WebSocket) -> None:
    async with ws:
        joined: Join | None = None
        while True:  # ends with WebSocketDisconnect when the client leaves
            try:
                message: Join | Say = await ws.receive(ClientMessage)
            except DecodeError as exc:  # malformed JSON, or a value that does not fit
                await ws.send_data(Problem(message=str(exc), path=exc.path))
                continue
            if isinstance(message, Join):
                joined = message
            elif joined is None:
                await ws.send_data(Problem(message="join a room first", path="$"))
            else:
                await ws.send_data(Said(room=joined.room, user=joined.user, text=message.text))


# --8<-- [end:handler]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await chat(WebSocket(scope, receive, send))


# --8<-- [start:casting]
from typing import Literal

from wskit import WebSocket


async def casting(ws: WebSocket) -> None:
    async with ws:
        count = await ws.receive(int)  # "42" -> 42; "4x2" -> ValidationError
        ready = await ws.receive(bool)  # "true", "True", "false", "False" or digits
        blob = await ws.receive(bytes)  # a binary frame, or a text frame's UTF-8
        speed = await ws.receive(Literal["fast", "slow"])  # the text fast, not "fast"
        limit = await ws.receive(float | None)  # 2.5, or null for None
        await ws.send_data(
            {"count": count, "ready": ready, "size": len(blob), "speed": speed, "limit": limit}
        )
        answer = await ws.pair("continue?", tp=bool)  # send, then receive a bool
        await ws.send_data("bye" if not answer else "go on")
        await ws.expect("done")  # raises UnexpectedMessage on anything else


# --8<-- [end:casting]


async def casting_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await casting(WebSocket(scope, receive, send))
