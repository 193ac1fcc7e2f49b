"""The test client's sessions: connecting, the scope, sending and receiving, closes both ways,
and a dropped transport.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    DecodeError,
    FrameTypeError,
    WebSocketDisconnect,
)
from wskit.testing import (
    ClientDisconnected,
    TestClient,
)

from ._apps import accept, echo

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
