"""``wskit demo --workers 2`` with ``WSKIT_REDIS_URL``: one chat served by two processes.

Clients connect until some land on each worker (the session id names the process), then all
of them join one room: every client sees every other in the presence list, and a message sent
through one worker reaches the clients of the other. The workers run hypercorn's trio worker,
so this also runs the demo (hub, Redis backend and store) on trio in a real server.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest

from tests._services import REPO_ROOT, free_port, redis_server, timeout
from tests.integration._client import ws_connect

pytestmark = [pytest.mark.redis, pytest.mark.integration]

LISTENING = re.compile(r"wskit listening on (\S+)")


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """The websockets client runs on asyncio; the server's loop is trio (in its processes)."""
    return ("asyncio", {})


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@asynccontextmanager
async def demo_workers(redis_url: str, port: int) -> AsyncIterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSKIT_")}
    env.update(WSKIT_REDIS_URL=redis_url, WSKIT_PORT=str(port), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "wskit", "demo", "--workers", "2", "--worker", "trio"]
    process = await anyio.open_process(
        [*command, "--log-level", "warning"], cwd=REPO_ROOT, env=env, stderr=None
    )
    try:
        assert process.stdout is not None
        output = b""
        with anyio.fail_after(timeout(20)):
            while (match := LISTENING.search(output.decode())) is None:
                output += await process.stdout.receive()
        yield match.group(1).replace("http://", "ws://")
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.terminate()
                with anyio.move_on_after(timeout(15)):
                    await process.wait()
            if process.returncode is None:  # pragma: no cover - a hung server
                process.kill()
                await process.wait()
            await process.aclose()


async def next_of(ws: Any, kind: str, room: str | None = None) -> dict[str, Any]:
    with anyio.fail_after(timeout(10)):
        while True:
            envelope: dict[str, Any] = json.loads(await ws.recv())
            if envelope["type"] == kind and (room is None or envelope["payload"]["room"] == room):
                return envelope


async def test_two_workers_share_one_chat(redis_url: str) -> None:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    async with demo_workers(redis_url, port) as base, AsyncExitStack() as stack:
        # Until both workers have two clients: a worker still starting accepts nothing, and
        # one worker may win every accept for a while, so extra connections are closed again.
        clients: dict[str, list[Any]] = {}  # worker id -> connections
        with anyio.fail_after(timeout(30)):
            for n in itertools.count():
                ws = await stack.enter_async_context(
                    ws_connect(f"{base}/ws?name=user{n}", origin=origin)
                )
                session = await next_of(ws, "session")
                group = clients.setdefault(session["payload"]["sid"].split("-")[0], [])
                if len(group) < 2:
                    group.append(ws)
                    if len(clients) == 2 and all(len(g) == 2 for g in clients.values()):
                        break
                else:
                    await ws.close()
                    await anyio.sleep(0.02)
        everyone = [ws for group in clients.values() for ws in group]
        for ws in everyone:
            await ws.send(json.dumps({"type": "room.join", "payload": {"room": "lobby"}}))
            await next_of(ws, "history")
        # The last presence each client gets lists everyone, whichever worker serves them.
        for ws in everyone:
            while len((await next_of(ws, "presence", "lobby"))["payload"]["members"]) < len(
                everyone
            ):
                pass
        first, second = (group[0] for group in clients.values())
        payload = {"room": "lobby", "text": "across workers"}
        await first.send(json.dumps({"type": "message.send", "payload": payload}))
        new = await next_of(second, "message.new")
        assert new["payload"]["text"] == "across workers"
