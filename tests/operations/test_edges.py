"""Edge paths of the connection loop: a client gone early, a broken server, stray emits."""

from __future__ import annotations

from typing import Any

import pytest

from wskit.connection import WebSocket
from wskit.exceptions import RemoteProtocolError
from wskit.operations import OperationRouter
from wskit.testing import TestClient

from ._helpers import asgi
from .models import ChatSent, Ping, Pong


def scripted(*events: dict[str, Any]) -> tuple[Any, Any, list[dict[str, Any]]]:
    queue = list(events)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    return receive, send, sent


SCOPE = {"type": "websocket", "path": "/", "headers": [], "subprotocols": [], "query_string": b""}


async def test_client_gone_before_a_denial() -> None:
    async def authenticate(ws: WebSocket) -> None:
        return None

    ops = OperationRouter(authenticate=authenticate)
    scope = {**SCOPE, "extensions": {"websocket.http.response": {}}}
    receive, send, sent = scripted({"type": "websocket.disconnect", "code": 1001})
    await ops(WebSocket(scope, receive, send))
    assert sent == []


async def test_a_server_breaking_the_asgi_sequence_is_raised() -> None:
    ops = OperationRouter()
    receive, send, sent = scripted({"type": "websocket.connect"}, {"type": "http.request"})
    with pytest.raises(RemoteProtocolError):
        await ops(WebSocket(dict(SCOPE), receive, send))
    assert sent[0]["type"] == "websocket.accept"


async def test_bad_input_from_a_client_that_left_is_not_answered() -> None:
    ops = OperationRouter()
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_text("junk")
        conn.drop()
    # The error reply met a vanished client: the loop ended quietly, without a close frame.
    assert "websocket.close" not in [m["type"] for m in conn.sent_messages]


async def test_background_operations_reply_and_fail_by_policy() -> None:
    ops = OperationRouter(on_handler_error="close")

    @ops.on("dict", reply="out", background=True)
    async def as_dict() -> ChatSent:
        return {"seq": 5}  # type: ignore[return-value]

    @ops.on("fail", background=True)
    async def fail() -> None:
        raise RuntimeError("background failure")

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "dict", "id": 1})
        assert await conn.receive_json() == {"type": "out", "payload": {"seq": 5}, "id": 1}
        await conn.send_json({"type": "fail"})
        with pytest.raises(Exception, match="1011"):
            await conn.receive_text()
    assert conn.close_code == 1011


async def test_emit_through_a_router_the_server_did_not_include() -> None:
    stray = OperationRouter()
    stray.emits("stray", payload=int)
    ops = OperationRouter()

    @ops.on("go")
    async def go(ws: WebSocket) -> None:
        await stray.emit(ws, "stray", 1)

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "go"})
        assert await conn.receive_json() == {"type": "stray", "payload": 1}


async def test_request_payload_is_converted_and_reply_structs_are_cached() -> None:
    ops = OperationRouter()
    ops.emits("ping", payload=Ping, reply_payload=Pong)
    got: list[object] = []

    @ops.on("go", background=True)
    async def go(ws: WebSocket) -> None:
        for nonce in (1, 2):
            got.append(await ops.request(ws, "ping", {"nonce": nonce}, timeout=2))

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "go"})
        for _ in range(2):
            asked = await conn.receive_json()
            await conn.send_json(
                {"type": "ping.reply", "payload": asked["payload"], "id": asked["id"]}
            )
        await conn.send_json({"type": "go-is-done?"})
        assert (await conn.receive_json())["type"] == "error"
    assert got == [Pong(1), Pong(2)]
    assert list(ops._reply_structs) == [Pong]
