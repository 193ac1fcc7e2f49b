"""Tests for wskit.testing: the in-memory TestClient, driven by tiny raw ASGI applications.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the test
client itself promises: the scope, the handshake outcomes, close codes both ways, timeouts,
exception re-raising, lifespan, plain HTTP and a dropped transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    DecodeError,
    FrameTypeError,
    Timeout,
    WebSocketDisconnect,
    WskitError,
)
from wskit.testing import (
    TIMEOUT_FACTOR_ENV,
    ClientDisconnected,
    HTTPResponse,
    LifespanError,
    TestClient,
    WebSocketDenied,
    WebSocketTestSession,
)
from wskit.testing._protocol import State, transition

App = Callable[[Scope, Receive, Send], Awaitable[None]]
SHORT = 0.05  # seconds: for timeouts that must fire, where nothing has to succeed first
#: A client-wide deadline that must fire after steps that must succeed within it (a handshake,
#: a denial, a lifespan startup): wide enough for those steps on a busy machine.
CLIENT_TIMEOUT = 0.5
# How a scaled client timeout appears in messages (WSKIT_TESTS_TIMEOUT_FACTOR may be set).
SECONDS = r"[0-9.e+-]+ s"


async def accept(receive: Receive, send: Send, **extra: Any) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", **extra})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo every frame back with its kind, until the client disconnects."""
    if scope["type"] != "websocket":
        raise RuntimeError("websocket only")
    await accept(receive, send)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send(
            {"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")}
        )


# -- connecting, sending, receiving ----------------------------------------------------------


async def test_echo_text_bytes_and_json() -> None:
    async with TestClient(echo).websocket_connect("/") as ws:
        await ws.send_text("héllo")
        assert await ws.receive_text() == "héllo"
        await ws.send_bytes(b"\x00\x01")
        assert await ws.receive_bytes() == b"\x00\x01"
        await ws.send_json({"a": [1, "é"]})
        assert await ws.receive_text() == '{"a":[1,"é"]}'
        await ws.send_json({"b": None}, mode="binary")
        assert await ws.receive_json(mode="binary") == {"b": None}
        await ws.send_json([1, 2])
        assert await ws.receive_json() == [1, 2]
        await ws.send({"type": "websocket.receive", "text": "raw"})
        assert await ws.receive() == {"type": "websocket.send", "text": "raw", "bytes": None}
        assert ws.accepted_subprotocol is None
        assert list(ws.accepted_headers.raw) == []


async def test_send_argument_checks() -> None:
    async with TestClient(echo).websocket_connect("/") as ws:
        with pytest.raises(TypeError, match="takes a str"):
            await ws.send_text(b"x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="takes bytes"):
            await ws.send_bytes("x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            await ws.send_json(1, mode="other")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            await ws.receive_json(mode="other")  # type: ignore[arg-type]
        await ws.send_bytes(bytearray(b"ab"))
        assert await ws.receive_bytes() == b"ab"


async def test_wrong_frame_kind_raises_frame_type_error() -> None:
    async with TestClient(echo).websocket_connect("/") as ws:
        await ws.send_bytes(b"x")
        with pytest.raises(FrameTypeError, match="expected a text frame, received a bytes"):
            await ws.receive_text()
        await ws.send_text("x")
        with pytest.raises(FrameTypeError, match="expected a bytes frame"):
            await ws.receive_bytes()
        await ws.send_text("{not json")
        with pytest.raises(DecodeError, match="invalid JSON"):
            await ws.receive_json()
        await ws.send_text("still open")
        assert await ws.receive_text() == "still open"


async def test_scope_is_complete_and_realistic() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await accept(receive, send, subprotocol="b")

    client = TestClient(app)
    async with client.websocket_connect(
        "/caf%C3%A9 x?a=1&b=%20",
        headers={"X-Token": "t", "Cookie": "c=1"},
        subprotocols=["a", "b"],
        scheme="wss",
        client=("1.2.3.4", 1234),
    ) as ws:
        assert ws.scope is scopes[0]
        assert ws.accepted_subprotocol == "b"
    scope = scopes[0]
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "wss"
    assert scope["path"] == "/café x"
    assert scope["raw_path"] == b"/caf%C3%A9%20x"
    assert scope["query_string"] == b"a=1&b=%20"
    assert scope["root_path"] == ""
    assert scope["client"] == ("1.2.3.4", 1234)
    assert scope["server"] == ("testserver", 443)
    assert scope["subprotocols"] == ["a", "b"]
    assert scope["state"] == {}
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["headers"] == [
        (b"host", b"testserver"),
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-protocol", b"a, b"),
        (b"x-token", b"t"),
        (b"cookie", b"c=1"),
    ]


async def test_scope_query_forms_and_header_override() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await accept(receive, send)

    client = TestClient(app)
    async with client.websocket_connect(
        "/p", query_string={"q": "a b", "n": "1"}, headers=[("Host", "example.com"), (b"X", b"1")]
    ):
        pass
    async with client.websocket_connect("/p", query_string=b"raw=%41", client=None):
        pass
    async with client.websocket_connect("/p", query_string="name=é"):
        pass
    first, second, third = scopes
    assert first["query_string"] == b"q=a+b&n=1"
    assert first["headers"][-2:] == [(b"host", b"example.com"), (b"x", b"1")]
    assert (b"host", b"testserver") not in first["headers"]
    assert first["server"] == ("testserver", 80)
    assert first["scheme"] == "ws"
    assert first["client"] == ("testclient", 50000)
    assert second["query_string"] == b"raw=%41"
    assert second["client"] is None
    assert third["query_string"] == b"name=%C3%A9"
    assert not any(name == b"sec-websocket-protocol" for name, _ in first["headers"])


@pytest.mark.parametrize(
    ("path", "query", "match"),
    [("/a?b=1", "c=2", "not both"), ("relative", "", "must start with")],
)
async def test_bad_paths(path: str, query: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        async with TestClient(echo).websocket_connect(path, query_string=query):
            pass  # pragma: no cover


async def test_accepted_headers_and_subprotocol() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send, subprotocol="chat", headers=[(b"x-server", b"1")])

    async with TestClient(app).websocket_connect("/", subprotocols=["chat"]) as ws:
        assert ws.accepted_subprotocol == "chat"
        assert ws.accepted_headers["x-server"] == "1"


async def test_accepting_a_subprotocol_not_offered_fails_the_connection() -> None:
    disconnects: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send, subprotocol="other")
        disconnects.append(await receive())

    with pytest.raises(RuntimeError, match="did not offer"):
        async with TestClient(app).websocket_connect("/", subprotocols=["chat"]):
            pass  # pragma: no cover
    assert disconnects == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"headers": [(b"sec-websocket-protocol", b"x")]}, RuntimeError, "subprotocol"),
        ({"headers": [("x", "y")]}, TypeError, "pairs of bytes"),
        ({"headers": [(b"x", b"y", b"z")]}, TypeError, "pairs of bytes"),
        ({"subprotocol": 1}, TypeError, "str or None"),
    ],
)
async def test_invalid_accept_is_refused(
    extra: dict[str, Any], error: type[Exception], match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send, **extra)

    with pytest.raises(error, match=match):
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover


# -- refused handshakes ----------------------------------------------------------------------


async def test_close_before_accept_is_a_403_denial() -> None:
    after: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        after.append(await receive())

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 403
    assert info.value.body == b""
    assert list(info.value.headers.raw) == []
    assert isinstance(info.value, WskitError)
    assert str(info.value) == "the application refused the WebSocket handshake with HTTP 403"
    assert repr(info.value) == "WebSocketDenied(status=403, body=b'')"
    assert after == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


async def test_denial_response_with_several_body_chunks() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log ", "more_body": True})
        await send({"type": "websocket.http.response.body", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"in"})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 401
    assert info.value.headers["www-authenticate"] == "Bearer"
    assert info.value.body == b"log in"
    assert "HTTP 401: 'log in'" in str(info.value)


async def test_long_denial_body_is_shortened_in_the_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 429})
        await send({"type": "websocket.http.response.body", "body": b"x" * 300})

    with pytest.raises(WebSocketDenied, match=r"'x{200}'\.\.\.$") as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert len(info.value.body) == 300


async def test_denial_cut_short_by_the_application_returning() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 503, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"par", "more_body": True})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert (info.value.status, info.value.body) == (503, b"par")


async def test_denial_response_needs_the_extension() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.http.response.start", "status": 403})

    with pytest.raises(RuntimeError, match="denial_response=False"):
        async with TestClient(app).websocket_connect("/", denial_response=False):
            pass  # pragma: no cover
    assert scopes[0]["extensions"] == {}


async def test_application_returning_without_answer_is_a_500_denial() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 500


@pytest.mark.parametrize("error", [ValueError("boom"), StarletteDisconnect(1001)])
async def test_exception_before_accept_is_reraised(error: Exception) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise error

    with pytest.raises(type(error)) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value is error


async def test_exception_after_denial_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        raise KeyError("after")

    with pytest.raises(KeyError, match="after"):
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover


async def test_disconnect_escaping_after_denial_is_not_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        message = await receive()
        raise WebSocketDisconnect(message["code"])

    with pytest.raises(WebSocketDenied):
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover


async def test_handshake_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"nor refused the connection within {SECONDS}$"):
        async with TestClient(app, timeout=SHORT).websocket_connect("/"):
            pass  # pragma: no cover


async def test_application_stuck_after_denial_times_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="after it refused the connection"):
        async with TestClient(app, timeout=CLIENT_TIMEOUT).websocket_connect("/"):
            pass  # pragma: no cover


# -- closing -----------------------------------------------------------------------------------


async def test_application_close_code_and_reason() -> None:
    after_close: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.send", "text": "first"})
        await send({"type": "websocket.close", "code": 4001, "reason": "bye"})
        after_close.append(await receive())
        after_close.append(await receive())

    async with TestClient(app).websocket_connect("/") as ws:
        assert await ws.receive_text() == "first"
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        assert (info.value.code, info.value.reason) == (4001, "bye")
        assert (ws.close_code, ws.close_reason) == (4001, "bye")
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_bytes()
        assert (info.value.code, info.value.reason) == (4001, "bye")
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.send_text("late")
        assert (info.value.code, info.value.reason) == (4001, "bye")
    closes = [m for m in ws.sent_messages if m["type"] == "websocket.close"]
    assert len(closes) == 1
    assert after_close == [{"type": "websocket.disconnect", "code": 4001, "reason": "bye"}] * 2


async def test_application_close_after_client_messages_are_delivered_first() -> None:
    received: list[Message] = []
    gate = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await gate.wait()
        await send({"type": "websocket.close"})
        received.append(await receive())
        received.append(await receive())
        received.append(await receive())

    async with TestClient(app).websocket_connect("/") as ws:
        await ws.send_text("one")
        await ws.send_text("two")
        gate.set()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_json()
        assert info.value.code == 1000
    assert [m.get("text") for m in received] == ["one", "two", None]
    assert received[-1] == {"type": "websocket.disconnect", "code": 1000, "reason": ""}


async def test_raw_receive_returns_the_close_message_once() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.close", "code": 1001})

    async with TestClient(app).websocket_connect("/") as ws:
        assert await ws.receive() == {"type": "websocket.close", "code": 1001}
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive()
        assert info.value.code == 1001
        assert ws.close_reason == ""


async def test_client_close_code_and_reason() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        received.append(await receive())
        received.append(await receive())
        received.append(await receive())

    async with TestClient(app).websocket_connect("/") as ws:
        await ws.send_text("last")
        await ws.close(4000, "done")
        await ws.close()  # idempotent: only waits again
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
        assert (info.value.code, info.value.reason) == (4000, "done")
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("after")
        assert ws.close_code is None
    assert received == [
        {"type": "websocket.receive", "text": "last"},
        {"type": "websocket.disconnect", "code": 4000, "reason": "done"},
        {"type": "websocket.disconnect", "code": 4000, "reason": "done"},
    ]


@pytest.mark.parametrize(("code", "reason"), [(1006, ""), (999, ""), (1000, "é" * 62)])
async def test_client_close_checks_code_and_reason(code: int, reason: str) -> None:
    async with TestClient(echo).websocket_connect("/") as ws:
        with pytest.raises(ValueError, match="close"):
            await ws.close(code, reason)


async def test_messages_sent_before_the_client_closed_can_still_be_read() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.send", "text": "queued"})
        await receive()

    async with TestClient(app).websocket_connect("/") as ws:
        await anyio.wait_all_tasks_blocked()
        await ws.close()
        assert await ws.receive_text() == "queued"
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()


async def test_leaving_the_block_sends_disconnect_1000() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        received.append(await receive())

    async with TestClient(app).websocket_connect("/"):
        pass
    assert received == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}]


async def test_application_returning_without_close() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.send", "bytes": b"bye"})

    async with TestClient(app).websocket_connect("/") as ws:
        assert await ws.receive_bytes() == b"bye"
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_bytes()
        assert info.value.code == 1006
        assert ws.close_code is None
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("late")


async def test_sends_after_the_client_left() -> None:
    outcomes: list[str] = []
    gate = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await gate.wait()
        # The client has left but the application has not seen it yet: lost in flight.
        await send({"type": "websocket.send", "text": "in flight"})
        assert (await receive())["type"] == "websocket.disconnect"
        try:
            await send({"type": "websocket.send", "text": "too late"})
        except ClientDisconnected as exc:
            outcomes.append(f"{exc} ({type(exc).__mro__[1].__name__})")
            raise

    async with TestClient(app).websocket_connect("/") as ws, anyio.create_task_group() as tg:
        tg.start_soon(ws.close)  # closes at once, then waits for the application
        await anyio.wait_all_tasks_blocked()
        gate.set()

    assert outcomes == ["the client closed the connection (ConnectionResetError)"]
    assert [m.get("text") for m in ws.sent_messages[1:]] == ["in flight", "too late"]


# -- drop ------------------------------------------------------------------------------------------


async def test_drop_simulates_a_vanished_client() -> None:
    events: list[object] = []
    gate = anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.send", "text": "unread"})
        events.append(await receive())
        events.append(await receive())
        await gate.wait()
        try:
            await send({"type": "websocket.send", "text": "x"})
        except OSError as exc:
            events.append(exc)

    async with TestClient(app).websocket_connect("/") as ws:
        await ws.send_text("in the pipe")
        ws.drop()
        ws.drop()  # idempotent
        gate.set()
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()  # what the application sent is lost
        assert info.value.code == 1006
        await ws.close()  # only waits for the application
    assert events[0] == {"type": "websocket.receive", "text": "in the pipe"}
    assert events[1] == {"type": "websocket.disconnect", "code": 1006, "reason": ""}
    assert isinstance(events[2], ClientDisconnected)


async def test_drop_wakes_a_send_blocked_on_a_full_queue() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        try:
            while True:
                await send({"type": "websocket.send", "text": "spam"})
        except ClientDisconnected as exc:
            errors.append(exc)

    async with TestClient(app, max_queue=2).websocket_connect("/") as ws:
        await anyio.wait_all_tasks_blocked()
        ws.drop()
    assert len(errors) == 1
    assert len(ws.sent_messages) == 4  # accept, 2 queued, 1 blocked then refused


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


# -- protocol checks on what the application sends ----------------------------------------------


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([{"type": "websocket.send", "text": "x"}], RuntimeError, "in state HANDSHAKE"),
        ([{"type": "websocket.accept"}, {"type": "websocket.accept"}], RuntimeError, "state OPEN"),
        (
            [
                {"type": "websocket.accept"},
                {"type": "websocket.close"},
                {"type": "websocket.close"},
            ],
            RuntimeError,
            "connection is over",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b""}],
            TypeError,
            "exactly one",
        ),
        ([{"type": "websocket.accept"}, {"type": "websocket.send"}], TypeError, "exactly one"),
        ([{"type": "websocket.accept"}, {"type": "websocket.send", "text": 1}], TypeError, "str"),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "bytes": "x"}],
            TypeError,
            "bytes",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1006}],
            ValueError,
            "1006",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "code": "x"}],
            ValueError,
            "code",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "reason": "x" * 124}],
            ValueError,
            "123",
        ),
        ([{"type": "websocket.http.response.start", "status": "401"}], TypeError, "int 'status'"),
        (
            [{"type": "websocket.http.response.start", "status": 401, "headers": [("a", "b")]}],
            TypeError,
            "pairs of bytes",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 401},
                {"type": "websocket.http.response.body", "body": "text"},
            ],
            TypeError,
            "bytes in 'body'",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 401},
                {"type": "websocket.send", "text": "x"},
            ],
            RuntimeError,
            "state RESPONSE",
        ),
    ],
)
async def test_protocol_violations_raise_in_the_application(
    messages: list[Message], error: type[Exception], match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for message in messages:
            await send(message)
        await receive()  # pragma: no cover

    with pytest.raises(error, match=match):
        async with TestClient(app).websocket_connect("/"):
            pass


# -- timeouts and bounded queues -----------------------------------------------------------------


async def test_receive_timeout_default_and_per_call() -> None:
    async with TestClient(echo, timeout=CLIENT_TIMEOUT).websocket_connect("/") as ws:
        with pytest.raises(Timeout, match=rf"receive_text\(\) got no message .* within {SECONDS}$"):
            await ws.receive_text()
    async with TestClient(echo).websocket_connect("/") as ws:
        with pytest.raises(Timeout, match="within 0.01 s"):
            await ws.receive(timeout=0.01)
        with pytest.raises(TimeoutError):  # wskit's Timeout is a TimeoutError
            await ws.receive_json(timeout=0.01)


async def test_timeout_factor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_FACTOR_ENV, "3")
    assert TestClient(echo, timeout=2).timeout == 6
    monkeypatch.setenv(TIMEOUT_FACTOR_ENV, " ")
    assert TestClient(echo).timeout == 5
    for bad in ("fast", "0", "-1", "inf", "nan"):
        monkeypatch.setenv(TIMEOUT_FACTOR_ENV, bad)
        with pytest.raises(ValueError, match=TIMEOUT_FACTOR_ENV):
            TestClient(echo)


def test_client_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        TestClient(echo, timeout=0)
    with pytest.raises(ValueError, match="max_queue"):
        TestClient(echo, max_queue=0)


async def test_full_inbox_makes_send_time_out() -> None:
    gate = anyio.Event()
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await gate.wait()
        while (message := await receive())["type"] != "websocket.disconnect":
            received.append(message)

    async with TestClient(app, max_queue=2).websocket_connect("/") as ws:
        await ws.send_text("1")
        await ws.send_text("2")
        with pytest.raises(Timeout, match="inbox is full"):
            await ws.send_text("3", timeout=SHORT)
        gate.set()
    assert [m["text"] for m in received] == ["1", "2"]


async def test_application_waits_while_the_client_queue_is_full() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        for i in range(50):
            await send({"type": "websocket.send", "text": str(i)})
        await send({"type": "websocket.close"})

    async with TestClient(app, max_queue=3).websocket_connect("/") as ws:
        await anyio.wait_all_tasks_blocked()
        assert len(ws.sent_messages) <= 6
        assert [await ws.receive_text() for _ in range(50)] == [str(i) for i in range(50)]
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()


async def test_sent_messages_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WebSocketTestSession, "max_recorded", 3)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await accept(receive, send)
        for _ in range(5):
            await send({"type": "websocket.send", "text": "x"})

    async with TestClient(app).websocket_connect("/") as ws:
        for _ in range(5):
            await ws.receive_text()
    assert len(ws.sent_messages) == 3


async def test_session_repr() -> None:
    async with TestClient(echo).websocket_connect("/r") as ws:
        assert repr(ws) == "<WebSocketTestSession '/r' state=OPEN sent=1>"
        await ws.close(4000)
        assert repr(ws) == "<WebSocketTestSession '/r' state=OPEN, ended=(4000, '') sent=1>"


# -- lifespan ------------------------------------------------------------------------------------


def supported(client: TestClient) -> bool | None:
    """Read ``lifespan_supported`` (a function, so mypy does not narrow it across awaits)."""
    return client.lifespan_supported


def lifespan_app(
    startup: Message | None = None, shutdown: Message | None = None
) -> tuple[App, list[str]]:
    """An application whose lifespan answers with ``startup`` and ``shutdown``."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
            events.append((await receive())["type"])
            scope["state"]["db"] = "connected"
            await send(startup or {"type": "lifespan.startup.complete"})
            events.append((await receive())["type"])
            await send(shutdown or {"type": "lifespan.shutdown.complete"})
            return
        await accept(receive, send)
        await send({"type": "websocket.send", "text": scope["state"].get("db", "none")})
        await receive()

    return app, events


async def test_lifespan_startup_shutdown_and_state() -> None:
    app, events = lifespan_app()
    client = TestClient(app)
    assert supported(client) is None
    async with client:
        assert supported(client) is True
        assert events == ["lifespan.startup"]
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_text() == "connected"
            ws.scope["state"]["db"] = "changed"  # a copy: the lifespan state is untouched
        assert client.lifespan_state == {"db": "connected"}
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert client.lifespan_supported is None
    async with client.websocket_connect("/") as ws:  # without entering: no lifespan
        assert await ws.receive_text() == "connected"  # the state of the last run stays


async def test_lifespan_startup_failure() -> None:
    app, _ = lifespan_app(startup={"type": "lifespan.startup.failed", "message": "no db"})
    with pytest.raises(LifespanError, match="startup.failed: no db") as info:
        async with TestClient(app):
            pass  # pragma: no cover
    assert (info.value.phase, info.value.message) == ("startup", "no db")


async def test_lifespan_shutdown_failure() -> None:
    app, _ = lifespan_app(shutdown={"type": "lifespan.shutdown.failed"})
    with pytest.raises(LifespanError, match=r"lifespan.shutdown.failed$"):
        async with TestClient(app):
            pass


async def test_lifespan_shutdown_failure_is_a_note_on_a_body_error() -> None:
    app, _ = lifespan_app(shutdown={"type": "lifespan.shutdown.failed", "message": "x"})
    with pytest.raises(KeyError) as info:
        async with TestClient(app):
            raise KeyError("body")
    assert info.value.__notes__ == [
        "lifespan shutdown also failed: LifespanError('the application reported "
        "lifespan.shutdown.failed: x')"
    ]


async def test_body_error_with_a_clean_shutdown() -> None:
    app, events = lifespan_app()
    with pytest.raises(KeyError):
        async with TestClient(app):
            raise KeyError("body")
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.parametrize("behaviour", ["raise", "return"])
async def test_application_without_lifespan_is_tolerated(behaviour: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if behaviour == "raise":
                raise RuntimeError("lifespan unsupported")
            return
        await echo(scope, receive, send)

    client = TestClient(app)
    async with client:
        assert client.lifespan_supported is False
        async with client.websocket_connect("/") as ws:
            await ws.send_text("up")
            assert await ws.receive_text() == "up"


async def test_lifespan_error_while_running_is_raised_on_exit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise ValueError("lifespan task crashed")

    with pytest.raises(ValueError, match="lifespan task crashed"):
        async with TestClient(app):
            await anyio.wait_all_tasks_blocked()


async def test_lifespan_protocol_violation_is_raised() -> None:
    app, _ = lifespan_app(startup={"type": "lifespan.shutdown.complete"})
    with pytest.raises(RuntimeError, match="cannot send 'lifespan.shutdown.complete' now"):
        async with TestClient(app):
            pass  # pragma: no cover


async def test_lifespan_timeouts() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"lifespan startup did not complete within {SECONDS}$"):
        async with TestClient(silent, timeout=SHORT):
            pass  # pragma: no cover

    async def stuck_on_shutdown(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="lifespan shutdown"):
        async with TestClient(stuck_on_shutdown, timeout=CLIENT_TIMEOUT):
            pass


async def test_lingering_lifespan_task_is_cancelled_and_reported() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="lifespan task was still running"):
        async with TestClient(app, timeout=CLIENT_TIMEOUT):
            pass


async def test_client_enter_twice_and_exit_without_enter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_FACTOR_ENV, raising=False)
    app, _ = lifespan_app()
    client = TestClient(app)
    async with client:
        with pytest.raises(RuntimeError, match="already entered"):
            await client.__aenter__()
    with pytest.raises(RuntimeError, match="not entered"):
        await client.__aexit__(None, None, None)
    assert repr(client).startswith("<TestClient app=<function")
    assert repr(client).endswith("timeout=5 s>")


# -- plain HTTP ------------------------------------------------------------------------------------


async def http_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the request's method, path, query, headers and body, as JSON, in two chunks."""
    request = await receive()
    payload = msgspec.json.encode(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "scheme": scope["scheme"],
            "body": request["body"].decode(),
            "version": scope["asgi"]["spec_version"],
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        }
    )
    start = {"type": "http.response.start", "status": 200, "headers": []}
    start["headers"] = [(b"content-type", b"application/json")]
    await send(start)
    await send({"type": "http.response.body", "body": payload[:10], "more_body": True})
    await send({"type": "http.response.body", "body": payload[10:]})


async def test_http_request_and_response() -> None:
    client = TestClient(http_echo)
    response = await client.http(
        "post", "/items?x=1", headers={"X-A": "b"}, body="é", scheme="https"
    )
    assert isinstance(response, HTTPResponse)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["method"] == "POST"
    assert data["path"] == "/items"
    assert data["query"] == "x=1"
    assert data["scheme"] == "https"
    assert data["body"] == "é"
    assert data["version"] == "2.3"
    assert data["headers"] == [["host", "testserver"], ["content-length", "2"], ["x-a", "b"]]
    assert repr(response) == f"<HTTPResponse 200, {len(response.body)} bytes>"
    empty = await client.http()
    assert empty.json()["headers"] == [["host", "testserver"]]


def test_http_response_text_and_json() -> None:
    latin = HTTPResponse(
        200, Headers(raw=[(b"content-type", b'text/plain; x=y; charset="latin-1"')]), b"\xe9"
    )
    assert latin.text == "é"
    unknown = HTTPResponse(200, Headers({"content-type": "text/plain; charset=nope"}), b"ok")
    assert unknown.text == "ok"
    assert HTTPResponse(200, Headers(), "é".encode()).text == "é"
    with pytest.raises(DecodeError, match="not valid JSON"):
        HTTPResponse(200, Headers(), b"{").json()


async def test_http_disconnect_after_the_response() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await send(
            {"type": "http.response.start", "status": 426, "headers": [(b"upgrade", b"websocket")]}
        )
        await send({"type": "http.response.body", "body": b"upgrade required"})
        received.append(await receive())

    response = await TestClient(app).http(path="/ws")
    assert (response.status, response.text) == (426, "upgrade required")
    assert received == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_http_application_without_response_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    response = await TestClient(app).http()
    assert (response.status, response.body) == (500, b"")


async def test_http_exception_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("http bug")

    with pytest.raises(LookupError, match="http bug"):
        await TestClient(app).http()


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([{"type": "http.response.body"}], RuntimeError, "expected 'http.response.start'"),
        ([{"type": "http.response.start", "status": "200"}], TypeError, "int 'status'"),
        (
            [{"type": "http.response.start", "status": 200, "headers": [["a", b"b"]]}],
            TypeError,
            "pairs of bytes",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": ""},
            ],
            TypeError,
            "needs bytes",
        ),
        (
            [{"type": "http.response.start", "status": 200}, {"type": "http.response.start"}],
            RuntimeError,
            "expected 'http.response.body'",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body"},
                {"type": "http.response.body"},
            ],
            RuntimeError,
            "already complete",
        ),
    ],
)
async def test_http_protocol_violations(
    messages: list[Message], error: type[Exception], match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    with pytest.raises(error, match=match):
        await TestClient(app).http()


async def test_http_timeouts() -> None:
    async def no_response(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="has not completed its response within 0.05 s"):
        await TestClient(no_response).http(timeout=SHORT)

    async def lingering(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"has not returned within {SECONDS}$"):
        await TestClient(lingering, timeout=CLIENT_TIMEOUT).http()


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


# -- the sans-I/O checks, walked as a table -------------------------------------------------------

LEGAL: dict[tuple[State, str], State] = {
    (State.HANDSHAKE, "websocket.accept"): State.OPEN,
    (State.HANDSHAKE, "websocket.close"): State.CLOSED,
    (State.HANDSHAKE, "websocket.http.response.start"): State.RESPONSE,
    (State.RESPONSE, "websocket.http.response.body"): State.CLOSED,
    (State.OPEN, "websocket.send"): State.OPEN,
    (State.OPEN, "websocket.close"): State.CLOSED,
}
MINIMAL: dict[str, Message] = {
    "websocket.accept": {"type": "websocket.accept"},
    "websocket.close": {"type": "websocket.close"},
    "websocket.http.response.start": {"type": "websocket.http.response.start", "status": 403},
    "websocket.http.response.body": {"type": "websocket.http.response.body"},
    "websocket.send": {"type": "websocket.send", "text": ""},
    "websocket.receive": {"type": "websocket.receive", "text": ""},
    "http.response.start": {"type": "http.response.start", "status": 200},
}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", list(MINIMAL))
def test_every_state_and_message_pair(state: State, kind: str) -> None:
    message = MINIMAL[kind]
    expected = LEGAL.get((state, kind))
    if expected is None:
        with pytest.raises(RuntimeError, match=f"cannot send '{kind}'"):
            transition(state, message, denial_response=True)
    else:
        assert transition(state, message, denial_response=True) is expected
