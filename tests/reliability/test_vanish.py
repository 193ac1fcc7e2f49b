"""The client vanishes mid-send (the server's ``send`` raises ``OSError``, or the
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

from tests._services import running_server, uvicorn_server
from tests.integration._client import ws_connect
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.testing import TestClient

from ._helpers import (
    ASYNCIO_CLIENT,
    Recorder,
    Records,
    count_tasks,
    settled_tasks,
    wait_until,
)

DISCONNECTED = WebSocketState.DISCONNECTED


class Outcome:
    """What one server-side handler saw, filled in as it ends."""

    def __init__(self) -> None:
        self.ws: WebSocket | None = None
        self.code: int | None = None
        self.client_state: WebSocketState | None = None
        self.callbacks: list[int | None] = []
        self.error: BaseException | None = None

    @property
    def states(self) -> tuple[WebSocketState, WebSocketState]:
        """Both sides' states now (after the handler ended: both DISCONNECTED)."""
        assert self.ws is not None
        return self.ws.client_state, self.ws.application_state


def feed_app(hub: Hub, outcomes: list[Outcome], *, sending: bool) -> App:
    """``/feed``: subscribe to ``news``, then send in a loop (or wait in receive)."""
    app = App()

    @app.websocket("/feed")
    async def feed(ws: WebSocket) -> None:
        outcome = Outcome()
        outcome.ws = ws
        outcomes.append(outcome)
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
            outcome.client_state = ws.client_state
            raise
        except BaseException as exc:  # pragma: no cover - reported by the assertions
            outcome.error = exc
            raise

    return app


@pytest.mark.parametrize("sending", [True, False], ids=["mid-send", "waiting-in-receive"])
async def test_vanished_client_in_memory(records: Records, sending: bool) -> None:
    outcomes: list[Outcome] = []
    async with Hub() as hub:
        recorder = Recorder(feed_app(hub, outcomes, sending=sending))
        before = count_tasks()
        async with TestClient(recorder) as client, client.websocket_connect("/feed") as conn:
            await conn.receive_text()
            assert len(hub.subscribers("news")) == 1
            conn.drop()
        [outcome] = outcomes
        assert outcome.error is None
        assert outcome.code == 1006
        assert outcome.client_state is DISCONNECTED
        assert outcome.states == (DISCONNECTED, DISCONNECTED)
        assert recorder.calls_after_the_end() == (0, 0)
        assert recorder.types.count("websocket.close") == 0  # nothing sent to a vanished client
        assert outcome.callbacks == [1006]
        assert hub.subscribers("news") == []
        assert await settled_tasks(before) == before
    assert records.errors == []


async def test_vanished_subscriber_found_by_the_hub_others_unaffected(records: Records) -> None:
    outcomes: list[Outcome] = []
    async with Hub() as hub:
        app = feed_app(hub, outcomes, sending=False)
        async with (
            TestClient(app) as client,
            client.websocket_connect("/feed") as gone,
            client.websocket_connect("/feed") as alive,
        ):
            assert await gone.receive_text() == await alive.receive_text() == "subscribed"
            gone.drop()
            for n in range(5):  # the hub's own sends meet the broken transport
                await hub.publish("news", n)
            assert [await alive.receive_json() for _ in range(5)] == [0, 1, 2, 3, 4]
            assert len(hub.subscribers("news")) == 1
        assert [o.code for o in outcomes] == [1006, 1000]
        assert [o.callbacks for o in outcomes] == [[1006], [1000]]
        assert all(o.states == (DISCONNECTED, DISCONNECTED) for o in outcomes)
        assert hub.subscribers("news") == []
    assert records.errors == []


# -- through real servers --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _hub_lifespan(hub: Hub) -> AsyncIterator[None]:
    async with hub:
        yield


def served_feed(*, sending: bool) -> tuple[App, Hub, list[Outcome]]:
    outcomes: list[Outcome] = []
    hub = Hub()
    app = feed_app(hub, outcomes, sending=sending)
    app.lifespan = lambda app: _hub_lifespan(hub)
    return app, hub, outcomes


async def _vanish(url: str, outcomes: list[Outcome]) -> Outcome:
    """Connect, then drop the TCP connection (no close frame); wait for the handler to end."""
    client = await ws_connect(url)
    assert isinstance(await client.recv(), str)
    client.transport.abort()
    await wait_until(
        lambda: bool(outcomes) and (outcomes[0].code is not None or outcomes[0].error is not None),
        deadline=10,
    )
    return outcomes[0]


@pytest.mark.integration
@ASYNCIO_CLIENT
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
async def test_vanished_client_through_hypercorn(records: Records, worker: str) -> None:
    app, hub, outcomes = served_feed(sending=False)
    async with running_server(app, worker=worker) as server:
        outcome = await _vanish(server.ws("/feed"), outcomes)
        assert hub.subscribers("news") == []
    assert outcome.error is None
    assert outcome.code == 1006
    assert outcome.states == (DISCONNECTED, DISCONNECTED)
    assert outcome.callbacks == [1006]
    assert records.errors == []


@pytest.mark.integration
@ASYNCIO_CLIENT
async def test_vanished_client_mid_send_through_uvicorn(records: Records) -> None:
    # uvicorn implements ASGI 2.4's rule: a send after the client left raises OSError.
    app, hub, outcomes = served_feed(sending=True)
    async with uvicorn_server(app) as server:
        outcome = await _vanish(server.ws("/feed"), outcomes)
        assert hub.subscribers("news") == []
    assert outcome.error is None
    assert outcome.code == 1006
    assert outcome.states == (DISCONNECTED, DISCONNECTED)
    assert outcome.callbacks == [1006]
    assert records.errors == []


@pytest.mark.integration
@ASYNCIO_CLIENT
async def test_hypercorn_swallows_sends_after_the_client_left(records: Records) -> None:
    # hypercorn 0.18 drops a send on a closed connection without an error (ws_stream.app_send:
    # "Allow app to finish after close"), so a handler that only sends never learns the client
    # left: its next receive does. Documented in docs/topics/close-codes.md; the hub's
    # subscribers wait in receive, which is why their subscriptions still end.
    outcomes: list[Outcome] = []
    app = App()
    sent_after: list[int] = []

    @app.websocket("/feed")
    async def feed(ws: WebSocket) -> None:
        outcome = Outcome()
        outcome.ws = ws
        outcomes.append(outcome)
        await ws.accept()
        await ws.send_text("hello")
        await anyio.sleep(0.3)  # meanwhile the client vanishes
        for n in range(10):
            await ws.send_text(f"into the void {n}")
            sent_after.append(n)
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            outcome.code = exc.code
            raise

    async with running_server(app) as server:
        outcome = await _vanish(server.ws("/feed"), outcomes)
    assert sent_after == list(range(10))
    assert outcome.code == 1006
    assert records.errors == []
