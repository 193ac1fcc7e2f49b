"""The ``websockets`` asyncio client, configured for loopback tests."""

from __future__ import annotations

from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests._services import timeout

__all__ = ["close_frame", "connect_live", "ws_connect"]


def ws_connect(url: str, **options: Any) -> connect:
    """``websockets.asyncio.client.connect`` without proxies, compression or pings.

    Proxies from the environment must not capture 127.0.0.1; compression and keepalive
    pings would only add noise to what the tests measure.
    """
    defaults: dict[str, Any] = {
        "proxy": None,
        "compression": None,
        "ping_interval": None,
        "open_timeout": timeout(10),
        "close_timeout": timeout(10),
    }
    return connect(url, **{**defaults, **options})


async def close_frame(ws: ClientConnection, deadline: float = 10.0) -> tuple[int, str]:
    """Read until the server closes; return the close code and reason it sent."""
    try:
        with anyio.fail_after(timeout(deadline)):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        if exc.rcvd is None:
            return 1006, ""
        return exc.rcvd.code, exc.rcvd.reason


async def connect_live(url: str, count: int, out: list[ClientConnection]) -> None:
    """Open ``count`` connections to an echo route at once, each once its handler answers."""

    async def one() -> None:
        ws = await ws_connect(url)
        await ws.send("ready?")
        assert await ws.recv() == "ready?"  # the handler runs: the connection is live
        out.append(ws)

    async with anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(one)
