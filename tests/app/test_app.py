"""The App as an ASGI app: handler outcomes, plain HTTP, lifespan, per-route settings."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import pytest

from tests.app.conftest import Records, echo
from wskit._types import Message, Receive, Scope, Send
from wskit.app import App
from wskit.app.routing import Route
from wskit.codecs import MSGPACK
from wskit.connection import Limits, WebSocket
from wskit.exceptions import Denied, WebSocketDisconnect
from wskit.testing import LifespanError, TestClient, WebSocketDenied

# -- handler outcomes ---------------------------------------------------------------------------


async def test_return_closes_1000() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("bye")

    async with TestClient(app).websocket_connect("/ws") as conn:
        assert await conn.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
        assert info.value.code == 1000
        assert conn.close_code == 1000


async def test_return_after_own_close_sends_one_close() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "mine")

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert (conn.close_code, conn.close_reason) == (4000, "mine")
    closes = [m for m in conn.sent_messages if m["type"] == "websocket.close"]
    assert len(closes) == 1


@pytest.mark.parametrize("denial_response", [True, False])
async def test_return_without_accept_refuses(records: Records, denial_response: bool) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        pass

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/ws", denial_response=denial_response):
            pass  # pragma: no cover
    assert info.value.status == 403
    assert records.errors == []


@pytest.mark.parametrize("style", ["plain", "async with"])
async def test_error_after_accept_is_one_1011_and_one_record(records: Records, style: str) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        if style == "plain":
            await ws.accept()
            raise RuntimeError("secret detail")
        async with ws:
            raise RuntimeError("secret detail")

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
    assert info.value.code == 1011
    assert "secret" not in (conn.close_reason or "")
    closes = [m for m in conn.sent_messages if m["type"] == "websocket.close"]
    assert len(closes) == 1
    assert "secret" not in str(closes[0])
    errors = records.errors
    assert len(errors) == 1, errors
    assert errors[0].exc_info is not None
    # ``async with ws:`` re-raises a server error unlogged: the App logs it, once.
    assert errors[0].name == "wskit.app"


async def test_error_logged_on_the_app_logger_given() -> None:
    logger = logging.getLogger("tests.custom")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logger.addHandler(keep)
    try:
        app = App(logger=logger)

        @app.websocket("/ws")
        async def handler(ws: WebSocket) -> None:
            await ws.accept()
            raise KeyError("x")

        async with TestClient(app).websocket_connect("/ws") as conn:
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
    finally:
        logger.removeHandler(keep)
    assert [r.levelno for r in seen] == [logging.ERROR]


async def test_client_fault_error_keeps_its_close_code(records: Records) -> None:
    class Point(msgspec.Struct):
        x: int

    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive(Point)

    async with TestClient(app).websocket_connect("/ws") as conn:
        await conn.send_text('{"x": "not an int"}')
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
    assert info.value.code == 1007
    assert records.errors == []
    warnings = records.at(logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].exc_info is None


@pytest.mark.parametrize("denial_response", [True, False])
async def test_error_before_accept(records: Records, denial_response: bool) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        raise ValueError("secret")

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/ws", denial_response=denial_response):
            pass  # pragma: no cover
    assert info.value.status == (500 if denial_response else 403)
    assert b"secret" not in info.value.body
    assert len(records.errors) == 1


async def test_handler_may_raise_denied() -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        raise Denied(429, b"slow down", [(b"retry-after", b"3")])

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert info.value.status == 429
    assert info.value.body == b"slow down"
    assert info.value.headers["retry-after"] == "3"


async def test_denied_after_accept_is_an_error(records: Records) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise Denied(403)

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
    assert info.value.code == 1011
    assert len(records.errors) == 1


@pytest.mark.parametrize("group", [False, True])
async def test_disconnect_escaping_is_a_normal_end(records: Records, group: bool) -> None:
    app = App()
    ended = anyio.Event()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        try:
            if group:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.sleep_forever)
                    await ws.receive_text()
            else:
                await ws.receive_text()
        finally:
            ended.set()

    async with TestClient(app).websocket_connect("/ws") as conn:
        await conn.close(1001)
    assert ended.is_set()
    assert records.at(logging.WARNING) == []


async def test_disconnect_raised_while_open_closes_1000(records: Records) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        raise WebSocketDisconnect(1000)

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert conn.close_code == 1000
    assert records.at(logging.WARNING) == []


async def test_error_after_client_left_sends_nothing(records: Records) -> None:
    app = App()
    raised = anyio.Event()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            await ws.receive_text()
        raised.set()
        raise RuntimeError("after the end")

    async with TestClient(app).websocket_connect("/ws") as conn:
        conn.drop()
        with anyio.fail_after(5):
            await raised.wait()
    assert [m["type"] for m in conn.sent_messages] == ["websocket.accept"]
    assert len(records.errors) == 1


async def test_other_connections_keep_working(records: Records) -> None:
    app = App()
    app.add_route("/echo", echo)

    @app.websocket("/fail")
    async def fail(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("one bad handler")

    client = TestClient(app)
    async with client.websocket_connect("/echo") as good, client.websocket_connect("/fail") as bad:
        await good.send_text("1")
        await bad.send_text("x")
        with pytest.raises(WebSocketDisconnect):
            await bad.receive_text()
        await good.send_text("2")
        assert await good.receive_text() == "1"
        assert await good.receive_text() == "2"
    assert bad.close_code == 1011
    assert len(records.errors) == 1


async def test_handler_object() -> None:
    class Greeter:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        async def __call__(self, ws: WebSocket) -> None:
            async with ws:
                await ws.send_text(self.greeting)

    app = App([Route("/hi", Greeter("hello"))])
    async with TestClient(app).websocket_connect("/hi") as conn:
        assert await conn.receive_text() == "hello"


# -- per-route codec and limits -----------------------------------------------------------------


async def test_route_codec_and_limits() -> None:
    app = App(limits=Limits(max_message_size=1000))

    async def data(ws: WebSocket) -> None:
        async with ws:
            value = await ws.receive(dict)
            await ws.send_data(value)

    app.add_route("/small", echo, limits=Limits(max_message_size=8))
    app.add_route("/msgpack", data, codec=MSGPACK)
    app.add_route("/default", echo)
    client = TestClient(app)
    async with client.websocket_connect("/small") as conn:
        await conn.send_text("x" * 9)
        with pytest.raises(WebSocketDisconnect) as info:
            await conn.receive_text()
        assert info.value.code == 1009
    async with client.websocket_connect("/default") as conn:
        await conn.send_text("x" * 9)
        assert await conn.receive_text() == "x" * 9
    async with client.websocket_connect("/msgpack") as conn:
        await conn.send_bytes(MSGPACK.encode({"a": 1}))
        assert MSGPACK.decode(await conn.receive_bytes()) == {"a": 1}


# -- plain HTTP ---------------------------------------------------------------------------------


async def test_http_426_and_404() -> None:
    app = App([Route("/ws/{id:int}", echo)])
    client = TestClient(app)
    response = await client.http("GET", "/ws/1")
    assert response.status == 426
    assert response.headers["upgrade"] == "websocket"
    assert response.headers["connection"] == "Upgrade"
    assert response.headers["content-type"].startswith("text/plain")
    assert int(response.headers["content-length"]) == len(response.body)
    assert b"WebSocket" in response.body
    response = await client.http("POST", "/elsewhere")
    assert response.status == 404


async def test_http_app_passthrough() -> None:
    async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    app = App([Route("/ws", echo)], http_app=http_app)
    client = TestClient(app)
    response = await client.http("GET", "/ws")
    assert (response.status, response.body) == (200, b"/ws")
    async with client.websocket_connect("/ws") as conn:
        await conn.send_text("still ws")
        assert await conn.receive_text() == "still ws"


async def test_unknown_scope_type() -> None:
    async def never() -> dict[str, Any]:  # pragma: no cover
        raise AssertionError

    async def no_send(message: Any) -> None:  # pragma: no cover
        raise AssertionError

    with pytest.raises(ValueError, match="webtransport"):
        await App()({"type": "webtransport"}, never, no_send)


# -- lifespan -----------------------------------------------------------------------------------


async def test_lifespan_hooks_and_state() -> None:
    calls: list[str] = []

    async def astart() -> None:
        calls.append("astart")

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        calls.append("enter")
        yield {"db": "connection"}
        calls.append(f"exit with {len(app.connections)} connections")

    app = App(
        on_startup=[lambda: calls.append("start"), astart],
        on_shutdown=[lambda: calls.append("stop")],
        lifespan=lifespan,
    )

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        async with ws:
            await ws.send_text(ws.state.db)

    async with TestClient(app) as client:
        assert calls == ["start", "astart", "enter"]
        async with client.websocket_connect("/ws") as conn:
            assert await conn.receive_text() == "connection"
    assert calls == ["start", "astart", "enter", "exit with 0 connections", "stop"]


async def test_lifespan_without_state() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        yield

    async with TestClient(App(lifespan=lifespan)) as client:
        assert client.lifespan_supported


async def test_lifespan_state_unsupported_by_server(records: Records) -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"x": 1}

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="lifespan state"):
        await App(lifespan=lifespan)({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"


async def test_lifespan_startup_failure(records: Records) -> None:
    def broken() -> None:
        raise OSError("cannot bind the database")

    with pytest.raises(LifespanError) as info:
        async with TestClient(App(on_startup=[broken])):
            pass  # pragma: no cover
    assert info.value.phase == "startup"
    assert "cannot bind" in info.value.message
    assert len(records.errors) == 1


async def test_lifespan_shutdown_failure(records: Records) -> None:
    async def broken() -> None:
        raise OSError("flush failed")

    with pytest.raises(LifespanError) as info:
        async with TestClient(App(on_shutdown=[broken])):
            pass
    assert info.value.phase == "shutdown"


async def test_error_after_own_close_sends_nothing_more(records: Records) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4001)
        raise RuntimeError("after closing")

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 4001
    assert [m["type"] for m in conn.sent_messages] == ["websocket.accept", "websocket.close"]
    assert len(records.errors) == 1


async def test_error_during_own_denial_response(records: Records) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.send({"type": "websocket.http.response.start", "status": 418, "headers": []})
        raise RuntimeError("half a response")

    with pytest.raises(Exception):  # noqa: B017 - whatever the client makes of half a response
        async with TestClient(app).websocket_connect("/ws"):
            pass  # pragma: no cover
    assert len(records.errors) == 1


@pytest.mark.parametrize(
    "first",
    [
        {"type": "websocket.disconnect", "code": 1001},  # the client left during the handshake
        {"type": "websocket.receive", "text": "?"},  # a server breaking the ASGI sequence
    ],
)
async def test_refusal_never_raises(records: Records, first: dict[str, Any]) -> None:
    app = App()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return first

    async def send(message: Message) -> None:  # pragma: no cover - nothing may be sent
        sent.append(message)

    scope = {"type": "websocket", "path": "/missing", "headers": [], "extensions": {}}
    await app(scope, receive, send)
    assert sent == []
    assert records.errors == []


async def test_receive_after_own_close_is_a_normal_end(records: Records) -> None:
    app = App()

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4002)
        await ws.receive_text()  # raises ConnectionClosed, a WebSocketDisconnect

    async with TestClient(app).websocket_connect("/ws") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 4002
    assert records.at(logging.WARNING) == []
