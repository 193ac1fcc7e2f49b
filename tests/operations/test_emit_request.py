"""Server pushes (emit) and server-to-client requests (request) with their timeouts."""

from __future__ import annotations

from typing import Any

import anyio

from wskit.connection import WebSocket
from wskit.exceptions import Timeout, ValidationError, WebSocketDisconnect
from wskit.operations import OperationRouter
from wskit.testing import TestClient

from ._helpers import asgi
from .models import ChatMessage, Ping, Pong


async def test_emit_validates_and_encodes_the_declared_payload() -> None:
    ops = OperationRouter()
    ops.emits("chat.message", payload=ChatMessage)
    errors: list[Exception] = []

    @ops.on("go")
    async def go(ws: WebSocket) -> None:
        await ops.emit(ws, "chat.message", ChatMessage(room="r", text="struct"))
        await ops.emit(ws, "chat.message", {"room": "r", "text": "dict"})
        for bad_name, value in (("chat.message", {"room": 1}), ("undeclared", 1)):
            try:
                await ops.emit(ws, bad_name, value)
            except (TypeError, LookupError) as exc:
                errors.append(exc)
        await ops.emit(ws, "chat.message", ChatMessage(room="r", text="last"))

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "go"})
        frames = [await conn.receive_json() for _ in range(3)]
    assert frames == [
        {"type": "chat.message", "payload": {"room": "r", "text": "struct", "author": "anonymous"}},
        {"type": "chat.message", "payload": {"room": "r", "text": "dict", "author": "anonymous"}},
        {"type": "chat.message", "payload": {"room": "r", "text": "last", "author": "anonymous"}},
    ]
    assert isinstance(errors[0], TypeError)
    assert str(errors[0]).strip()  # msgspec's reason, passed through
    assert isinstance(errors[1], LookupError)


async def test_emit_from_an_included_router_uses_the_prefixed_name() -> None:
    chat = OperationRouter(prefix="chat.")
    chat.emits("message", payload=str)

    @chat.on("say")
    async def say(payload: str, ws: WebSocket) -> None:
        await chat.emit(ws, "chat.message", payload)

    root = OperationRouter()
    root.include_router(chat, prefix="v2.")
    async with TestClient(asgi(root)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "v2.chat.say", "payload": "hi"})
        assert await conn.receive_json() == {"type": "v2.chat.message", "payload": "hi"}


async def test_emit_on_a_connection_no_router_serves() -> None:
    ops = OperationRouter()
    ops.emits("hello", payload=str)

    async def plain(ws: WebSocket) -> None:
        await ws.accept()
        await ops.emit(ws, "hello", "world")
        await ws.close()

    async with TestClient(asgi(plain)) as client, client.websocket_connect("/") as conn:
        assert await conn.receive_json() == {"type": "hello", "payload": "world"}


def request_router(timeout: float = 5.0) -> tuple[OperationRouter, list[object]]:
    ops = OperationRouter()
    ops.emits("client.ping", payload=Ping, reply_payload=Pong, summary="Are you there?")
    results: list[object] = []

    @ops.on("check", reply="checked", background=True)
    async def check(ws: WebSocket, payload: int) -> int:
        try:
            pong = await ops.request(ws, "client.ping", Ping(nonce=payload), timeout=timeout)
        except Exception as exc:
            results.append(exc)
            raise
        results.append(pong)
        return pong.nonce  # type: ignore[no-any-return]

    return ops, results


async def test_server_request_gets_the_clients_reply() -> None:
    ops, results = request_router()
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "check", "payload": 41, "id": "c1"})
        asked = await conn.receive_json()
        assert asked["type"] == "client.ping"
        assert asked["payload"] == {"nonce": 41}
        assert isinstance(asked["id"], str)
        # Other traffic may come first; the reply is matched by id and name.
        await conn.send_json({"type": "client.ping.reply", "payload": {"nonce": 1}, "id": "other"})
        assert (await conn.receive_json())["payload"]["code"] == "unknown_operation"
        await conn.send_json(
            {"type": "client.ping.reply", "payload": {"nonce": 41}, "id": asked["id"]}
        )
        assert await conn.receive_json() == {"type": "checked", "payload": 41, "id": "c1"}
    assert results == [Pong(nonce=41)]


async def test_server_request_times_out() -> None:
    ops, results = request_router(timeout=0.05)
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "check", "payload": 1, "id": 1})
        await conn.receive_json()  # the request: left unanswered
        error = await conn.receive_json()
        session = conn.scope["wskit.operations"]
        assert session.pending == {}
    assert isinstance(results[0], Timeout)
    assert "no reply to 'client.ping' within 0.05 seconds" in str(results[0])
    assert error["payload"]["code"] == "internal_error"
    assert error["id"] == 1


async def test_invalid_reply_raises_in_the_requester() -> None:
    ops, results = request_router()
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "check", "payload": 1})
        asked = await conn.receive_json()
        await conn.send_json(
            {"type": "client.ping.reply", "payload": {"nonce": "x"}, "id": asked["id"]}
        )
        await conn.receive_json()
    assert isinstance(results[0], ValidationError)
    assert results[0].path == "$.payload.nonce"


async def test_a_reply_with_another_name_is_not_taken_as_the_reply() -> None:
    ops, results = request_router()
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "check", "payload": 5})
        asked = await conn.receive_json()
        await conn.send_json({"type": "wrong.name", "payload": {"nonce": 5}, "id": asked["id"]})
        assert (await conn.receive_json())["payload"]["code"] == "unknown_operation"
        await conn.send_text("junk")  # junk while a request waits is still bad input
        assert (await conn.receive_json())["payload"]["code"] == "malformed"
        await conn.send_json(
            {"type": "client.ping.reply", "payload": {"nonce": 5}, "id": asked["id"]}
        )
        assert (await conn.receive_json())["payload"] == 5
    assert results == [Pong(nonce=5)]


async def test_disconnect_wakes_a_waiting_request() -> None:
    ops = OperationRouter()
    ops.emits("ask", payload=None, reply_payload=int)
    outcome: list[BaseException] = []
    asked = anyio.Event()

    async def handler(ws: WebSocket) -> None:
        async with anyio.create_task_group() as tg:

            async def ask() -> None:
                await anyio.sleep(0.01)  # let the router start serving
                try:
                    await ops.request(ws, "ask", None, timeout=5)
                except WebSocketDisconnect as exc:
                    outcome.append(exc)

            tg.start_soon(ask)
            await ops(ws)

    async with TestClient(asgi(handler)) as client, client.websocket_connect("/") as conn:
        message = await conn.receive_json()
        assert message["type"] == "ask"
        asked.set()
        await conn.close(4001)
    assert len(outcome) == 1
    assert isinstance(outcome[0], WebSocketDisconnect)
    assert outcome[0].code == 4001


async def test_request_misuse() -> None:
    ops = OperationRouter()
    ops.emits("declared", payload=int)
    errors: list[Exception] = []

    @ops.on("reply.name")
    async def taken() -> None: ...

    @ops.on("inline")
    async def inline(ws: WebSocket) -> None:
        try:
            await ops.request(ws, "anything", reply=int, timeout=1)
        except RuntimeError as exc:
            errors.append(exc)

    @ops.on("background", background=True, reply="background.done")
    async def background(ws: WebSocket) -> int:
        for name, kwargs in (
            ("declared", {}),  # declared without a reply, and no reply= given
            ("undeclared", {}),
            ("reply", {"reply": int}),  # fine, but the client never answers
        ):
            try:
                with anyio.fail_after(0.2):
                    await ops.request(ws, name, 1, timeout=0.01, **kwargs)
            except (TypeError, Timeout) as exc:
                errors.append(exc)
        return len(errors)

    other = OperationRouter()

    @other.on("x.reply")
    async def clash() -> None: ...

    @other.on("go", background=True, reply="go.done")
    async def go(ws: WebSocket) -> int:
        try:
            await other.request(ws, "x", 1, reply=int, timeout=1)
        except ValueError as exc:
            errors.append(exc)
        return 1

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "inline"})
        await conn.send_json({"type": "background"})
        assert (await conn.receive_json())["type"] == "reply"
        assert (await conn.receive_json())["type"] == "background.done"
        await conn.close()
    async with TestClient(asgi(other)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "go"})
        assert (await conn.receive_json())["type"] == "go.done"

    async def no_router(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ops.request(ws, "x", reply=int)
        except RuntimeError as exc:
            errors.append(exc)

    async with TestClient(asgi(no_router)) as client, client.websocket_connect("/"):
        pass
    messages = [str(e) for e in errors]
    assert "nobody would read the reply" in messages[0]
    assert "declare it with emits" in messages[1]
    assert "declare it with emits" in messages[2]
    assert isinstance(errors[3], Timeout)
    assert "could not be told apart" in messages[4]
    assert "needs a connection served by an OperationRouter" in messages[5]


async def test_request_for_an_undeclared_name_and_a_reply_type_override() -> None:
    ops = OperationRouter()
    ops.emits("declared", payload=int, reply_payload=str)
    got: list[Any] = []

    @ops.on("go", background=True)
    async def go(ws: WebSocket) -> None:
        got.append(await ops.request(ws, "free", {"any": "thing"}, reply=list[int], timeout=2))
        got.append(await ops.request(ws, "declared", 3, reply=int, timeout=2))

    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "go"})
        first = await conn.receive_json()
        assert first["type"] == "free"
        assert first["payload"] == {"any": "thing"}
        await conn.send_json({"type": "free.reply", "payload": [1, 2], "id": first["id"]})
        second = await conn.receive_json()
        assert second["type"] == "declared"
        assert second["payload"] == 3
        await conn.send_json({"type": "declared.reply", "payload": 9, "id": second["id"]})
        await anyio.sleep(0.01)
        await conn.close()
    assert got == [[1, 2], 9]
