"""Close codes across servers: the same app under hypercorn (both workers) and uvicorn.

What the *client* sees is the same everywhere, because wskit sends every close itself.
What the *app* sees when the client closes differs: hypercorn 0.18 reports every
client-initiated close to the app as ``websocket.disconnect`` with code 1006 and no
reason (``WSStream.handle`` uses 1006 unless the app closed first), while uvicorn passes
the client's code and reason through. Apps must not rely on the client's close code.
"""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from websockets.exceptions import InvalidStatus

from tests._services import RunningServer, running_server, timeout, uvicorn_server
from tests.integration._client import close_frame, ws_connect
from tests.integration.apps import make_app

pytestmark = pytest.mark.integration

SERVERS = ["hypercorn-asyncio", "hypercorn-trio", "uvicorn"]
Observed = queue.Queue[tuple[int | None, str | None]]


@asynccontextmanager
async def serve(kind: str, observed: Observed) -> AsyncIterator[RunningServer]:
    app = make_app(observed)
    if kind == "uvicorn":
        async with uvicorn_server(app) as server:
            yield server
    else:
        async with running_server(app, worker=kind.removeprefix("hypercorn-")) as server:
            yield server


@pytest.mark.parametrize("kind", SERVERS)
async def test_client_close_code_as_seen_by_the_app(kind: str) -> None:
    observed: Observed = queue.Queue()
    async with serve(kind, observed) as server:
        async with ws_connect(server.ws("/observe")) as ws:
            await ws.send("hello")
            await ws.close(4001, "bye")
        code, reason = await anyio.to_thread.run_sync(observed.get, True, timeout(10))
    if kind == "uvicorn":
        assert (code, reason) == (4001, "bye")
    else:  # hypercorn 0.18 hides the client's code: documented in the module docstring
        assert (code, reason or "") == (1006, "")


@pytest.mark.parametrize("kind", SERVERS)
async def test_close_codes_seen_by_the_client(kind: str) -> None:
    async with serve(kind, queue.Queue()) as server:
        async with ws_connect(server.ws("/boom")) as ws:
            await ws.send("go")
            assert await close_frame(ws) == (1011, "internal error")
        async with ws_connect(server.ws("/close/4000")) as ws:
            assert await close_frame(ws) == (4000, "closed by the app")
        async with ws_connect(server.ws("/echo")) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        with pytest.raises(InvalidStatus) as caught:
            async with ws_connect(server.ws("/private")):
                pass  # pragma: no cover
        assert caught.value.response.status_code == 401
