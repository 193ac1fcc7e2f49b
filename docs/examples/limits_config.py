"""Limits on the App and per route."""

from __future__ import annotations

# isort: split
# --8<-- [start:limits]
from wskit import App, Limits, WebSocket

app = App(limits=Limits(max_message_size=64 * 1024))  # every route: 64 KiB


@app.websocket("/upload", limits=Limits(max_message_size=8 * 2**20))  # this route: 8 MiB
async def upload(ws: WebSocket) -> None:
    async with ws:
        data = await ws.receive_bytes()
        await ws.send_data({"received": len(data)})


@app.websocket("/chat")
async def chat(ws: WebSocket) -> None:
    async with ws:
        async for text in ws.iter_text():
            reply = await ws.receive(str, timeout=30)  # a deadline on this call only
            await ws.send_text(f"{text} / {reply}")


# --8<-- [end:limits]
