"""``--workers 2`` with a Redis hub, on every server: one room across two processes.

Clients connect, a few at a time, until both worker processes serve some (each says which
process it is);
a message published through one reaches every client, on both; SIGTERM then closes every
client with 1001 and the server exits 0 without a traceback.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator

import anyio
import msgspec
import pytest
from websockets.asyncio.client import ClientConnection

from tests._services import redis_server, server_process, timeout
from tests.behaviour.apps import REDIS_ENV
from tests.behaviour.conftest import SERVERS, require_server
from tests.integration._client import close_frame, ws_connect

pytestmark = [pytest.mark.integration, pytest.mark.redis]

MAX_CLIENTS = 80
BATCH = 8


class Hello(msgspec.Struct):
    node: int
    text: str | None = None


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("asyncio", {})


async def _receive(ws: ClientConnection) -> Hello:
    with anyio.fail_after(timeout(10)):
        return msgspec.json.decode(await ws.recv(), type=Hello)


@pytest.mark.parametrize("kind", SERVERS)
async def test_workers_share_a_room_through_redis(kind: tuple[str, str], redis_url: str) -> None:
    server, worker = kind
    require_server(server, worker)
    env = {REDIS_ENV: redis_url, "WSKIT_BEHAVIOUR_PREFIX": uuid.uuid4().hex}
    args = ["--workers", "2"]
    app = "tests.behaviour.apps:hub_app"
    clients: dict[int, list[ClientConnection]] = {}
    async with server_process(app, server=server, worker=worker, args=args, env=env) as process:

        async def connect() -> None:
            ws = await ws_connect(process.ws("/room"))
            clients.setdefault((await _receive(ws)).node, []).append(ws)

        # Concurrent handshakes wake both processes (one after the other, one keeps winning).
        for _ in range(MAX_CLIENTS // BATCH):
            async with anyio.create_task_group() as tg:
                for _ in range(BATCH):
                    tg.start_soon(connect)
            if len(clients) == 2:
                break
        assert len(clients) == 2  # both processes serve clients
        everyone = [ws for group in clients.values() for ws in group]
        for publisher in (group[0] for group in clients.values()):
            await publisher.send("hello")
            heard = [await _receive(ws) for ws in everyone]
            assert {hello.text for hello in heard} == {"hello"}
        process.send_signal(signal.SIGTERM)
        codes = [(await close_frame(ws))[0] for ws in everyone]
        assert await process.wait() == 0
    assert codes == [1001] * len(everyone)
    stderr = process.stderr_text()
    assert "Traceback" not in stderr, stderr
    assert "ERROR" not in stderr, stderr
