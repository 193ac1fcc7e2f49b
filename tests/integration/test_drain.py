"""Graceful shutdown: every client sees 1001, the server exits 0 and logs no traceback.

hypercorn alone would cancel the handlers after ``graceful_timeout`` (clients see 1006 or
1011); wskit's serving loop awaits ``app.shutdown()`` first. The signal tests run
``python -m wskit run`` in a subprocess, as production does.
"""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import ClientConnection

from tests._services import raw_ws_connect, running_server, server_process
from tests.integration._client import close_frame, connect_live
from tests.integration.apps import make_app

pytestmark = pytest.mark.integration

APP = "tests.integration.apps:app"
CLIENTS = 20


async def _close_codes(clients: list[ClientConnection]) -> list[tuple[int, str]]:
    codes: list[tuple[int, str]] = []

    async def one(ws: ClientConnection) -> None:
        codes.append(await close_frame(ws))

    async with anyio.create_task_group() as tg:
        for ws in clients:
            tg.start_soon(one, ws)
    return codes


def _assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert "[ERROR]" not in stderr, stderr
    assert "draining" in stderr, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_drains_every_client_with_1001(worker: str, signum: signal.Signals) -> None:
    async with server_process(APP, worker=worker) as server:
        clients: list[ClientConnection] = []
        await connect_live(server.ws("/echo"), CLIENTS, clients)
        server.send_signal(signum)
        codes = await _close_codes(clients)
        assert await server.wait() == 0
    assert codes == [(1001, "server shutting down")] * CLIENTS
    _assert_clean(server.stderr_text())


async def test_workers_drain_every_client_with_1001() -> None:
    async with server_process(APP, args=["--workers", "2"]) as server:
        clients: list[ClientConnection] = []
        await connect_live(server.ws("/echo"), CLIENTS, clients)
        server.send_signal(signal.SIGTERM)
        codes = await _close_codes(clients)
        assert await server.wait() == 0
    assert codes == [(1001, "server shutting down")] * CLIENTS
    stderr = server.stderr_text()
    assert "stopping 2 workers" in stderr
    assert "Traceback" not in stderr, stderr
    assert "[ERROR]" not in stderr, stderr


async def test_in_process_shutdown_drains(worker: str) -> None:
    async with running_server(make_app(), worker=worker) as server:
        clients: list[ClientConnection] = []
        await connect_live(server.ws("/echo"), CLIENTS, clients)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.shutdown)
            codes = await _close_codes(clients)
    assert codes == [(1001, "server shutting down")] * CLIENTS


async def test_workers_on_a_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "wskit.sock")
    async with server_process(APP, args=["--uds", path, "--workers", "2"]) as server:
        assert server.url == f"unix:{path}"
        async with raw_ws_connect("ws://localhost/echo", uds=path) as client:
            await client.send("over a unix socket")
            assert await client.receive() == "over a unix socket"
            server.send_signal(signal.SIGTERM)
            assert await client.wait_closed() == (1001, "server shutting down")
        assert await server.wait() == 0
    assert "Traceback" not in server.stderr_text()
    assert not await anyio.Path(path).exists()  # removed by the parent, once
