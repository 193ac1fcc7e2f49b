"""Limits: the app's (or route's) limit is the authority, whatever the server.

``wskit run`` gives the server the largest limit among the app's routes (``/big``: 4 MiB, over
wskit's 1 MiB default), counted in bytes. Over a route's limit the client gets 1009 *with a
reason*, and the close completes: it never hangs (hypercorn's own 1009, before wskit's adapter
corrected it, left the client waiting for its own timeout).
"""

from __future__ import annotations

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests._services import ServerProcess
from tests.behaviour.apps import BIG_LIMIT, SMALL_LIMIT
from tests.integration._client import close_frame, ws_connect

pytestmark = pytest.mark.integration

DEFAULT_LIMIT = 2**20
EURO = "€"  # three UTF-8 bytes


async def send_over(ws: ClientConnection, message: str | bytes) -> None:
    """Send a message over the limit; a server may close while it is still being sent."""
    try:
        await ws.send(message)
    except ConnectionClosed:
        pass


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/small", SMALL_LIMIT), ("/echo", DEFAULT_LIMIT), ("/big", BIG_LIMIT)],
    ids=["route-below-default", "default", "route-above-default"],
)
async def test_at_the_limit_passes_over_it_closes_1009_with_a_reason(
    served: ServerProcess, path: str, limit: int
) -> None:
    async with ws_connect(served.ws(path), max_size=None) as ws:
        await ws.send(b"x" * limit)  # exactly the route's limit: delivered
        assert await ws.recv() == b"x" * limit
    async with ws_connect(served.ws(path), max_size=None) as ws:
        await send_over(ws, b"x" * (limit + 1))
        code, reason = await close_frame(ws)
    assert code == 1009
    assert reason


async def test_text_counts_utf8_bytes_not_characters(served: ServerProcess) -> None:
    # Fewer characters than the limit, more bytes: over it (hypercorn counted characters).
    text = EURO * (DEFAULT_LIMIT // 3 + 1)
    assert len(text) < DEFAULT_LIMIT < len(text.encode())
    async with ws_connect(served.ws("/echo"), max_size=None) as ws:
        await send_over(ws, text)
        code, reason = await close_frame(ws)
    assert code == 1009
    assert reason
    fits = EURO * (DEFAULT_LIMIT // 3)
    async with ws_connect(served.ws("/echo"), max_size=None) as ws:
        await ws.send(fits)
        assert await ws.recv() == fits
