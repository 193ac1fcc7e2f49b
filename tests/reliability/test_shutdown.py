"""The server shuts down with live connections of every kind.

Defined outcome: every client sees 1001, every handler has ended (its ``finally`` ran) by the
time the server has stopped, the drain keeps its deadline, and nothing is logged at ERROR.

``tests/integration/test_drain.py`` checks 1001 for idle echo clients (signals, workers, unix
sockets); this file adds handlers that make the drain's life hard: one that only sends (it
never reads the disconnect), one that ignores the close (cancelled at the deadline), two in
the middle of a hub broadcast, all under a lifespan timer; and handshakes that arrive during
the drain (refused with 503).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests._services import running_server, timeout
from tests.integration._client import close_frame, ws_connect
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub

from ._helpers import ASYNCIO_CLIENT, Records, wait_until

DRAIN = 0.5


def hard_app(hub: Hub, ended: list[str]) -> App:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        async with hub:
            yield

    app = App(drain_timeout=DRAIN, lifespan=lifespan, max_lifespan=3600)

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        try:
            async with ws:
                async for text in ws.iter_text():
                    await ws.send_text(text)
        finally:
            ended.append("echo")

    @app.websocket("/push")
    async def push(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text("tick")
                await anyio.sleep(0.01)
        except WebSocketDisconnect:
            pass
        finally:
            ended.append("push")

    @app.websocket("/stuck")
    async def stuck(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("stuck")
        try:
            await anyio.sleep_forever()
        finally:
            ended.append("stuck")

    @app.websocket("/room")
    async def room(ws: WebSocket) -> None:
        await ws.accept()
        await hub.subscribe(ws, "room")
        try:
            await ws.send_text("joined")
            while True:
                await ws.receive_text()
                await hub.publish("room", "x" * 1000)
        except WebSocketDisconnect:
            pass
        finally:
            ended.append("room")

    return app


@pytest.mark.integration
@ASYNCIO_CLIENT
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
async def test_shutdown_with_every_kind_of_handler(records: Records, worker: str) -> None:
    ended: list[str] = []
    hub = Hub(max_queue=64)
    app = hard_app(hub, ended)
    clients: dict[str, ClientConnection] = {}
    async with running_server(app, worker=worker, drain_timeout=DRAIN) as server:
        for path in ("echo", "push", "stuck", "room", "room"):
            ws = await ws_connect(server.ws(f"/{path}"))
            clients[f"{path}{len(clients)}"] = ws
        await clients["echo0"].send("hi")
        assert await clients["echo0"].recv() == "hi"
        assert await clients["stuck2"].recv() == "stuck"
        assert await clients["room3"].recv() == "joined"
        assert await clients["room4"].recv() == "joined"
        await clients["room3"].send("go")  # a broadcast is on its way during the drain
        assert len(app.connections) == 5
        start = time.monotonic()
        codes: dict[str, tuple[int, str]] = {}

        async def read_close(name: str, ws: ClientConnection) -> None:
            codes[name] = await close_frame(ws)

        async with anyio.create_task_group() as tg:
            for name, ws in clients.items():
                tg.start_soon(read_close, name, ws)
            await server.shutdown()
        stopped = time.monotonic() - start
    assert codes == dict.fromkeys(clients, (1001, "server shutting down"))
    assert sorted(ended) == ["echo", "push", "room", "room", "stuck"]
    # The drain's deadline, the cancel grace (1 s) and the server's own stop, with slack.
    assert stopped < DRAIN + 1.0 + timeout(3), stopped
    assert records.errors == []


@pytest.mark.integration
@ASYNCIO_CLIENT
async def test_handshakes_during_the_drain_are_refused_with_503(records: Records) -> None:
    ended: list[str] = []
    hub = Hub()
    app = hard_app(hub, ended)
    async with running_server(app, drain_timeout=DRAIN) as server:
        stuck = await ws_connect(server.ws("/stuck"))
        assert await stuck.recv() == "stuck"
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.shutdown)
            await wait_until(lambda: app.registry.closing)
            with pytest.raises((InvalidStatus, OSError)) as info:
                await ws_connect(server.ws("/echo"))
            if isinstance(info.value, InvalidStatus):  # else the listener was already closed
                assert info.value.response.status_code == 503
            assert await close_frame(stuck) == (1001, "server shutting down")
    assert ended == ["stuck"]
    assert records.errors == []
