"""The test client re-raises the application's exceptions once, where the test sees them, and
keeps working when tasks are cancelled, connections overlap or messages change after sending.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    Timeout,
    WebSocketDisconnect,
)
from wskit.testing import (
    ClientDisconnected,
    TestClient,
    WebSocketDenied,
)

from ._apps import CLIENT_TIMEOUT, SECONDS, SHORT, accept

# -- exceptions ------------------------------------------------------------------------------


async def test_application_exception_is_raised_by_receive_once() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise ValueError("handler bug")

    async with TestClient(app).websocket_connect("/") as ws:
        await ws.send_text("go")
        with pytest.raises(ValueError, match="handler bug"):
            await ws.receive_text()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        assert info.value.code == 1011


async def test_application_exception_is_raised_by_send() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        raise ValueError("early")

    async with TestClient(app).websocket_connect("/") as ws:
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(ValueError, match="early"):
            await ws.send_text("x")


async def test_application_exception_is_raised_on_leaving() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise ValueError("on exit")

    with pytest.raises(ValueError, match="on exit"):
        async with TestClient(app).websocket_connect("/") as ws:
            await ws.send_text("go")


async def test_application_exception_is_raised_by_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise ValueError("on close")

    async with TestClient(app).websocket_connect("/") as ws:
        with pytest.raises(ValueError, match="on close"):
            await ws.close()


async def test_application_exception_wins_over_the_body_exception() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        raise ValueError("root cause")

    async def body() -> None:
        async with TestClient(app).websocket_connect("/"):
            await anyio.wait_all_tasks_blocked()
            raise AssertionError("symptom")

    with pytest.raises(ValueError, match="root cause") as info:
        await body()
    assert isinstance(info.value.__context__, AssertionError)


async def test_body_exception_cancels_a_stuck_application() -> None:
    cancelled: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.append(True)

    with pytest.raises(AssertionError, match="body"):
        async with TestClient(app).websocket_connect("/"):
            raise AssertionError("body")
    assert cancelled == [True]


@pytest.mark.parametrize(
    "error",
    [
        StarletteDisconnect(1000),
        WebSocketDisconnect(1001),
        ExceptionGroup("group", [WebSocketDisconnect(1000), ClientDisconnected()]),
    ],
)
async def test_disconnect_escaping_the_application_is_not_an_error(error: Exception) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise error

    async with TestClient(app).websocket_connect("/") as ws:
        await ws.close()


async def test_group_with_a_real_error_is_reraised() -> None:
    error = ExceptionGroup("group", [WebSocketDisconnect(1000), KeyError("real")])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise error

    with pytest.raises(ExceptionGroup) as info:
        async with TestClient(app).websocket_connect("/"):
            pass
    assert info.value is error


async def test_application_ignoring_the_disconnect_times_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"still running {SECONDS} after the client left"):
        async with TestClient(app, timeout=CLIENT_TIMEOUT).websocket_connect("/"):
            pass
    async with TestClient(app, timeout=CLIENT_TIMEOUT).websocket_connect("/") as ws:
        with pytest.raises(Timeout, match="after the client closed the connection"):
            await ws.close()


# -- hardening -------------------------------------------------------------------------------------


async def test_send_blocked_on_a_full_inbox_when_the_application_returns() -> None:
    gate = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await gate.wait()

    async def release() -> None:
        await anyio.wait_all_tasks_blocked()
        gate.set()

    async with TestClient(app, max_queue=1).websocket_connect("/") as ws:
        await ws.send_text("fills the inbox")
        async with anyio.create_task_group() as tg:
            tg.start_soon(release)
            with pytest.raises(WebSocketDisconnect) as info:
                await ws.send_text("blocked")
        assert info.value.code == 1006


async def test_application_close_after_the_client_left() -> None:
    gate = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await gate.wait()
        await send({"type": "websocket.close", "code": 1001})  # crosses the client's close

    async with TestClient(app).websocket_connect("/") as ws, anyio.create_task_group() as tg:
        tg.start_soon(ws.close, 4000)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert ws.close_code == 1001  # what the application sent...
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert info.value.code == 4000  # ...but the client ended the connection first


async def test_outer_cancellation_stops_everything() -> None:
    cancelled: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["type"] == "lifespan":
                await receive()
                await send({"type": "lifespan.startup.complete"})
                await receive()
            elif scope["type"] == "http":
                await anyio.sleep_forever()
            else:
                await accept(receive, send)
                await anyio.sleep_forever()
        finally:
            cancelled.append(scope["type"])

    client = TestClient(app)
    with anyio.move_on_after(SHORT) as scope:
        async with client, client.websocket_connect("/"):
            await client.http()
    assert scope.cancelled_caught
    assert sorted(cancelled) == ["http", "lifespan", "websocket"]


async def test_application_exception_keeps_its_own_context() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        table: dict[str, int] = {}
        try:
            table["missing"]
        except KeyError:
            raise ValueError("while handling") from None

    async with TestClient(app).websocket_connect("/") as ws:
        with pytest.raises(ValueError, match="while handling") as info:
            await ws.receive_text()
    assert info.value.__suppress_context__
    assert isinstance(info.value.__context__, KeyError)


async def test_messages_are_copied_at_send_time() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        message: Message = {"type": "websocket.send", "text": "first"}
        await send(message)
        message["text"] = "second"  # a hot path may reuse its dictionaries
        await send(message)

    async with TestClient(app).websocket_connect("/") as ws:
        assert await ws.receive_text() == "first"
        assert await ws.receive_text() == "second"
    assert [m["text"] for m in ws.sent_messages[1:]] == ["first", "second"]


async def test_several_connections_at_once() -> None:
    peers: list[Send] = []

    async def chat(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        peers.append(send)
        try:
            while (message := await receive())["type"] == "websocket.receive":
                for peer in peers:
                    await peer({"type": "websocket.send", "text": message["text"]})
        finally:
            peers.remove(send)

    client = TestClient(chat)
    async with client.websocket_connect("/") as alice, client.websocket_connect("/") as bob:
        await alice.send_text("hi bob")
        assert await bob.receive_text() == "hi bob"
        assert await alice.receive_text() == "hi bob"
        await bob.close()
        await alice.send_text("alone")
        assert await alice.receive_text() == "alone"
    assert peers == []


async def test_starlette_application() -> None:
    """The client drives a real framework: lifespan, routes, denial, errors, plain HTTP."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"greeting": "hello"}

    async def echo_json(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="json")
        async for data in websocket.iter_json():
            await websocket.send_json({"echo": data, "greeting": websocket.state.greeting})
        # iter_json ends on the client's disconnect

    async def private(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))

    async def broken(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ZeroDivisionError

    async def upgrade(request: Request) -> Response:
        return PlainTextResponse("use a WebSocket", status_code=426)

    app = Starlette(
        routes=[
            WebSocketRoute("/ws", echo_json),
            WebSocketRoute("/private", private),
            WebSocketRoute("/broken", broken),
            Route("/ws", upgrade),
        ],
        lifespan=lifespan,
    )
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws", subprotocols=["json"]) as ws:
            assert ws.accepted_subprotocol == "json"
            await ws.send_json({"n": 1})
            assert await ws.receive_json() == {"echo": {"n": 1}, "greeting": "hello"}
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/private"):
                pass  # pragma: no cover
        assert (info.value.status, info.value.body) == (401, b"go away")
        with pytest.raises(ZeroDivisionError):
            async with client.websocket_connect("/broken") as ws:
                await ws.receive_text()
        with pytest.raises(WebSocketDenied) as info:
            async with client.websocket_connect("/missing"):
                pass  # pragma: no cover
        assert info.value.status == 403  # Starlette closes unknown routes before accept
        response = await client.http("GET", "/ws")
        assert (response.status, response.text) == (426, "use a WebSocket")
