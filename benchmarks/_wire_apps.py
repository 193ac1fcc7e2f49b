"""The typed echo apps ``bench_wire.py`` serves, one per contender (imported by the servers).

Each app answers every text frame holding a :class:`~benchmarks._data.Chat` (five fields,
~150 bytes of JSON) with the decoded and re-encoded message, and speaks the lifespan
protocol, so that every server treats the contenders alike.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from benchmarks._data import Chat, ChatModel
from benchmarks.bench_connection import raw_msgspec
from wskit.app import App
from wskit.connection import WebSocket

__all__ = ["raw", "starlette", "wskit"]

Message = dict[str, Any]


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def raw(scope: Message, receive: Any, send: Any) -> None:
    """Raw ASGI + msgspec: a cached ``Decoder(Chat)`` and ``Encoder`` (the baseline).

    The echo itself is ``bench_connection.raw_msgspec``, so both benchmarks measure one baseline.
    """
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await raw_msgspec(scope, receive, send)


wskit = App()


@wskit.websocket("/")
async def _wskit_echo(ws: WebSocket) -> None:
    """wskit: ``receive(Chat)`` and ``send_data`` behind ``wskit.App`` routing."""
    await ws.accept()
    while True:
        await ws.send_data(await ws.receive(Chat))


async def _starlette_echo(ws: StarletteWebSocket) -> None:
    """Starlette + pydantic v2: ``receive_json``, ``model_validate``, ``send_json(dump)``."""
    await ws.accept()
    try:
        while True:
            chat = ChatModel.model_validate(await ws.receive_json())
            await ws.send_json(chat.model_dump())
    except StarletteDisconnect:
        pass


starlette = Starlette(routes=[WebSocketRoute("/", _starlette_echo)])
