"""Routing, replies with correlation ids, injection, codecs and the router as a handler."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from starlette.datastructures import State

from wskit.codecs import MSGPACK
from wskit.connection import WebSocket
from wskit.exceptions import WebSocketDisconnect
from wskit.operations import OperationRouter, Session
from wskit.testing import TestClient

from ._helpers import asgi
from .models import ChatSend, ChatSent, Point, Settings


def chat_router(**options: Any) -> OperationRouter:
    ops = OperationRouter(**options)
    seen: list[str] = []

    @ops.on("chat.send", reply="chat.sent")
    async def send(payload: ChatSend) -> ChatSent:
        seen.append(payload.text)
        return ChatSent(seq=len(seen))

    @ops.on("chat.typing")
    async def typing(payload: ChatSend) -> None:
        seen.append("typing")

    return ops


async def test_reply_carries_the_correlation_id() -> None:
    async with TestClient(asgi(chat_router())) as client, client.websocket_connect("/") as conn:
        for cid in (7, "abc"):
            await conn.send_json(
                {"type": "chat.send", "payload": {"room": "r", "text": "hi"}, "id": cid}
            )
            assert await conn.receive_json() == {
                "type": "chat.sent",
                "payload": {"seq": 1 if cid == 7 else 2},
                "id": cid,
            }


async def test_reply_without_id_leaves_id_out() -> None:
    async with TestClient(asgi(chat_router())) as client, client.websocket_connect("/") as conn:
        await conn.send_text('{"type":"chat.send","payload":{"room":"r","text":"x"}}')
        assert await conn.receive_text() == '{"type":"chat.sent","payload":{"seq":1}}'


async def test_operation_without_reply_sends_nothing() -> None:
    async with TestClient(asgi(chat_router())) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "chat.typing", "payload": {"room": "r", "text": ""}})
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "x"}, "id": 1})
        # The typing notice got no answer: the next frame is the chat.sent reply.
        assert (await conn.receive_json())["payload"] == {"seq": 2}


async def test_injection_by_annotation_and_name() -> None:
    ops = OperationRouter(hub="the-hub")
    got: dict[str, Any] = {}

    @ops.on("everything")
    async def everything(
        payload: Point,
        websocket: WebSocket,
        r: OperationRouter,
        id: str | int | None,
        hub: object,
        s: State,
        app: object,
        *,
        correlation_id: Any,
        ws: Any,
        router: Any,
        state: Any,
    ) -> None:
        got.update(
            payload=payload,
            websocket=websocket,
            r=r,
            id=id,
            hub=hub,
            s=s,
            app=app,
            correlation_id=correlation_id,
            ws=ws,
            router=router,
            state=state,
        )

    app_object = object()
    async with (
        TestClient(asgi(ops, app=app_object)) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_json({"type": "everything", "payload": {"x": 1, "y": 2}, "id": "q"})
        await conn.close()
    assert got["payload"] == Point(1, 2)
    assert isinstance(got["websocket"], WebSocket)
    assert got["ws"] is got["websocket"]
    assert got["r"] is ops
    assert got["router"] is ops
    assert got["id"] == "q"
    assert got["correlation_id"] == "q"
    assert got["hub"] == "the-hub"
    assert got["s"] is got["websocket"].state
    assert got["state"] is got["s"]
    assert got["app"] is app_object


async def test_hub_comes_from_the_app_when_the_router_has_none() -> None:
    ops = OperationRouter()
    hubs: list[object] = []

    @ops.on("hub")
    async def with_hub(hub: object) -> None:
        hubs.append(hub)

    class App:
        hub = "app-hub"

    async with TestClient(asgi(ops, app=App())) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "hub"})
        await conn.close()
    assert hubs == ["app-hub"]


async def test_a_missing_hub_is_an_internal_error() -> None:
    ops = OperationRouter()

    @ops.on("hub")
    async def with_hub(hub: object) -> None:
        raise AssertionError("not reached")

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "hub", "id": 1})
        reply = await conn.receive_json()
    assert reply["payload"]["code"] == "internal_error"
    assert reply["id"] == 1


@pytest.mark.parametrize(
    ("payload_type", "wire", "expected"),
    [
        (Point, {"x": 1, "y": 2}, Point(1, 2)),
        (Settings, {"theme": "dark", "volume": 3}, {"theme": "dark", "volume": 3}),
        (int, 5, 5),
        (list[int], [1, 2], [1, 2]),
    ],
)
async def test_payload_types(payload_type: object, wire: object, expected: object) -> None:
    ops = OperationRouter()
    got: list[object] = []

    @ops.on("op", payload=payload_type)
    async def handler(value: Any) -> None:
        got.append(value)

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "op", "payload": wire})
        await conn.close()
    assert got == [expected]


async def test_operation_without_payload_and_optional_payload() -> None:
    ops = OperationRouter()
    got: list[object] = []

    @ops.on("ping", reply="pong")
    async def ping() -> str:
        return "pong"

    @ops.on("maybe")
    async def maybe(payload: int | None) -> None:
        got.append(payload)

    @ops.on("defaulted")
    async def defaulted(payload: int = 42) -> None:
        got.append(payload)

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "ping", "id": 1})
        assert await conn.receive_json() == {"type": "pong", "payload": "pong", "id": 1}
        await conn.send_json({"type": "maybe"})
        await conn.send_json({"type": "maybe", "payload": 3})
        await conn.send_json({"type": "defaulted"})
        await conn.close()
    assert got == [None, 3, 42]


async def test_reply_values_are_converted_to_the_declared_type() -> None:
    ops = OperationRouter()

    @ops.on("dict", reply="out")
    async def as_dict() -> ChatSent:
        return {"seq": 3}  # type: ignore[return-value]

    @ops.on("any", reply="any.out")
    async def untyped():  # type: ignore[no-untyped-def]
        return {"free": ["form"]}

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "dict"})
        assert await conn.receive_json() == {"type": "out", "payload": {"seq": 3}}
        await conn.send_json({"type": "any"})
        assert await conn.receive_json() == {"type": "any.out", "payload": {"free": ["form"]}}


async def test_a_wrong_reply_is_an_internal_error() -> None:
    ops = OperationRouter()

    @ops.on("bad", reply="out")
    async def bad() -> ChatSent:
        return "not a ChatSent"  # type: ignore[return-value]

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "bad", "id": 4})
        reply = await conn.receive_json()
    assert reply == {
        "type": "error",
        "payload": {
            "code": "internal_error",
            "message": "internal error",
            "operation": "bad",
            "path": None,
        },
        "id": 4,
    }


async def test_messagepack_binary_frames() -> None:
    ops = chat_router()
    request = msgspec.msgpack.encode(
        {"type": "chat.send", "payload": {"room": "r", "text": "hi"}, "id": 2}
    )
    async with (
        TestClient(asgi(ops, codec=MSGPACK)) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_bytes(request)
        reply = msgspec.msgpack.decode(await conn.receive_bytes())
        # The codec fixes the frame kind: a text frame on a MessagePack connection is unsupported.
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "x"}, "id": 3})
        error = msgspec.msgpack.decode(await conn.receive_bytes())
    assert reply == {"type": "chat.sent", "payload": {"seq": 1}, "id": 2}
    assert error == {
        "type": "error",
        "payload": {
            "code": "unsupported_frame",
            "message": "this connection speaks bytes frames, not text frames",
            "operation": None,
            "path": None,
        },
        "id": None,
    }


async def test_json_connection_refuses_binary_frames() -> None:
    ops = chat_router()
    request = msgspec.msgpack.encode({"type": "chat.send", "payload": {"room": "r", "text": "hi"}})
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_bytes(request)
        error = await conn.receive_json()
        await conn.send({"type": "websocket.receive"})  # neither text nor bytes
        empty = await conn.receive_json()
    assert error["payload"]["code"] == "unsupported_frame"
    assert error["payload"]["message"] == "this connection speaks text frames, not bytes frames"
    assert empty["payload"]["code"] == "unsupported_frame"
    async with (
        TestClient(asgi(chat_router(on_bad_input="close"))) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_bytes(request)
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert (conn.close_code, conn.close_reason) == (
        1003,
        "unsupported frame type: this connection speaks text frames, not bytes frames",
    )


async def test_subprotocol_negotiation_selects_the_codec() -> None:
    ops = chat_router(subprotocols={"wskit.msgpack": MSGPACK, "wskit.json": None})
    async with TestClient(asgi(ops)) as client:
        async with client.websocket_connect("/", subprotocols=["x", "wskit.msgpack"]) as conn:
            assert conn.accepted_subprotocol == "wskit.msgpack"
            await conn.send_bytes(
                msgspec.msgpack.encode({"type": "chat.send", "payload": {"room": "r", "text": "a"}})
            )
            assert msgspec.msgpack.decode(await conn.receive_bytes())["type"] == "chat.sent"
        async with client.websocket_connect("/", subprotocols=["wskit.json"]) as conn:
            assert conn.accepted_subprotocol == "wskit.json"
            await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "a"}})
            assert (await conn.receive_json())["type"] == "chat.sent"


async def test_custom_envelope_field_names() -> None:
    ops = OperationRouter(type_field="op", payload_field="data", id_field="ref", error_type="oops")

    @ops.on("echo", reply="echo")
    async def echo(payload: str) -> str:
        return payload

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"op": "echo", "data": "hi", "ref": 9})
        assert await conn.receive_json() == {"op": "echo", "data": "hi", "ref": 9}
        await conn.send_json({"op": "nope", "ref": 1})
        error = await conn.receive_json()
    assert error == {
        "op": "oops",
        "data": {
            "code": "unknown_operation",
            "message": "unknown operation 'nope'",
            "operation": "nope",
            "path": None,
        },
        "ref": 1,
    }


async def test_router_accepts_an_already_accepted_connection_and_leaves_session() -> None:
    ops = chat_router()
    sessions: list[object] = []

    async def handler(ws: WebSocket) -> None:
        await ws.accept()
        await ops(ws)
        sessions.append(ws.scope.get("wskit.operations"))

    async with TestClient(asgi(handler)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "a"}})
        assert (await conn.receive_json())["type"] == "chat.sent"
    assert sessions == [None]


async def test_session_is_visible_to_handlers() -> None:
    ops = OperationRouter()
    found: list[object] = []

    @ops.on("look")
    async def look(ws: WebSocket) -> None:
        found.append(ws.scope["wskit.operations"])

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "look"})
        await conn.close()
    (session,) = found
    assert isinstance(session, Session)
    assert session.router is ops
    assert session.bad == 0


async def test_a_router_with_no_operations_answers_unknown_operation() -> None:
    async with TestClient(asgi(OperationRouter())) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "anything"})
        assert (await conn.receive_json())["payload"]["code"] == "unknown_operation"


async def test_handler_closing_the_connection_ends_the_loop() -> None:
    ops = OperationRouter()

    @ops.on("bye")
    async def bye(ws: WebSocket) -> None:
        await ws.close(4000, "bye")

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "bye"})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
        assert conn.close_code == 4000
