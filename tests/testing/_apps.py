"""Small raw ASGI applications and settings shared by the tests of ``wskit.testing``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wskit._types import Receive, Scope, Send

App = Callable[[Scope, Receive, Send], Awaitable[None]]
SHORT = 0.05  # seconds: for timeouts that must fire, where nothing has to succeed first
#: A client-wide deadline that must fire after steps that must succeed within it (a handshake,
#: a denial, a lifespan startup): wide enough for those steps on a busy machine.
CLIENT_TIMEOUT = 0.5
# How a scaled client timeout appears in messages (WSKIT_TESTS_TIMEOUT_FACTOR may be set).
SECONDS = r"[0-9.e+-]+ s"


async def accept(receive: Receive, send: Send, **extra: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", **extra})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo every frame back with its kind, until the client disconnects."""
    if scope["type"] != "websocket":
        raise RuntimeError("websocket only")
    await accept(receive, send)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send(
            {"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")}
        )
