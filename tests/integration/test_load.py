"""Many clients at once: 200 connections x 100 sequence-numbered messages, echoes in order."""

from __future__ import annotations

import anyio
import pytest

from tests._services import server_process, timeout
from tests.integration._client import ws_connect

pytestmark = pytest.mark.integration

CLIENTS = 200
MESSAGES = 100


async def test_concurrent_clients_receive_every_echo_in_order(worker: str) -> None:
    # The server runs in its own process so that it and the clients use both CI cores.
    received: dict[int, list[str]] = {}

    async def client(number: int) -> None:
        async with ws_connect(server.ws("/echo")) as ws:
            got = received[number] = []

            async def send_all() -> None:
                for seq in range(MESSAGES):
                    await ws.send(f"{number}:{seq}")

            async with anyio.create_task_group() as tg:
                tg.start_soon(send_all)
                for _ in range(MESSAGES):
                    got.append(str(await ws.recv()))

    async with server_process("tests.integration.apps:app", worker=worker) as server:
        with anyio.fail_after(timeout(60)):
            async with anyio.create_task_group() as tg:
                for number in range(CLIENTS):
                    tg.start_soon(client, number)
    assert len(received) == CLIENTS
    for number, got in received.items():
        assert got == [f"{number}:{seq}" for seq in range(MESSAGES)]
