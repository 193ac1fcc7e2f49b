"""SIGTERM and SIGINT: every wskit connection gets 1001, the server exits 0, no traceback.

Whatever the app: a ``wskit.App``; a Starlette app whose wskit routes share a ``Registry``
drained from its lifespan (under hypercorn alone the clients got their 1001 only after the
10 s graceful timeout, with a CancelledError traceback); a raw ASGI app that builds
``wskit.WebSocket`` itself. The drain must be prompt: the servers run with a 30 s graceful
timeout and drain timeout, and the test waits at most 15 s for the closes, so a server that
waited for either instead of draining at once fails (the prompt drain takes milliseconds:
``benchmarks``' load runs and the docs give the figure). Two clients that flood ``/flood`` and
never answer its close (streams hypercorn used to keep forever) are there too.
"""

from __future__ import annotations

import signal

import anyio
import anyio.abc
import pytest
from websockets.asyncio.client import ClientConnection

from tests._services import server_process
from tests.behaviour.conftest import SERVERS, require_server
from tests.integration._client import close_frame, connect_live

pytestmark = pytest.mark.integration

CLIENTS = 10
SLOW = ["--graceful-timeout", "30", "--drain-timeout", "30"]
APPS = {
    "App": "tests.behaviour.apps:app",
    "Starlette": "tests.behaviour.apps:starlette_app",
    "raw": "tests.behaviour.apps:raw_app",
}
CASES = [
    pytest.param("App", signal.SIGTERM, id="App-SIGTERM"),
    pytest.param("App", signal.SIGINT, id="App-SIGINT"),
    pytest.param("Starlette", signal.SIGTERM, id="Starlette-SIGTERM"),
    pytest.param("raw", signal.SIGTERM, id="raw-SIGTERM"),
]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("asyncio", {})


@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize(("app", "signum"), CASES)
async def test_signal_closes_every_wskit_connection_with_1001(
    kind: tuple[str, str], app: str, signum: signal.Signals
) -> None:
    server_name, worker = kind
    require_server(server_name, worker)
    codes: list[int] = []
    async with (
        server_process(APPS[app], server=server_name, worker=worker, args=SLOW) as server,
        anyio.create_task_group() as flooders,
    ):
        clients: list[ClientConnection] = []
        await connect_live(server.ws("/echo"), CLIENTS, clients)
        if app == "App":  # streams closed by wskit whose client keeps sending, never reads
            for _ in range(2):
                await flooders.start(_stuck_flooder, server.port)
        async with anyio.create_task_group() as tg:
            server.send_signal(signum)

            async def one(ws: ClientConnection) -> None:
                codes.append((await close_frame(ws, deadline=15))[0])

            for ws in clients:
                tg.start_soon(one, ws)
        assert await server.wait(deadline=40) == 0
        flooders.cancel_scope.cancel()
    assert codes == [1001] * CLIENTS
    stderr = server.stderr_text()
    assert "Traceback" not in stderr, stderr
    assert "ERROR" not in stderr, stderr


async def _stuck_flooder(
    port: int, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Open ``/flood``, send 200 messages, then hold the socket without reading another byte."""
    frame = b"\x81\xe4\x00\x00\x00\x00" + b"x" * 100  # masked text, zero key (RFC 6455 5.3)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(
            b"GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive()
        assert head.startswith(b"HTTP/1.1 101 "), head
        await stream.send(frame * 200)
        task_status.started()
        await anyio.sleep_forever()
