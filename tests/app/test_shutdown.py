"""The registry of live connections and the graceful drain."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio
import pytest

from tests.app.conftest import Records, echo
from wskit._types import Message, Receive, Scope, Send
from wskit.app import App
from wskit.connection import Limits, WebSocket
from wskit.contrib.starlette import Endpoint
from wskit.exceptions import WebSocketDisconnect
from wskit.testing import TestClient, WebSocketDenied


async def test_shutdown_closes_every_connection_with_1001(records: Records) -> None:
    app = App()
    app.add_route("/ws", echo)
    client = TestClient(app)
    async with contextlib.AsyncExitStack() as stack:
        conns = [await stack.enter_async_context(client.websocket_connect("/ws")) for _ in range(5)]
        assert len(app.connections) == 5
        await app.shutdown()
        assert len(app.connections) == 0
        for conn in conns:
            with pytest.raises(WebSocketDisconnect) as info:
                await conn.receive_text()
            assert info.value.code == 1001
    assert records.at(logging.WARNING) == []
    with pytest.raises(WebSocketDenied) as denied:
        async with client.websocket_connect("/ws"):
            pass  # pragma: no cover
    assert denied.value.status == 503
    await app.shutdown()  # idempotent


async def test_connections_view() -> None:
    app = App()
    inside: list[bool] = []

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        inside.append(ws in app.connections)
        await echo(ws)

    async with TestClient(app).websocket_connect("/ws") as conn:
        await conn.send_text("sync")
        await conn.receive_text()
        view = app.connections
        assert len(view) == 1
        (ws,) = list(view)
        assert isinstance(ws, WebSocket)
        assert ws in view
        assert object() not in view
        assert repr(view) == "<connections: 1>"
    assert inside == [True]
    assert len(view) == 0


async def test_concurrent_shutdowns() -> None:
    app = App()
    app.add_route("/ws", echo)
    client = TestClient(app)
    async with client.websocket_connect("/ws") as conn:
        async with anyio.create_task_group() as tg:
            tg.start_soon(app.shutdown)
            tg.start_soon(app.shutdown)
        assert len(app.connections) == 0
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert app.registry.closing


@pytest.mark.parametrize("style", ["plain", "async with"])
async def test_stragglers_are_cancelled(records: Records, style: str) -> None:
    app = App(drain_timeout=0.2)
    finished: list[str] = []

    @app.websocket("/ws")
    async def stubborn(ws: WebSocket) -> None:
        try:
            if style == "plain":
                await ws.accept()
                await anyio.sleep_forever()
            async with ws:
                await anyio.sleep_forever()
        finally:
            finished.append(style)

    async with TestClient(app).websocket_connect("/ws") as conn:
        await app.shutdown()
        assert finished == [style]
        assert len(app.connections) == 0
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
        assert info.value.code == 1001
    assert records.errors == []
    assert any("cancelling 1" in r.getMessage() for r in records.at(logging.WARNING))


async def test_handshake_in_progress_is_refused_with_503() -> None:
    entered = anyio.Event()

    async def slow_auth(ws: WebSocket) -> object:
        entered.set()
        await anyio.sleep_forever()
        return None  # pragma: no cover

    app = App(authenticate=slow_auth)
    app.add_route("/ws", echo)
    statuses: list[int] = []

    async def connect() -> None:
        with pytest.raises(WebSocketDenied) as info:
            async with TestClient(app).websocket_connect("/ws"):
                pass  # pragma: no cover
        statuses.append(info.value.status)

    async with anyio.create_task_group() as tg:
        tg.start_soon(connect)
        await entered.wait()
        await app.shutdown(timeout=5)
    assert statuses == [503]


async def test_accept_racing_the_drain_still_gets_1001() -> None:
    """A handshake cancelled by the drain that had already been accepted is closed with 1001."""
    started, proceed = anyio.Event(), anyio.Event()
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        with anyio.CancelScope(shield=True):
            started.set()
            await proceed.wait()
            await ws.accept()
        await anyio.sleep_forever()

    codes: list[int] = []

    async def connect() -> None:
        async with TestClient(app).websocket_connect("/ws") as conn:
            with pytest.raises(WebSocketDisconnect) as info:
                await conn.receive_text()
            codes.append(info.value.code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(connect)
        await started.wait()
        tg.start_soon(app.shutdown, 5.0)
        while not app.registry.closing:  # noqa: ASYNC110 - the drain sets no event to wait on
            await anyio.sleep(0.001)
        proceed.set()
    assert codes == [1001]


async def test_a_failing_close_does_not_stop_the_drain(records: Records) -> None:
    app = App(drain_timeout=0.2)
    app.add_route("/ws", echo)

    def breaking_send(app: Any) -> Any:
        async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
            async def send_or_fail(message: Message) -> None:
                if message["type"] == "websocket.close":
                    raise RuntimeError("the server cannot send the close")
                await send(message)

            await app(scope, receive, send_or_fail)

        return wrapper

    client = TestClient(breaking_send(app))
    async with (
        client.websocket_connect("/ws") as broken,
        TestClient(app).websocket_connect("/ws") as healthy,
    ):
        await app.shutdown()
        with pytest.raises(WebSocketDisconnect) as info:
            await healthy.receive_text()
        assert info.value.code == 1001
        assert len(app.connections) == 0
        del broken
    assert any("close 1001 failed" in r.getMessage() for r in records.caplog.records)


async def test_lifespan_shutdown_drains() -> None:
    app = App()
    app.add_route("/ws", echo)
    to_app, app_inbox = anyio.create_memory_object_stream[Message](4)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](4)
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    with to_app, app_inbox, app_outbox, from_app:
        async with anyio.create_task_group() as tg:
            tg.start_soon(app, scope, app_inbox.receive, app_outbox.send)
            await to_app.send({"type": "lifespan.startup"})
            with anyio.fail_after(5):
                assert (await from_app.receive())["type"] == "lifespan.startup.complete"
            async with TestClient(app).websocket_connect("/ws") as conn:
                await to_app.send({"type": "lifespan.shutdown"})
                with pytest.raises(WebSocketDisconnect) as info:
                    await conn.receive_text()
                assert info.value.code == 1001
                with anyio.fail_after(5):
                    assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"


async def test_a_new_lifespan_accepts_again() -> None:
    app = App()
    app.add_route("/ws", echo)
    async with TestClient(app) as client:
        pass
    assert _closing(app)
    async with TestClient(app) as client:
        assert not _closing(app)
        async with client.websocket_connect("/ws") as conn:
            await conn.send_text("back")
            assert await conn.receive_text() == "back"


def _closing(app: App) -> bool:
    return app.registry.closing


@pytest.mark.parametrize("tracked", [True, False])
async def test_final_close_has_a_deadline(tracked: bool) -> None:
    """A server whose send never takes the close cannot hold the handler past close_timeout."""

    async def hello(ws: WebSocket) -> None:
        await ws.accept()

    limits = Limits(close_timeout=0.05)
    app = App(limits=limits)
    app.add_route("/ws", hello)
    target: Any = app if tracked else Endpoint(hello, limits=limits)
    sent: list[str] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message["type"])
        if message["type"] == "websocket.close":
            await anyio.sleep_forever()

    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "subprotocols": []}
    with anyio.fail_after(5):
        await target(scope, receive, send)
    assert sent == ["websocket.accept", "websocket.close"]
    assert len(app.connections) == 0


async def test_server_cancelling_a_handler_sends_1001(records: Records) -> None:
    """When the server cancels the connection's task, an open connection gets 1001, not 1011."""
    accepted = anyio.Event()
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        accepted.set()
        await anyio.sleep_forever()

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "websocket", "path": "/ws", "headers": [], "subprotocols": []}
    async with anyio.create_task_group() as tg:
        tg.start_soon(app, scope, receive, send)
        await accepted.wait()
        tg.cancel_scope.cancel()
    assert [(m["type"], m.get("code")) for m in sent] == [
        ("websocket.accept", None),
        ("websocket.close", 1001),
    ]
    assert len(app.connections) == 0
    assert records.errors == []


# -- mounted Apps ---------------------------------------------------------------------------------


def nested_apps() -> tuple[App, App, App]:
    """``parent`` mounts ``child`` at /sub, which mounts ``grandchild`` at /deep (and itself)."""
    parent, child, grandchild = App(), App(drain_timeout=5), App()
    for app in (parent, child, grandchild):
        app.add_route("/ws", echo)
    child.mount("/deep", grandchild)
    child.mount("/again", child)  # a cycle is walked once
    parent.mount("/sub", child)
    parent.mount("/other", grandchild)  # so is an App mounted twice
    parent.mount("/plain", Endpoint(echo))  # not a wskit App: left alone
    return parent, child, grandchild


async def test_parent_shutdown_drains_mounted_apps(records: Records) -> None:
    parent, child, grandchild = nested_apps()
    client = TestClient(parent)
    async with (
        client.websocket_connect("/ws") as top,
        client.websocket_connect("/sub/ws") as middle,
        client.websocket_connect("/sub/deep/ws") as bottom,
    ):
        for conn, app in ((top, parent), (middle, child), (bottom, grandchild)):
            await conn.send_text("hi")
            assert await conn.receive_text() == "hi"
            assert len(app.connections) == 1
        await parent.shutdown()
        for conn in (top, middle, bottom):
            with pytest.raises(WebSocketDisconnect) as info:
                await conn.receive_text()
            assert info.value.code == 1001
        assert [len(app.connections) for app in (parent, child, grandchild)] == [0, 0, 0]
    with pytest.raises(WebSocketDenied) as denied:
        async with client.websocket_connect("/sub/deep/ws"):
            pass  # pragma: no cover
    assert denied.value.status == 503
    assert records.at(logging.WARNING) == []


async def test_parent_shutdown_leaves_other_mounted_apps_alone() -> None:
    parent, _, _ = nested_apps()
    async with TestClient(parent).websocket_connect("/plain") as conn:
        await parent.shutdown()
        await conn.send_text("still here")
        assert await conn.receive_text() == "still here"


async def test_a_new_lifespan_reopens_mounted_apps() -> None:
    parent, child, grandchild = nested_apps()
    async with TestClient(parent):
        pass
    assert child.registry.closing
    assert grandchild.registry.closing
    async with TestClient(parent) as client, client.websocket_connect("/sub/deep/ws") as conn:
        await conn.send_text("back")
        assert await conn.receive_text() == "back"
