"""Case 1: the client vanishes mid-send (the server's ``send`` raises ``OSError``, or the
transport drops while the handler waits).

Defined outcome: the handler sees ``WebSocketDisconnect(1006)``; both sides of the connection
are DISCONNECTED; the app makes **no ASGI call after** the end; close callbacks run once; hub
subscriptions are gone; nothing is logged at ERROR. In memory on both anyio backends (the
test client's ``drop()``), and through hypercorn with a TCP connection the client aborts.

``tests/test_connection_send.py`` already checks the ``OSError`` -> 1006 translation on a bare
``WebSocket``; these tests add the App, the hub and the real server around it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
import pytest
from starlette.websockets import WebSocketState

from tests._services import running_server, timeout
from tests.integration._client import ws_connect
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.testing import TestClient

from ._helpers import ASYNCIO_CLIENT, Recorder, Records, count_tasks, settled_tasks

DISCONNECTED = WebSocketState.DISCONNECTED


class Outcome:
    """What the server-side handler saw, filled in as it ends."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.states: tuple[WebSocketState, WebSocketState] | None = None
        self.callbacks: list[int | None] = []
        self.error: BaseException | None = None


def feed_app(hub: Hub, outcome: Outcome, *, sending: bool) -> App:
    """``/feed``: subscribe to ``news``, then send in a loop (or wait in receive)."""
    app = App()

    @app.websocket("/feed")
    async def feed(ws: WebSocket) -> None:
        await ws.accept()
        ws.add_close_callback(lambda w: outcome.callbacks.append(w.close_code))
        await hub.subscribe(ws, "news")
        try:
            if sending:
                n = 0
                while True:
                    await ws.send_text(f"tick {n}")
                    n += 1
                    await anyio.sleep(0.001)
            else:
                await ws.send_text("subscribed")
                while True:
                    await ws.receive_text()
        except WebSocketDisconnect as exc:
            outcome.code = exc.code
            outcome.states = (ws.client_state, ws.application_state)
            raise
        except BaseException as exc:  # pragma: no cover - reported by the assertions
            outcome.error = exc
            raise

    return app


@pytest.mark.parametrize("sending", [True, False], ids=["mid-send", "waiting-in-receive"])
async def test_vanished_client_in_memory(records: Records, sending: bool) -> None:
    outcome = Outcome()
    async with Hub() as hub:
        recorder = Recorder(feed_app(hub, outcome, sending=sending))
        before = count_tasks()
        async with TestClient(recorder) as client, client.websocket_connect("/feed") as conn:
            await conn.receive_text()
            assert len(hub.subscribers("news")) == 1
            conn.drop()
        assert outcome.error is None
        assert outcome.code == 1006
        assert outcome.states == (DISCONNECTED, DISCONNECTED)
        assert recorder.calls_after_the_end() == (0, 0)
        assert recorder.types.count("websocket.close") == 0  # nothing sent to a vanished client
        assert outcome.callbacks == [1006]
        assert hub.subscribers("news") == []
        assert await settled_tasks(before) == before
    assert records.errors == []


async def test_vanished_subscriber_found_by_the_hub_others_unaffected(records: Records) -> None:
    outcome = Outcome()
    async with Hub() as hub:
        recorder = Recorder(feed_app(hub, outcome, sending=False))
        async with (
            TestClient(recorder) as client,
            client.websocket_connect("/feed") as gone,
            client.websocket_connect("/feed") as alive,
        ):
            assert await gone.receive_text() == await alive.receive_text() == "subscribed"
            gone.drop()
            for n in range(5):  # the hub's own send meets the broken transport
                await hub.publish("news", n)
            assert [await alive.receive_json() for _ in range(5)] == [0, 1, 2, 3, 4]
            assert len(hub.subscribers("news")) == 1
        assert outcome.code == 1006
        assert sorted(outcome.callbacks, key=str) == [1000, 1006]
        assert hub.subscribers("news") == []
    assert records.errors == []


# -- through hypercorn -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _hub_lifespan(hub: Hub) -> AsyncIterator[None]:
    async with hub:
        yield


@pytest.mark.integration
@ASYNCIO_CLIENT
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
@pytest.mark.parametrize("sending", [True, False], ids=["mid-send", "waiting-in-receive"])
async def test_vanished_client_through_hypercorn(
    records: Records, worker: str, sending: bool
) -> None:
    outcome = Outcome()
    hub = Hub()
    app = feed_app(hub, outcome, sending=sending)
    app.lifespan = lambda app: _hub_lifespan(hub)
    async with running_server(app, worker=worker) as server:
        client = await ws_connect(server.ws("/feed"))
        assert isinstance(await client.recv(), str)
        client.transport.abort()  # the TCP connection drops: no close frame, no FIN wait
        with anyio.fail_after(timeout(10)):
            while outcome.code is None and outcome.error is None:
                await anyio.sleep(0.01)
        assert hub.subscribers("news") == []
    assert outcome.error is None
    assert outcome.code == 1006
    assert outcome.states == (DISCONNECTED, DISCONNECTED)
    assert outcome.callbacks == [1006]
    assert records.errors == []
