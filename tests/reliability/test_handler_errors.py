"""A handler raises before or after accept.

Defined outcome: before accept, no accept (a 500 denial, or a close before accept where the
server has no denial responses); after accept, exactly one close 1011 "internal error" and
one ERROR record with the traceback; cancellation is never turned into 1011; the other
connections are unaffected.

``tests/app/test_app.py`` and ``tests/integration/test_hypercorn.py`` cover the basic table;
this file adds neighbours in the middle of a broadcast, exception groups from a handler's own
task group, a drain cancelling handlers that run task groups, the ASGI record (nothing after the
close) and a pre-accept failure seen by a real client as HTTP 500.
"""

from __future__ import annotations

import logging

import anyio
import pytest
from websockets.exceptions import InvalidStatus

from tests._services import running_server
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

SECRET = "password=hunter2"


async def test_error_after_accept_leaves_the_neighbours_broadcasting(records: Records) -> None:
    async with Hub() as hub:
        app = App()

        @app.websocket("/room")
        async def room(ws: WebSocket) -> None:
            await ws.accept()
            await hub.subscribe(ws, "room")
            await ws.send_text("joined")
            while True:
                if await ws.receive_text() == "boom":
                    raise RuntimeError(f"database said {SECRET}")

        recorder = Recorder(app)
        async with (
            TestClient(recorder) as client,
            client.websocket_connect("/room") as crashing,
            client.websocket_connect("/room") as first,
            client.websocket_connect("/room") as second,
        ):
            for conn in (crashing, first, second):
                assert await conn.receive_text() == "joined"
            await hub.publish("room", "before")
            await crashing.send_text("boom")
            assert await crashing.receive_text() == "before"
            with pytest.raises(WebSocketDisconnect) as info:  # the App settled the error
                await crashing.receive_text()
            assert info.value.code == crashing.close_code == 1011
            assert crashing.close_reason == "internal error"
            await hub.publish("room", "after")
            for conn in (first, second):
                assert [await conn.receive_text() for _ in range(2)] == ["before", "after"]
            assert len(hub.subscribers("room")) == 2
    closes = [m for m in recorder.sent if m["type"] == "websocket.close"]
    # The others left first.
    assert [(m["code"], m["reason"]) for m in closes] == [(1011, "internal error")]
    assert all(SECRET not in str(m) for m in recorder.sent)
    [error] = records.errors
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], RuntimeError)
    assert error.name == "wskit.app"


async def test_exception_group_from_the_handlers_task_group(records: Records) -> None:
    app = App()

    async def fail(text: str) -> None:
        raise ValueError(text)

    @app.websocket("/ws")
    async def fan(ws: WebSocket) -> None:
        await ws.accept()
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail, "one")
            tg.start_soon(fail, "two")

    recorder = Recorder(app)
    async with TestClient(recorder).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert (conn.close_code, conn.close_reason) == (1011, "internal error")
    assert [(m["type"], m.get("code")) for m in recorder.sent] == [
        ("websocket.accept", None),
        ("websocket.close", 1011),
    ]
    [error] = records.errors
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], ExceptionGroup)


async def test_drain_cancelling_handlers_with_task_groups_is_1001_not_1011(
    records: Records,
) -> None:
    app = App(drain_timeout=0.2)
    cancelled: list[str] = []

    async def child(name: str) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(name)
            raise

    @app.websocket("/busy")
    async def busy(ws: WebSocket) -> None:
        await ws.accept()
        async with anyio.create_task_group() as tg:  # ignores the 1001: only the deadline helps
            tg.start_soon(child, "child")
            await child("handler")

    before = count_tasks()
    recorder = Recorder(app)
    async with (
        TestClient(recorder) as client,
        client.websocket_connect("/busy") as a,
        client.websocket_connect("/busy") as b,
    ):
        await app.shutdown()
        for conn in (a, b):
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
            assert conn.close_code == 1001
    assert sorted(cancelled) == ["child", "child", "handler", "handler"]
    assert [m.get("code") for m in recorder.sent if m["type"] == "websocket.close"] == [1001, 1001]
    assert await settled_tasks(before) == before
    assert records.errors == []


@pytest.mark.integration
@ASYNCIO_CLIENT
@pytest.mark.parametrize("worker", ["asyncio", "trio"])
async def test_error_before_accept_is_http_500_through_hypercorn(
    records: Records, worker: str
) -> None:
    app = App()

    @app.websocket("/early")
    async def early(ws: WebSocket) -> None:
        raise RuntimeError(SECRET)

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        async with ws:
            async for text in ws.iter_text():
                await ws.send_text(text)

    async with running_server(app, worker=worker) as server:
        async with ws_connect(server.ws("/echo")) as neighbour:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(server.ws("/early"))
            assert info.value.response.status_code == 500
            assert SECRET.encode() not in info.value.response.body
            await neighbour.send("still here")
            assert await neighbour.recv() == "still here"
        # The client has left; the server ends the handler in its own time.
        await wait_until(lambda: len(app.connections) == 0)
    errors = [r for r in records.errors if r.name.startswith("wskit")]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert not [r for r in records.at(logging.ERROR) if not r.name.startswith("wskit")]
