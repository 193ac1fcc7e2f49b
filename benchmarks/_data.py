"""Seeded, realistic benchmark payloads (``seed=42``): the same chat message in three shapes.

A chat message has five fields and encodes to about 150 bytes of compact JSON::

    {"id":1000042,"room":"general","user":"mara.k","text":"...","sent_at":1767225600.125}

It exists as a msgspec :class:`Chat` Struct, as a pydantic v2 :class:`ChatModel` and as a plain
``dict``, built from the same random draws, so every contender handles identical bytes. The
texts are words from a small vocabulary with an occasional non-ASCII word, as real chat is.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pydantic

__all__ = [
    "SEED",
    "Chat",
    "ChatModel",
    "chat_dicts",
    "chat_json",
    "chat_msgpack",
    "chats",
    "chat_models",
]

SEED = 42

_ROOMS = ("general", "random", "support", "dev-ops", "announcements", "lounge")
_USERS = ("mara.k", "jdoe", "li_wei", "sam", "noor.h", "alex99", "renée", "kwame_a", "ola")
_WORDS = (
    "the build is green again after the flaky test got fixed",
    "can someone review my pull request before lunch please",
    "deploying to staging now, expect a short blip on the dashboard",
    "sounds good to me, ship it once the migration has run",
    "the redis cluster failover took less than a second this time",
    "does anyone know why the websocket closes with 1006 behind the proxy",
    "merci, ça marche maintenant",
    "latency p99 dropped from 80ms to 35ms with the new codec",
    "I will be out tomorrow, ping me on the thread if it is urgent",
    "👍 thanks for the quick turnaround",
)


class Chat(msgspec.Struct):
    """A chat message as a msgspec Struct (five fields, ~150 bytes of JSON)."""

    id: int
    room: str
    user: str
    text: str
    sent_at: float


class ChatModel(pydantic.BaseModel):
    """The same chat message as a pydantic v2 model."""

    id: int
    room: str
    user: str
    text: str
    sent_at: float


def chat_dicts(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``n`` chat messages as dicts, identical for a given ``seed``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = rng.choice(_WORDS)
        if len(text) < 60:
            text = f"{text} {rng.choice(_WORDS)}"
        out.append(
            {
                "id": 1_000_000 + i,
                "room": rng.choice(_ROOMS),
                "user": rng.choice(_USERS),
                "text": text if len(text) <= 80 else text[:80].rsplit(" ", 1)[0],
                "sent_at": 1_767_225_600 + rng.randrange(0, 86_400_000) / 1000,
            }
        )
    return out


def chats(n: int, seed: int = SEED) -> list[Chat]:
    """``n`` chat messages as :class:`Chat` Structs."""
    return [Chat(**d) for d in chat_dicts(n, seed)]


def chat_models(n: int, seed: int = SEED) -> list[ChatModel]:
    """``n`` chat messages as :class:`ChatModel` pydantic models."""
    return [ChatModel(**d) for d in chat_dicts(n, seed)]


def chat_json(n: int, seed: int = SEED) -> list[str]:
    """``n`` chat messages as compact JSON text (what a browser sends in a text frame)."""
    encode = msgspec.json.Encoder().encode
    return [encode(d).decode() for d in chat_dicts(n, seed)]


def chat_msgpack(n: int, seed: int = SEED) -> list[bytes]:
    """``n`` chat messages as MessagePack (what a binary-codec client sends)."""
    encode = msgspec.msgpack.Encoder().encode
    return [encode(d) for d in chat_dicts(n, seed)]
