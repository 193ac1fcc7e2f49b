"""Every close wskit sends carries a reason (issue 12, finding 4).

A client fault closes with the error's code and a reason that says what was wrong with the
client's message (the validation path included); a server error closes 1011 "internal error",
never the exception's text; wskit's own closes (too big, idle, rate, lifespan, drain,
overload) name their cause. Reasons wskit builds are cut to the 123 UTF-8 bytes a close frame
holds, at a character boundary.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from tests._upstream import passed_through
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import (
    DecodeError,
    FrameTypeError,
    MessageTooBig,
    Timeout,
    UnexpectedMessage,
    UnknownOperation,
    ValidationError,
    WebSocketDisconnect,
)
from wskit.limits import Limits
from wskit.status import MAX_REASON_BYTES, fit_reason, reason_for
from wskit.testing import TestClient, WebSocketTestSession


class Chat(msgspec.Struct):
    seq: int
    text: str


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (ValidationError("Expected `int`, got `str` at $.seq", "$.seq"), 1007,
         "invalid message: Expected `int`, got `str` at $.seq"),
        (DecodeError("malformed message: JSON is malformed"), 1007,
         "malformed message: JSON is malformed"),
        (FrameTypeError("text", "bytes"), 1003, "expected a text frame"),
        (MessageTooBig(10, 5), 1009, "message too big"),
        (UnknownOperation("chat.nope"), 1003, "unknown operation 'chat.nope'"),
        (UnexpectedMessage("hello", "secret"), 1008, "unexpected message"),
        (Timeout("no message within 5 seconds"), 1008, "timeout"),
    ],
)  # fmt: skip
def test_client_faults_carry_their_reason(error: Exception, code: int, reason: str) -> None:
    assert (getattr(error, "close_code", None), getattr(error, "close_reason", None)) == (
        code,
        reason,
    )


def test_generic_reasons() -> None:
    assert reason_for(1011) == "internal error"
    assert reason_for(1001) == "going away"
    assert reason_for(1000) == reason_for(4000) == ""


@pytest.mark.parametrize("char", ["a", "é", "✓", "😀"])
def test_fit_reason_cuts_at_a_character_boundary(char: str) -> None:
    for length in range(0, 130):
        text = "x" * (length % 4) + char * length
        cut = fit_reason(text)
        assert text.startswith(cut)
        assert len(cut.encode()) <= MAX_REASON_BYTES
        if len(text.encode()) <= MAX_REASON_BYTES:
            assert cut == text
        else:  # nothing dropped that would have fitted
            assert len(cut.encode()) > MAX_REASON_BYTES - len(char.encode())


def app() -> App:
    app = App()

    @app.websocket("/typed")
    async def typed(ws: WebSocket) -> None:
        async with ws:
            while True:
                await ws.receive(Chat)

    @app.websocket("/plain")
    async def plain(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive(Chat)  # uncaught: the App closes with its code

    @app.websocket("/speed")
    async def speed(ws: WebSocket) -> None:
        async with ws:
            await ws.receive(Literal["fast", "slow"])

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        raise RuntimeError("password=hunter2")

    @app.websocket("/small", limits=Limits(max_message_size=8))
    async def small(ws: WebSocket) -> None:
        async with ws:
            await ws.receive_text()

    return app


async def closed(conn: WebSocketTestSession) -> tuple[int | None, str | None]:
    """Read until the app closes; return the close code and reason it sent."""
    while True:
        try:
            await conn.receive_text()
        except WebSocketDisconnect:
            return conn.close_code, conn.close_reason


@pytest.mark.parametrize("path", ["/typed", "/plain"])
async def test_a_validation_failure_closes_1007_with_the_path(path: str) -> None:
    async with TestClient(app()) as client, client.websocket_connect(path) as conn:
        await conn.send_json({"seq": "one", "text": "hi"})
        code, reason = await closed(conn)
    assert code == 1007
    assert reason is not None
    # wskit's prefix, then msgspec's message (not spelled here) and the path, wskit's.
    assert reason.startswith("invalid message: ")
    assert reason.removeprefix("invalid message: ") == passed_through("$.seq")


async def test_a_long_non_ascii_reason_is_cut_to_123_bytes() -> None:
    async with TestClient(app()) as client, client.websocket_connect("/speed") as conn:
        await conn.send_text("😀" * 60)  # previewed in the message: 160 bytes of emoji
        code, reason = await closed(conn)
    assert code == 1007
    assert reason is not None
    assert reason.startswith("invalid message: expected one of fast, slow, got '😀😀")
    assert MAX_REASON_BYTES - 3 <= len(reason.encode()) <= MAX_REASON_BYTES


async def test_a_server_error_closes_1011_internal_error() -> None:
    async with TestClient(app()) as client, client.websocket_connect("/boom") as conn:
        assert await closed(conn) == (1011, "internal error")


async def test_too_big_closes_1009_with_a_reason() -> None:
    async with TestClient(app()) as client, client.websocket_connect("/small") as conn:
        await conn.send_text("x" * 9)
        assert await closed(conn) == (1009, "message too big")


async def test_the_drain_closes_1001_with_a_reason() -> None:
    service = app()
    async with TestClient(service) as client, client.websocket_connect("/typed") as conn:
        await service.shutdown()
        assert await closed(conn) == (1001, "server shutting down")


async def test_overload_closes_1013_with_a_reason() -> None:
    service = App(max_connections=1, on_overload="close")

    @service.websocket("/")
    async def hold(ws: WebSocket) -> None:
        async with ws:
            await ws.receive_text()

    async with TestClient(service) as client, client.websocket_connect("/") as first:
        async with client.websocket_connect("/") as second:
            assert await closed(second) == (1013, "too many connections")
        await first.send_text("bye")
