"""Real ``WebSocket`` objects over a minimal in-memory ASGI server, for the hub's direct port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from wskit.codecs import JSON, Codec
from wskit.connection import DEFAULT_LIMITS, Limits, WebSocket

from ._wait import Changes

Message = MutableMapping[str, Any]


class Peer:
    """The server side of one connection: records what the app sent; can block or fail."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.gate: anyio.Event | None = None
        self.error: BaseException | None = None
        self.disconnect = anyio.Event()
        self._changes = Changes()

    @property
    def frames(self) -> list[str | bytes]:
        frames: list[str | bytes] = [
            m["text"] if m.get("text") is not None else m["bytes"]
            for m in self.sent
            if m["type"] == "websocket.send"
        ]
        return frames

    async def send(self, message: Message) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.sent.append(message)
        self._changes.notify()

    async def wait_frames(self, count: int, seconds: float = 5.0) -> list[str | bytes]:
        await self._changes.until(lambda: len(self.frames) >= count, seconds)
        return self.frames


async def open_ws(
    peer: Peer | None = None,
    *,
    codec: Codec = JSON,
    limits: Limits = DEFAULT_LIMITS,
    send: Callable[[Message], Awaitable[None]] | None = None,
) -> tuple[WebSocket, Peer]:
    """An accepted WebSocket whose server is ``peer`` (or the given ``send``)."""
    peer = peer or Peer()
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await peer.disconnect.wait()
        return {"type": "websocket.disconnect", "code": 1001}

    ws = WebSocket({"type": "websocket"}, receive, send or peer.send, codec=codec, limits=limits)
    await ws.accept()
    peer.sent.clear()
    return ws, peer
