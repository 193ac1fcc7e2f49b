"""WebSocketView: lifecycle, typed send, bad input, broadcast, cleanup, App and Starlette."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import anyio
import msgspec
import pytest
from starlette.applications import Starlette

from tests._upstream import passed_through
from wskit.app import App
from wskit.app.routing import Route
from wskit.codecs import MSGPACK, JSONCodec
from wskit.connection import WebSocket
from wskit.contrib.starlette import WebSocketRoute
from wskit.exceptions import Timeout, WebSocketDisconnect
from wskit.operations import WebSocketView
from wskit.testing import TestClient, WebSocketDenied

from .models import (
    BrokenCleanup,
    BrokenConnect,
    BrokenHandler,
    Capped,
    ChatIn,
    ChatOut,
    GenericBase,
    ListOf,
    Lounge,
    Mixed,
    Plain,
    Reader,
    Recorder,
    Refuser,
    Room,
    SleepyConnect,
    SlowCleanup,
    Strict,
    Sums,
    Texts,
    Waiter,
)


def app_of(*routes: tuple[str, Any], **options: Any) -> App:
    return App(routes=[Route(path, view, **options) for path, view in routes])


def test_generic_parameters_are_resolved_at_class_creation() -> None:
    assert (Recorder.in_type, Recorder.out_type) == (ChatIn, ChatOut)
    assert (Strict.in_type, Strict.out_type) == (ChatIn, ChatOut)
    assert (Texts.in_type, Texts.out_type) == (str, str)
    assert GenericBase.in_type is Any
    assert (Plain.in_type, Plain.out_type) == (Any, Any)
    assert (Sums.in_type, Sums.out_type) == (list[int], int)
    assert ListOf.in_type is Any
    assert (Mixed.in_type, Mixed.out_type) == (bytes, str)
    assert Room.connections() == ()


async def test_lifecycle_typed_messages_and_send() -> None:
    Recorder.events.clear()
    async with (
        TestClient(app_of(("/chat", Recorder))) as client,
        client.websocket_connect("/chat") as conn,
    ):
        await conn.send_json({"text": "hi"})
        reply = await conn.receive_json()
        await conn.close(4002, "done")
    assert reply["text"] == "hi"
    assert Recorder.events == ["connect", ChatIn(text="hi"), ("disconnect", 4002)]


async def test_send_validates_against_out() -> None:
    Recorder.events.clear()
    async with (
        TestClient(app_of(("/chat", Recorder))) as client,
        client.websocket_connect("/chat") as conn,
    ):
        await conn.send_json({"text": "bad-send"})
        error = await conn.receive_json()
    assert error["payload"]["code"] == "internal_error"

    class Loose(WebSocketView[ChatIn, ChatOut]):
        validate_send = False

        async def on_message(self, message: ChatIn) -> None:
            await self.send({"anything": "goes"})  # type: ignore[arg-type]

    async with (
        TestClient(app_of(("/loose", Loose))) as client,
        client.websocket_connect("/loose") as conn,
    ):
        await conn.send_json({"text": "x"})
        assert await conn.receive_json() == {"anything": "goes"}


async def test_dicts_are_converted_to_out() -> None:
    class Converting(WebSocketView[ChatIn, ChatOut]):
        async def on_message(self, message: ChatIn) -> None:
            await self.send({"text": message.text, "sender": 1})  # type: ignore[arg-type]

    async with (
        TestClient(app_of(("/c", Converting))) as client,
        client.websocket_connect("/c") as conn,
    ):
        await conn.send_json({"text": "x"})
        assert await conn.receive_json() == {"text": "x", "sender": 1}


async def test_bad_input_gets_the_routers_error_envelope() -> None:
    async with (
        TestClient(app_of(("/chat", Recorder))) as client,
        client.websocket_connect("/chat") as conn,
    ):
        await conn.send_json({"text": 5})
        invalid = await conn.receive_json()
        await conn.send_text("{oops")
        malformed = await conn.receive_json()
        await conn.send_json({"text": "boom"})
        internal = await conn.receive_json()
        await conn.send_json({"text": "deny"})
        denied = await conn.receive_json()
        await conn.send_json({"text": "still open"})
        assert (await conn.receive_json())["text"] == "still open"
    assert invalid == {
        "type": "error",
        "payload": {
            "code": "invalid_payload",
            "message": passed_through("$.text"),
            "operation": None,
            "path": "$.text",
        },
        "id": None,
    }
    assert malformed["payload"]["code"] == "malformed"
    assert internal["payload"] == {
        "code": "internal_error",
        "message": "internal error",
        "operation": None,
        "path": None,
    }
    assert denied["payload"]["code"] == "forbidden"


@pytest.mark.parametrize(("frame", "code"), [('{"text": 1}', 1007), ('{"text": "boom"}', 1011)])
async def test_close_policies(frame: str, code: int) -> None:
    async with (
        TestClient(app_of(("/strict", Strict))) as client,
        client.websocket_connect("/strict") as conn,
    ):
        await conn.send_text(frame)
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == code


async def test_max_bad_messages() -> None:
    async with (
        TestClient(app_of(("/capped", Capped))) as client,
        client.websocket_connect("/capped") as conn,
    ):
        await conn.send_text("1")
        assert (await conn.receive_json())["payload"]["code"] == "invalid_payload"
        await conn.send_text("2")
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert (conn.close_code, conn.close_reason) == (1008, "too many bad messages")


async def test_handler_reading_messages_and_generic_views() -> None:
    app = app_of(("/sum", Reader), ("/texts", Texts))
    async with TestClient(app) as client:
        async with client.websocket_connect("/sum") as conn:
            for number in ("4", "x", "6"):
                await conn.send_text(number)
            assert (await conn.receive_json())["payload"]["code"] == "invalid_payload"
            assert await conn.receive_text() == "total 10"
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
            assert conn.close_code == 1000
        async with client.websocket_connect("/texts") as conn:
            await conn.send_text("shout")
            assert await conn.receive_text() == "SHOUT"


async def test_broadcast_encodes_once_per_codec_and_reaches_every_member() -> None:
    calls: list[object] = []

    class CountingJSON(JSONCodec):
        __slots__ = ()

        def encode_frame(self, value: object) -> str | bytes:
            calls.append(value)
            return super().encode_frame(value)

    app = App()
    app.add_route("/json", Room, codec=CountingJSON())
    app.add_route("/msgpack", Room, codec=MSGPACK)
    app.add_route("/lounge", Lounge)
    async with (
        TestClient(app) as client,
        client.websocket_connect("/json") as a,
        client.websocket_connect("/json") as b,
        client.websocket_connect("/msgpack") as c,
        client.websocket_connect("/lounge") as lounge,
    ):
        await a.send_json({"text": "hello"})
        assert await a.receive_json() == {"text": "hello", "sender": 0}
        assert await b.receive_json() == {"text": "hello", "sender": 0}
        assert msgspec.msgpack.decode(await c.receive_bytes()) == {"text": "hello", "sender": 0}
        with pytest.raises(Timeout):
            await lounge.receive_text(timeout=0.05)
    assert len(calls) == 1  # one JSON encode for both JSON members (MessagePack: its own)


async def test_one_failing_connection_does_not_break_a_broadcast() -> None:
    class Hall(WebSocketView[str, str]):
        broadcast_timeout = 0.1

    async def failing_send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.send":
            raise RuntimeError("transport exploded")

    async def stalled_send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "websocket.send":
            await anyio.sleep(10)

    async def connect_forever() -> dict[str, Any]:
        await anyio.sleep(10)
        return {"type": "websocket.disconnect"}

    async with anyio.create_task_group() as tg:
        for send in (failing_send, stalled_send):
            queue = [{"type": "websocket.connect"}]

            async def receive(queue: list[dict[str, Any]] = queue) -> dict[str, Any]:
                return queue.pop() if queue else await connect_forever()

            scope = {"type": "websocket", "path": "/", "headers": [], "subprotocols": []}
            tg.start_soon(Hall(WebSocket(scope, receive, send)).dispatch)
        async with (
            TestClient(App(routes=[Route("/", Hall)])) as client,
            client.websocket_connect("/") as good,
        ):
            await anyio.wait_all_tasks_blocked()
            assert len(Hall.connections()) == 3
            with pytest.raises(ExceptionGroup) as group:
                await Hall.broadcast("to all")
            assert await good.receive_text() == "to all"
        tg.cancel_scope.cancel()
    kinds = sorted(type(e).__name__ for e in group.value.exceptions)
    assert kinds == ["RuntimeError", "Timeout"]
    assert "2 of 3 connections" in str(group.value)


async def test_broadcast_skips_clients_that_left() -> None:
    class Gone(WebSocketView[str, str]):
        pass

    async with (
        TestClient(App(routes=[Route("/", Gone)])) as client,
        client.websocket_connect("/") as first,
        client.websocket_connect("/") as second,
    ):
        assert len(Gone.connections()) == 2
        second.drop()
        await Gone.broadcast("still here?")
        assert await first.receive_text() == "still here?"


async def test_cleanup_is_bounded_and_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = app_of(("/slow", SlowCleanup), ("/broken", BrokenCleanup))
    async with TestClient(app) as client:
        with anyio.fail_after(2):
            async with client.websocket_connect("/slow"):
                pass
        async with client.websocket_connect("/broken"):
            pass
    assert SlowCleanup.finished == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("did not finish within 0.05 seconds" in m for m in messages)
    assert any("BrokenCleanup.on_disconnect raised" in m for m in messages)


async def test_refusing_in_on_connect() -> None:
    async with TestClient(app_of(("/", Refuser))) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/"):
                pass
    assert denied.value.status == 403
    assert denied.value.body == b"go away"


async def test_handler_errors_close_1011_and_reach_the_app(
    caplog: pytest.LogCaptureFixture,
) -> None:
    BrokenHandler.codes.clear()
    async with TestClient(app_of(("/h", BrokenHandler), ("/c", BrokenConnect))) as client:
        async with client.websocket_connect("/h") as conn:
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
        assert conn.close_code == 1011
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/c"):
                pass
        assert denied.value.status == 500
    assert BrokenHandler.codes == [1011]
    logged = [r for r in caplog.records if r.exc_info and "handler bug" in str(r.exc_info[1])]
    assert len(logged) == 1


async def test_cancellation_closes_1001_and_still_cleans_up() -> None:
    Waiter.codes.clear()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with anyio.move_on_after(0.05):
            await Waiter(WebSocket(scope, receive, send))

    async with TestClient(app) as client, client.websocket_connect("/") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1001
    assert Waiter.codes == [1001]


async def test_views_in_a_starlette_app() -> None:
    Recorder.events.clear()
    app = Starlette(routes=[WebSocketRoute("/rooms/{room}", Recorder)])
    async with TestClient(app) as client, client.websocket_connect("/rooms/a") as conn:
        await conn.send_json({"text": "from starlette"})
        assert (await conn.receive_json())["text"] == "from starlette"
    assert Recorder.events[1] == ChatIn(text="from starlette")


def test_bad_policies_fail_at_class_creation() -> None:
    with pytest.raises(ValueError, match="on_bad_input"):

        class Broken(WebSocketView[str, str]):
            on_bad_input = "shrug"  # type: ignore[assignment]


def test_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    scope = {"type": "websocket", "path": "/x", "headers": []}

    async def nothing() -> dict[str, Any]:
        return {}

    async def drop(message: Any) -> None:
        return None

    view = Texts(WebSocket(scope, nothing, drop))
    assert repr(view).startswith("<Texts <WebSocket '/x'")


async def test_a_generic_view_resolved_through_a_generic_base() -> None:
    async with TestClient(app_of(("/", Sums))) as client, client.websocket_connect("/") as conn:
        await conn.send_json([1, 2, 3])
        assert await conn.receive_text() == "6"


async def test_cancelled_before_accept_sends_nothing() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        with anyio.move_on_after(0.02):
            await SleepyConnect(WebSocket(scope, receive, send))

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/"):
                pass
    assert denied.value.status == 500
