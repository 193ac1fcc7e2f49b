"""A subscriber stalls forever during a broadcast.

Defined outcome: the stalled connection is evicted per policy (close 1013: its outbox
overflowed under ``overflow="close"``, or a send missed ``send_timeout``), its subscription and
writer task end, and every other subscriber gets every message in order **before** the
stalled one is even evicted (nobody waits for it). That last claim is shown with a send
deadline no test run reaches, so a busy machine cannot make it pass or fail by the clock; the
eviction itself is shown with a short deadline, by its outcome (1013, in order, nothing lost
for the others), not by when it happened.

``tests/pubsub/test_slow_consumer.py`` checks the hub itself (one stalled peer among 100, every
policy, bounded outboxes). This file runs the whole stack instead: an App and real
connections from the test client (one whose buffer of a single message is never read), with
the deadline-based eviction, the 1013 seen on the connection, the writer task gone and the
task count back to where it was; and through hypercorn with a TCP client that stops reading
(the kernel's buffers fill, then the server's send blocks).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from tests._services import running_server, timeout
from tests.integration._client import ws_connect
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.pubsub.outbox import OverflowPolicy
from wskit.testing import TestClient

from ._helpers import ASYNCIO_CLIENT, Records, count_tasks, settled_tasks, wait_until

HEALTHY = 3
MESSAGES = 40


def room_app(hub: Hub, joined: list[WebSocket]) -> App:
    app = App()

    @app.websocket("/room")
    async def room(ws: WebSocket) -> None:
        await ws.accept()
        await hub.subscribe(ws, "room")
        joined.append(ws)
        await ws.send_text("joined")
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    return app


@contextlib.asynccontextmanager
async def stalled_and_healthy(app: App) -> AsyncIterator[tuple[Any, list[Any]]]:
    """One client whose buffer holds a single message and who never reads (its server-side
    send blocks once that buffer is full), then HEALTHY clients that have joined."""
    async with (
        TestClient(app, max_queue=1) as stalled_client,
        TestClient(app) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        stalled = await stack.enter_async_context(stalled_client.websocket_connect("/room"))
        healthy = [
            await stack.enter_async_context(client.websocket_connect("/room"))
            for _ in range(HEALTHY)
        ]
        for conn in healthy:
            assert await conn.receive_text() == "joined"
        yield stalled, healthy


async def publish_and_receive_everything(hub: Hub, healthy: list[Any]) -> None:
    for n in range(MESSAGES):
        await hub.publish("room", n)
    for conn in healthy:
        assert [await conn.receive_json() for _ in range(MESSAGES)] == list(range(MESSAGES))


@pytest.mark.parametrize(
    ("overflow", "send_timeout"),
    [("close", None), ("drop_oldest", 0.3), ("drop_newest", 0.3)],
    ids=["overflow-close", "deadline-drop-oldest", "deadline-drop-newest"],
)
async def test_stalled_subscriber_is_evicted_and_the_others_get_everything(
    records: Records, overflow: OverflowPolicy, send_timeout: float | None
) -> None:
    joined: list[WebSocket] = []
    before = count_tasks()
    async with (
        Hub(max_queue=4, overflow=overflow, send_timeout=send_timeout) as hub,
        stalled_and_healthy(room_app(hub, joined)) as (_, healthy),
    ):
        await publish_and_receive_everything(hub, healthy)
        await wait_until(lambda: joined[0] not in hub.subscribers("room"))
        await wait_until(lambda: joined[0].close_code is not None)
        assert joined[0].close_code == 1013
        assert len(hub.subscribers("room")) == HEALTHY
        assert hub.statistics().evicted == 1
        await wait_until(lambda: hub.statistics().writers == 0)  # its writer task ended
        # Late messages go to the healthy clients only, still in order.
        await hub.publish("room", "late")
        for conn in healthy:
            assert await conn.receive_text() == "late"
    assert await settled_tasks(before) == before
    assert records.errors == []


@pytest.mark.parametrize("overflow", ["drop_oldest", "drop_newest"])
async def test_the_others_get_everything_while_the_stalled_one_is_still_subscribed(
    records: Records, overflow: OverflowPolicy
) -> None:
    # The stalled connection's send deadline is far beyond this test (it exists only so that
    # the hub has one): every healthy client gets every message while the stalled one is still
    # subscribed, its send blocked. Nobody waited for it, whatever the machine's load.
    joined: list[WebSocket] = []
    async with (
        Hub(max_queue=4, overflow=overflow, send_timeout=timeout(600)) as hub,
        stalled_and_healthy(room_app(hub, joined)) as (stalled, healthy),
    ):
        await publish_and_receive_everything(hub, healthy)
        assert joined[0] in hub.subscribers("room")
        assert joined[0].close_code is None
        assert hub.statistics().evicted == 0
        await stalled.close()  # the stalled client leaves; its blocked send ends with it
        await wait_until(lambda: joined[0] not in hub.subscribers("room"))
    assert records.errors == []


# -- through hypercorn ------------------------------------------------------------------------


@contextlib.contextmanager
def stalled_tcp_client(port: int) -> Iterator[socket.socket]:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(timeout(5))
    try:
        sock.connect(("127.0.0.1", port))
        sock.sendall(
            b"GET /room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        yield sock
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def _hub_lifespan(hub: Hub) -> AsyncIterator[None]:
    async with hub:
        yield


BIG = "x" * 16_384
BURST = 300


@pytest.mark.integration
@ASYNCIO_CLIENT
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
async def test_stalled_tcp_subscriber_through_hypercorn(records: Records, worker: str) -> None:
    joined: list[WebSocket] = []
    # The outbox holds the whole burst: the healthy client must get every message, while the
    # stalled one is evicted by the send deadline (a watchdog covers hypercorn's trio worker,
    # which shields its socket writes from cancellation).
    hub = Hub(max_queue=BURST, overflow="drop_oldest", send_timeout=0.5)
    app = room_app(hub, joined)
    app.lifespan = lambda app: _hub_lifespan(hub)

    @app.websocket("/publish")
    async def publish(ws: WebSocket) -> None:  # the hub lives in the server's event loop
        async with ws:
            count = int(await ws.receive_text())
            for n in range(count):
                await hub.publish("room", f"{n}:{BIG}")
            await ws.send_text("published")

    async with running_server(app, worker=worker) as server:
        assert server.port is not None
        with stalled_tcp_client(server.port):
            await wait_until(lambda: len(joined) == 1)
            async with (
                ws_connect(server.ws("/room"), max_size=None) as healthy,
                ws_connect(server.ws("/publish")) as control,
            ):
                assert await healthy.recv() == "joined"
                await control.send(str(BURST))
                assert await control.recv() == "published"
                received = []
                for _ in range(BURST):  # each message on time: none waits for the stalled one
                    with anyio.fail_after(timeout(3)):
                        received.append(str(await healthy.recv()).split(":", 1)[0])
                assert received == [str(n) for n in range(BURST)]
                await wait_until(lambda: joined[0].close_code == 1013, deadline=10)
                assert hub.subscribers("room") == [joined[1]]
    assert records.errors == []
