"""Overflow policies: prices where the latest wins, orders where every message counts."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
import contextlib
from collections.abc import AsyncIterator

from wskit import App, WebSocket
from wskit.pubsub import Hub

hub = Hub(max_queue=8, overflow="drop_oldest", send_timeout=2.0)


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[None]:
    async with hub:
        yield


app = App(lifespan=lifespan)


@app.websocket("/prices")
async def prices(ws: WebSocket) -> None:
    async with ws:
        await hub.subscribe(ws, "prices")  # a slow client skips to the latest prices
        async for _ in ws.iter_text():
            pass


@app.websocket("/orders")
async def orders(ws: WebSocket) -> None:
    async with ws:
        # Every order counts: rather than lose one, evict a slow client (close 1013);
        # it reconnects and fetches what it missed.
        await hub.subscribe(ws, "orders", overflow="close")
        async for _ in ws.iter_text():
            pass


# --8<-- [end:app]
