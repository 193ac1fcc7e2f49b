"""Serving a wskit handler inside a Litestar app, as a Litestar ``asgi`` route."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
from litestar import Litestar, asgi, get
from litestar.types import Receive, Scope, Send

from wskit import Registry, WebSocket
from wskit.contrib.starlette import Endpoint


async def order_updates(ws: WebSocket) -> None:
    order_id: int = ws.path_params["order_id"]  # parsed by Litestar's router
    async with ws:
        await ws.send_data({"order": order_id, "status": "packed"})
        async for text in ws.iter_text():
            await ws.send_data({"order": order_id, "ack": text})


registry = Registry(max_connections=10_000)  # tracks connections for the drain
orders = Endpoint(order_updates, registry=registry, origins=["https://shop.example.com"])


@asgi("/ws/orders/{order_id:int}", copy_scope=True)
async def orders_route(scope: Scope, receive: Receive, send: Send) -> None:
    # Litestar types the scope as a TypedDict; wskit takes any ASGI scope mapping.
    await orders(scope, receive, send)  # type: ignore[arg-type]


async def drain() -> None:
    """Close live sockets with 1001 before the server stops."""
    await registry.shutdown()


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[orders_route, health], on_shutdown=[drain])
# --8<-- [end:app]
