"""The home page's example: a typed chat echo on the App, about twenty lines."""

from __future__ import annotations

import msgspec

from wskit import App, WebSocket


class Chat(msgspec.Struct):
    user: str
    text: str


app = App()


@app.websocket("/chat/{room}")
async def chat(ws: WebSocket) -> None:
    room = ws.path_params["room"]
    async with ws:  # accept; close 1000 on return, 1011 (logged once) on an error
        async for message in ws.iter_data(Chat):  # decoded and validated by msgspec
            await ws.send_data(Chat(user=f"{message.user}@{room}", text=message.text.upper()))
