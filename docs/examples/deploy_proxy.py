"""Behind a reverse proxy: trust its X-Forwarded-* headers, and keep the graceful drain."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
from hypercorn.middleware import ProxyFixMiddleware

from wskit import App, WebSocket

realtime = App(origins=["https://chat.example.com"])


@realtime.websocket("/ws")
async def whoami(ws: WebSocket) -> None:
    async with ws:
        client = ws.client.host if ws.client else None
        await ws.send_data({"client": client, "secure": ws.url.is_secure})
        async for text in ws.iter_text():
            await ws.send_text(text)


class BehindProxy(ProxyFixMiddleware):
    """hypercorn's proxy fix: client address and scheme from the proxy's X-Forwarded-* headers.

    ``shutdown`` passes the App's drain through, so ``wskit run`` still closes every
    connection with 1001 before the server stops.
    """

    async def shutdown(self, timeout: float | None = None) -> None:
        await realtime.shutdown(timeout)


# Trust exactly one proxy in front of the server: its headers, and nobody else's.
# (hypercorn types ASGI apps with TypedDicts; wskit's App takes any ASGI mapping.)
app = BehindProxy(realtime, mode="legacy", trusted_hops=1)  # type: ignore[arg-type]
# --8<-- [end:app]
