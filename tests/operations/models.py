"""Message types shared by the operation-router tests (module level, so annotations resolve)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal, TypedDict

import msgspec


class ChatSend(msgspec.Struct):
    room: str
    text: str


class ChatSent(msgspec.Struct):
    seq: int


class ChatMessage(msgspec.Struct):
    room: str
    text: str
    author: str = "anonymous"


class Ping(msgspec.Struct):
    nonce: int


class Pong(msgspec.Struct):
    nonce: int


class Circle(msgspec.Struct, tag="circle"):
    radius: float


class Square(msgspec.Struct, tag="square"):
    side: float


Shape = Circle | Square


class Drawing(msgspec.Struct):
    """A drawing: nested structs, a tagged union, a tuple and a constrained field."""

    name: Annotated[str, msgspec.Meta(min_length=1, description="What the drawing is called.")]
    shapes: list[Shape]
    origin: tuple[float, float] = (0.0, 0.0)
    layer: Literal["back", "front"] = "front"


@dataclass
class Point:
    x: int
    y: int


class Settings(TypedDict):
    theme: str
    volume: int


class Hub:
    """Stands in for wskit's pub/sub hub: injection recognises a class named ``Hub``."""
