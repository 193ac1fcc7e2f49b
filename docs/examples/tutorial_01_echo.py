"""Tutorial 1: a bare ASGI echo server on ``wskit.WebSocket``.

Run it with ``wskit run tutorial_01_echo:app`` (or ``hypercorn tutorial_01_echo:app``) and talk to
it with ``python -m websockets ws://127.0.0.1:8000/``.
"""

from __future__ import annotations

# --8<-- [start:app]
from starlette.types import Receive, Scope, Send

from wskit import WebSocket


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "websocket":
        return  # this app speaks WebSocket only; the App of part 3 answers HTTP too
    ws = WebSocket(scope, receive, send)
    async with ws:  # accept; on the way out: close 1000, or 1011 if the code raised
        async for text in ws.iter_text():  # ends when the client leaves
            await ws.send_text(f"echo: {text}")


# --8<-- [end:app]


# --8<-- [start:explicit]
import logging

from starlette.types import Receive, Scope, Send

from wskit import WebSocket, WebSocketDisconnect

logger = logging.getLogger(__name__)


async def explicit(scope: Scope, receive: Receive, send: Send) -> None:
    """The same echo with every step spelled out, as a Starlette user would write it."""
    if scope["type"] != "websocket":
        return
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    try:
        while True:
            text = await ws.receive_text()
            await ws.send_text(f"echo: {text}")
    except WebSocketDisconnect as exc:
        # The client left: nothing more can be sent, and close() would do nothing.
        logger.info("client left with code %d", exc.code)  # also on ws.close_code


# --8<-- [end:explicit]
