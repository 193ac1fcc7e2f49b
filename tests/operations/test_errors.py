"""Bad input and failing handlers: the exact error envelope, or the close code, by policy."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import pytest

from tests._upstream import passed_through
from wskit.codecs import MSGPACK
from wskit.exceptions import ValidationError, WebSocketDisconnect
from wskit.operations import OperationError, OperationRouter
from wskit.operations.envelope import DEFAULT_FORMAT
from wskit.operations.errors import BadMessage, ErrorHandling
from wskit.testing import TestClient

from ._helpers import asgi
from .models import ChatSend, ChatSent


def router(**options: Any) -> OperationRouter:
    ops = OperationRouter(**options)

    @ops.on("chat.send", reply="chat.sent")
    async def send(payload: ChatSend) -> ChatSent:
        return ChatSent(seq=1)

    @ops.on("boom")
    async def boom() -> None:
        raise RuntimeError("secret detail")

    @ops.on("deny")
    async def deny() -> None:
        raise OperationError("forbidden", "not in this room")

    return ops


def error(
    code: str,
    message: str,
    operation: str | None = None,
    path: str | None = None,
    id: object = None,
) -> dict[str, Any]:
    return {
        "type": "error",
        "payload": {"code": code, "message": message, "operation": operation, "path": path},
        "id": id,
    }


BAD_INPUT = [
    pytest.param(
        '{"type": "chat.nope", "payload": {}, "id": 3}',
        error("unknown_operation", "unknown operation 'chat.nope'", "chat.nope", id=3),
        1003,
        id="unknown",
    ),
    pytest.param(
        '{"type": "chat.send", "payload": {"room": 5, "text": "x"}, "id": "a"}',
        error(
            "invalid_payload",
            passed_through("$.payload.room"),
            "chat.send",
            "$.payload.room",
            "a",
        ),
        1007,
        id="invalid-field",
    ),
    pytest.param(
        '{"type": "chat.send", "id": 4}',
        error("invalid_payload", passed_through("$"), "chat.send", "$", 4),
        1007,
        id="missing-payload",
    ),
    pytest.param(
        '{"type": "chat.send", "payload": {"room": "r", "text": "x"}, "id": 1.5}',
        error(
            "invalid_payload",
            passed_through("$.id"),
            "chat.send",
            "$.id",
        ),
        1007,
        id="bad-id",
    ),
    pytest.param(
        "{not json",
        error("malformed", passed_through()),
        1007,
        id="not-json",
    ),
    pytest.param(
        "[1, 2]",
        error("malformed", "a message must be an object with a string type field"),
        1007,
        id="not-object",
    ),
    pytest.param(
        '{"payload": {}, "id": 8}',
        error("malformed", "a message must have a string 'type' field", id=8),
        1007,
        id="no-type",
    ),
    pytest.param(
        '{"type": 12, "id": [1]}',
        error("malformed", "a message must have a string 'type' field"),
        1007,
        id="type-not-string",
    ),
]


@pytest.mark.parametrize(("frame", "expected", "close_code"), BAD_INPUT)
async def test_bad_input_gets_an_error_reply_and_the_connection_stays_open(
    frame: str, expected: dict[str, Any], close_code: int
) -> None:
    async with TestClient(asgi(router())) as client, client.websocket_connect("/") as conn:
        await conn.send_text(frame)
        assert await conn.receive_json() == expected
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "ok"}})
        assert (await conn.receive_json())["type"] == "chat.sent"


@pytest.mark.parametrize(("frame", "expected", "close_code"), BAD_INPUT)
async def test_bad_input_closes_under_the_close_policy(
    frame: str, expected: dict[str, Any], close_code: int
) -> None:
    async with (
        TestClient(asgi(router(on_bad_input="close"))) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_text(frame)
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == close_code
    # The kind of fault, then what was wrong: the reply's message, path included.
    reason = conn.close_reason
    assert reason is not None
    kind = next(k for k in ("unknown operation", "invalid payload", "malformed") if k in reason)
    assert reason.startswith(kind)
    message = expected["payload"]["message"]
    if isinstance(message, str):  # wskit's own words
        assert reason.endswith(message)
    else:  # msgspec's words, passed through: there, ending with wskit's " at <path>"
        assert reason.removeprefix(f"{kind}: ") == message


async def test_malformed_messagepack() -> None:
    async with (
        TestClient(asgi(router(), codec=MSGPACK)) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_bytes(b"\xc1")
        reply = msgspec.msgpack.decode(await conn.receive_bytes())
        await conn.send_bytes(msgspec.msgpack.encode({"type": "chat.send", "payload": {"room": 1}}))
        invalid = msgspec.msgpack.decode(await conn.receive_bytes())
        await conn.send_bytes(b"\x91\x01")  # [1]: not a map
        not_a_map = msgspec.msgpack.decode(await conn.receive_bytes())
        await conn.send_bytes(msgspec.msgpack.encode({"type": "nope", "id": 5}))
        unknown = msgspec.msgpack.decode(await conn.receive_bytes())
    assert reply["payload"]["code"] == "malformed"
    assert invalid["payload"]["code"] == "invalid_payload"
    assert invalid["payload"]["path"] == "$.payload.room"
    assert not_a_map["payload"]["code"] == "malformed"
    assert unknown["payload"]["code"] == "unknown_operation"
    assert unknown["id"] == 5


async def test_max_bad_messages_closes_with_1008() -> None:
    async with (
        TestClient(asgi(router(max_bad_messages=2))) as client,
        client.websocket_connect("/") as conn,
    ):
        for _ in range(2):
            await conn.send_text("junk")
            assert (await conn.receive_json())["payload"]["code"] == "malformed"
        # Good messages do not reset the count.
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "ok"}})
        assert (await conn.receive_json())["type"] == "chat.sent"
        await conn.send_text("junk")
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert (conn.close_code, conn.close_reason) == (1008, "too many bad messages")


async def test_max_bad_messages_zero_closes_at_once() -> None:
    async with (
        TestClient(asgi(router(max_bad_messages=0))) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_json({"type": "nope"})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1008


async def test_handler_exception_is_replied_without_internals_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with TestClient(asgi(router())) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "boom", "id": 11})
        reply = await conn.receive_json()
        await conn.send_json({"type": "chat.send", "payload": {"room": "r", "text": "ok"}})
        assert (await conn.receive_json())["type"] == "chat.sent"
    assert reply == error("internal_error", "internal error", "boom", id=11)
    assert "secret" not in str(reply)
    records = [r for r in caplog.records if r.exc_info and "secret detail" in str(r.exc_info[1])]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR


async def test_handler_exception_closes_1011_under_the_close_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        TestClient(asgi(router(on_handler_error="close"))) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_json({"type": "boom"})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert (conn.close_code, conn.close_reason) == (1011, "internal error")
    assert sum(1 for r in caplog.records if r.exc_info) == 1


async def test_handler_raising_a_client_fault_error_closes_with_its_code() -> None:
    ops = OperationRouter(on_handler_error="close")

    @ops.on("strict")
    async def strict() -> None:
        raise ValidationError("nested value is wrong", "$.x")

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "strict"})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1007


async def test_operation_error_is_an_answer_under_any_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        TestClient(asgi(router(on_handler_error="close"))) as client,
        client.websocket_connect("/") as conn,
    ):
        await conn.send_json({"type": "deny", "id": "d"})
        assert await conn.receive_json() == error("forbidden", "not in this room", "deny", id="d")
        await conn.send_json({"type": "deny"})
        assert (await conn.receive_json())["payload"]["code"] == "forbidden"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert OperationError("only_code").message == "only_code"


async def test_handler_raising_websocket_disconnect_ends_the_connection_with_1000() -> None:
    ops = OperationRouter()

    @ops.on("leave")
    async def leave() -> None:
        raise WebSocketDisconnect(1000)

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "leave"})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1000


async def test_client_gone_while_replying_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    ops = OperationRouter()

    @ops.on("slow", reply="done")
    async def slow(ws: Any) -> int:
        conn.drop()
        return 1

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "slow"})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_error_handling_validates_its_options() -> None:
    with pytest.raises(ValueError, match="on_bad_input"):
        ErrorHandling(DEFAULT_FORMAT, on_bad_input="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_handler_error"):
        ErrorHandling(DEFAULT_FORMAT, on_handler_error="explode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_bad_messages"):
        ErrorHandling(DEFAULT_FORMAT, max_bad_messages=-1)
    assert BadMessage("unknown_operation", "x").close_code == 1003
    assert BadMessage("invalid_payload", "x").close_code == 1007
