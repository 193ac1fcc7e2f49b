"""Every wait of the test client is bounded, and its queues too.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

import anyio
import pytest

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    Timeout,
    WebSocketDisconnect,
)
from wskit.testing import (
    TIMEOUT_FACTOR_ENV,
    TestClient,
    WebSocketTestSession,
)

from ._apps import CLIENT_TIMEOUT, SECONDS, SHORT, accept, echo

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
