"""Handshake auth, idle timeout, maximum lifespan, and no task left behind."""

from __future__ import annotations

import anyio
import pytest

from wskit.connection import WebSocket
from wskit.exceptions import Denied, WebSocketDisconnect
from wskit.operations import OperationRouter
from wskit.testing import TestClient, WebSocketDenied

from ._helpers import asgi


def echo_router(**options: object) -> OperationRouter:
    ops = OperationRouter(**options)  # type: ignore[arg-type]

    @ops.on("echo", reply="echo")
    async def echo(payload: str) -> str:
        return payload

    @ops.on("slow", reply="slow.done")
    async def slow(payload: float) -> str:
        await anyio.sleep(payload)
        return "done"

    @ops.on("user", reply="user.is")
    async def user(ws: WebSocket) -> str:
        return str(ws.state.user)

    return ops


async def test_authenticate_grants_and_denies() -> None:
    async def authenticate(ws: WebSocket) -> object:
        token = ws.query_params.get("token")
        if token == "limit":
            raise Denied(429, b"slow down")
        return {"name": token} if token else None

    app = asgi(echo_router(authenticate=authenticate))
    async with TestClient(app) as client:
        async with client.websocket_connect("/", query_string="token=ann") as conn:
            await conn.send_json({"type": "user"})
            assert (await conn.receive_json())["payload"] == "{'name': 'ann'}"
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/"):
                pass
        assert denied.value.status == 401
        with pytest.raises(WebSocketDenied) as limited:
            async with client.websocket_connect("/", query_string="token=limit"):
                pass
        assert limited.value.status == 429
        assert limited.value.body == b"slow down"


async def test_idle_timeout_closes_with_1008() -> None:
    app = asgi(echo_router(idle_timeout=0.2))
    async with TestClient(app) as client, client.websocket_connect("/") as conn:
        # Traffic keeps it open past the idle timeout.
        for _ in range(4):
            await anyio.sleep(0.08)
            await conn.send_json({"type": "echo", "payload": "x"})
            assert (await conn.receive_json())["payload"] == "x"
        # A handler busy for longer than the timeout is not the client being idle.
        await conn.send_json({"type": "slow", "payload": 0.3})
        assert (await conn.receive_json())["payload"] == "done"
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert (conn.close_code, conn.close_reason) == (1008, "idle timeout")


async def test_max_lifespan_closes_with_1001() -> None:
    app = asgi(echo_router(max_lifespan=0.15))
    async with TestClient(app) as client, client.websocket_connect("/") as conn:
        with anyio.fail_after(2):
            while True:
                try:
                    await conn.send_json({"type": "echo", "payload": "x"})
                    await conn.receive_json()
                except WebSocketDisconnect:
                    break
                await anyio.sleep(0.02)
    assert (conn.close_code, conn.close_reason) == (1001, "connection lifespan ended")


async def test_receive_timeout_limit_acts_as_idle_timeout() -> None:
    from wskit.connection import Limits

    app = asgi(echo_router(), limits=Limits(receive_timeout=0.05))
    async with TestClient(app) as client, client.websocket_connect("/") as conn:
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1008


async def test_message_too_big_ends_the_loop() -> None:
    from wskit.connection import Limits

    app = asgi(echo_router(), limits=Limits(max_message_size=16))
    async with TestClient(app) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "echo", "payload": "x" * 100})
        with pytest.raises(WebSocketDisconnect):
            await conn.receive_text()
    assert conn.close_code == 1009


async def test_timers_and_background_tasks_end_with_the_connection() -> None:
    ops = echo_router(idle_timeout=10, max_lifespan=10)

    @ops.on("forever", background=True)
    async def forever() -> None:
        await anyio.sleep(60)

    before = len(anyio.get_running_tasks())
    async with TestClient(asgi(ops)) as client, client.websocket_connect("/") as conn:
        await conn.send_json({"type": "forever"})
        await conn.send_json({"type": "echo", "payload": "x"})
        await conn.receive_json()
        during = len(anyio.get_running_tasks())
        await conn.close()
    assert during > before
    assert len(anyio.get_running_tasks()) == before
