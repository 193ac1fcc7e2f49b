"""The apps the end-to-end tests serve (importable as ``tests.integration.apps:app``).

One :class:`wskit.app.App` with a route per behaviour under test. ``make_app(observed)``
builds a fresh one whose ``/observe`` route reports the close code and reason the server
gave the app when the client left (the hypercorn/uvicorn cross-check reads them).
"""

from __future__ import annotations

import queue

import msgspec

from wskit.app import App
from wskit.connection import Limits, WebSocket
from wskit.exceptions import Denied, WebSocketDisconnect

#: wskit's own inbound limit on ``/small`` (bytes).
SMALL_LIMIT = 1024


class Tick(msgspec.Struct):
    """A typed message: ``{"seq": 1, "text": "..."}``."""

    seq: int
    text: str


async def _refuse(ws: WebSocket) -> None:
    raise Denied(401, b"who are you?", {"www-authenticate": "Bearer"})


def make_app(observed: queue.Queue[tuple[int | None, str | None]] | None = None) -> App:
    """A fresh app; ``observed`` receives ``(close_code, close_reason)`` from ``/observe``."""
    app = App()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])

    @app.websocket("/json")
    async def json_echo(ws: WebSocket) -> None:
        async with ws:
            async for value in ws.iter_json():
                await ws.send_json({"echo": value})

    @app.websocket("/typed")
    async def typed(ws: WebSocket) -> None:
        async with ws:
            async for tick in ws.iter_data(Tick):
                await ws.send_data(Tick(tick.seq + 1, tick.text.upper()))

    @app.websocket("/small", limits=Limits(max_message_size=SMALL_LIMIT))
    async def small(ws: WebSocket) -> None:
        async with ws:
            async for text in ws.iter_text():
                await ws.send_text(text)

    @app.websocket("/private", authenticate=_refuse)
    async def private(ws: WebSocket) -> None:  # pragma: no cover - never reached
        await ws.accept()

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        async with ws:
            await ws.receive_text()
            raise RuntimeError("boom (raised on purpose by the test app)")

    @app.websocket("/close/{code:int}")
    async def close(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(ws.path_params["code"], "closed by the app")

    @app.websocket("/observe")
    async def observe(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect as exc:
            if observed is not None:
                observed.put((exc.code, exc.reason))
            raise

    return app


app = make_app()
