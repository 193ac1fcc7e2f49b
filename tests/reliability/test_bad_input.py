"""Hostile payloads and oversized messages: a typed error or a close, never a crash or a leak.

Hostile payloads. Malformed JSON, deeply nested JSON (``"[" * 100000``), the wrong frame kind,
empty frames and invalid UTF-8 where bytes must become text: every receive method raises a typed
error (``DecodeError``/``ValidationError``/``FrameTypeError``), never a crash, and the
connection answers the next good frame; the operation router answers each with an error envelope
and stays open. The bare-``WebSocket`` decoding rules are in ``tests/test_connection_*.py``;
this file runs them through an App and the router, with a "usable afterwards" check and nothing
logged at ERROR.

Oversized messages. An inbound message over ``max_message_size`` closes with 1009 and is not
retained: the peak memory while the app handles it stays far below the message's size
(tracemalloc). An outbound message over ``max_send_size`` is refused before anything reaches the
server.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from wskit.app import App
from wskit.codecs import MSGPACK
from wskit.connection import Limits, WebSocket
from wskit.exceptions import MessageTooBig, WebSocketDisconnect, WskitError
from wskit.operations import OperationRouter
from wskit.testing import TestClient

from ._helpers import Recorder, Records

DEEP_JSON = "[" * 100_000
DEEP_MSGPACK = b"\x91" * 100_000 + b"\x90"


class Tick(msgspec.Struct):
    seq: int
    text: str


Receiver = Callable[[WebSocket], Awaitable[Any]]

RECEIVERS: dict[str, Receiver] = {
    "json": lambda ws: ws.receive_json(),
    "json-binary": lambda ws: ws.receive_json(mode="binary"),
    "model": lambda ws: ws.receive(Tick),
    "text": lambda ws: ws.receive_text(),
    "bytes": lambda ws: ws.receive_bytes(),
    "str": lambda ws: ws.receive(str),
    "int": lambda ws: ws.receive(int),
    "bool": lambda ws: ws.receive(bool),
    "dict": lambda ws: ws.receive(dict),
    "bytes-typed": lambda ws: ws.receive(bytes),
}

GOOD: dict[str, str | bytes] = {
    "json": "[1]",
    "json-binary": b"[1]",
    "model": '{"seq": 1, "text": "a"}',
    "text": "a",
    "bytes": b"a",
    "str": "a",
    "int": "1",
    "bool": "true",
    "dict": "{}",
    "bytes-typed": b"a",
}

# (receive method, bad frame, the error the handler sees)
BAD: list[tuple[str, str | bytes, str]] = [
    ("json", '{"a": ', "DecodeError"),
    ("json", DEEP_JSON, "DecodeError"),
    ("json", "", "DecodeError"),
    ("json", "NaN", "DecodeError"),
    ("json", b"{}", "FrameTypeError"),
    ("json-binary", b"\xff\xfe[1]", "DecodeError"),
    ("json-binary", b"", "DecodeError"),
    ("json-binary", "[1]", "FrameTypeError"),
    ("model", '{"seq": "1", "text": "a"}', "ValidationError"),
    ("model", DEEP_JSON, "ValidationError"),  # an array where an object belongs: found at once
    ("model", "", "DecodeError"),
    ("model", b"", "DecodeError"),
    ("model", b"\xc1", "DecodeError"),
    ("model", DEEP_MSGPACK, "ValidationError"),
    ("text", b"a", "FrameTypeError"),
    ("bytes", "a", "FrameTypeError"),
    ("str", b"\xff\xfe", "DecodeError"),
    ("int", "", "ValidationError"),
    ("int", "1e3", "ValidationError"),
    ("int", b"\xff", "DecodeError"),  # not UTF-8
    ("bool", "yes", "ValidationError"),
    ("dict", "[1]", "ValidationError"),
    ("dict", DEEP_JSON, "ValidationError"),
    ("dict", b"\xc1", "DecodeError"),  # never used in MessagePack
]


def typed_app() -> App:
    app = App()

    @app.websocket("/{kind}")
    async def typed(ws: WebSocket) -> None:
        receive = RECEIVERS[ws.path_params["kind"]]
        await ws.accept()
        while True:
            try:
                await receive(ws)
            except WebSocketDisconnect:
                return
            except WskitError as exc:
                await ws.send_text(type(exc).__name__)
            else:
                await ws.send_text("ok")

    return app


async def _send(conn: Any, frame: str | bytes) -> None:
    if isinstance(frame, str):
        await conn.send_text(frame)
    else:
        await conn.send_bytes(frame)


async def test_bad_frames_are_typed_errors_and_the_connection_stays_usable(
    records: Records,
) -> None:
    app = typed_app()
    async with TestClient(app) as client:
        for kind in RECEIVERS:
            cases = [case for case in BAD if case[0] == kind]
            async with client.websocket_connect(f"/{kind}") as conn:
                for _, frame, _ in cases:
                    await _send(conn, frame)
                    await _send(conn, GOOD[kind])
                seen = [await conn.receive_text() for _ in range(2 * len(cases))]
            assert seen == [x for case in cases for x in (case[2], "ok")], kind
    assert records.errors == []


def ops_router() -> OperationRouter:
    ops = OperationRouter()

    @ops.on("tick", reply="tick.ok")
    async def tick(payload: Tick) -> int:
        return payload.seq

    return ops


ROUTER_BAD: list[tuple[str | bytes, str]] = [
    ('{"type": "tick", ', "malformed"),
    (DEEP_JSON, "malformed"),
    ("", "malformed"),
    (b"", "unsupported_frame"),  # a binary frame on a JSON connection
    (DEEP_MSGPACK, "unsupported_frame"),
    ("[]", "malformed"),
    ('{"type": 1}', "malformed"),
    ('{"type": "nope", "id": 5}', "unknown_operation"),
    ('{"type": "tick", "payload": {"seq": "x", "text": "a"}, "id": 6}', "invalid_payload"),
    ('{"type": "tick", "payload": ' + DEEP_JSON, "malformed"),
    ("\udcff".encode("utf-8", "surrogatepass").decode("latin-1"), "malformed"),
]


MSGPACK_BAD: list[bytes] = [b"", b"\xc1", DEEP_MSGPACK, b"\x91\x01", b"\x81\xa4type\x01"]


async def test_operation_router_answers_every_bad_frame_and_stays_open(records: Records) -> None:
    app = App()
    app.add_route("/ops", ops_router())
    app.add_route("/ops-msgpack", ops_router(), codec=MSGPACK)
    good = {"type": "tick", "payload": {"seq": 7, "text": "a"}, "id": 1}
    async with TestClient(app) as client:
        async with client.websocket_connect("/ops") as conn:
            for frame, code in ROUTER_BAD:
                await _send(conn, frame)
                error = await conn.receive_json()
                assert (error["type"], error["payload"]["code"]) == ("error", code), frame[:40]
                await conn.send_json(good)
                assert await conn.receive_json() == {"type": "tick.ok", "payload": 7, "id": 1}
        async with client.websocket_connect("/ops-msgpack") as conn:
            for data in MSGPACK_BAD:
                await conn.send_bytes(data)
                error = msgspec.msgpack.decode(await conn.receive_bytes())
                assert (error["type"], error["payload"]["code"]) == ("error", "malformed")
                await conn.send_bytes(msgspec.msgpack.encode(good))
                reply = msgspec.msgpack.decode(await conn.receive_bytes())
                assert reply == {"type": "tick.ok", "payload": 7, "id": 1}
    assert records.errors == []


# -- oversized messages ------------------------------------------------------------------------

LIMIT = 1024
HUGE = 16 * 2**20


def _huge(kind: str) -> str | bytes:
    if kind == "bytes":
        return b"x" * HUGE
    if kind == "text-ascii":
        return "x" * HUGE
    return "é" * (HUGE // 2)


def sink_app() -> App:
    app = App(limits=Limits(max_message_size=LIMIT))

    @app.websocket("/sink")
    async def sink(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            try:
                await ws.receive()
            except MessageTooBig:
                return

    return app


async def _peak_while_refusing(frame: str | bytes) -> tuple[int, int | None]:
    """Send ``frame`` to ``/sink``; return the peak memory above the start, and the close code."""
    recorder = Recorder(sink_app())
    async with TestClient(recorder).websocket_connect("/sink") as conn:
        gc.collect()
        tracemalloc.start()
        try:
            start = tracemalloc.get_traced_memory()[0]
            await _send(conn, frame)
            with pytest.raises(WebSocketDisconnect):
                await conn.receive_text()
            peak = tracemalloc.get_traced_memory()[1] - start
        finally:
            tracemalloc.stop()
    assert recorder.types == ["websocket.accept", "websocket.close"]
    return peak, conn.close_code


@pytest.mark.parametrize(
    "kind",
    [
        "bytes",
        "text-ascii",
        "text-utf8",
    ],
)
async def test_oversized_inbound_closes_1009_without_holding_a_copy(kind: str) -> None:
    frame = _huge(kind)
    peak, code = await _peak_while_refusing(frame)
    assert code == 1009
    # The message itself was allocated before tracing started; handling it must not copy it.
    assert peak < HUGE // 16, f"peak {peak} bytes while refusing a {HUGE}-byte message"


async def test_oversized_outbound_is_refused_before_the_server_sees_it() -> None:
    app = App(limits=Limits(max_send_size=LIMIT))

    @app.websocket("/big")
    async def big(ws: WebSocket) -> None:
        await ws.accept()
        for value in ("x" * (LIMIT + 1), b"x" * (LIMIT + 1), "é" * (LIMIT // 2 + 1)):
            send: Callable[[Any], Awaitable[None]] = (
                ws.send_text if isinstance(value, str) else ws.send_bytes
            )
            with pytest.raises(MessageTooBig) as info:
                await send(value)
            assert info.value.direction == "outbound"
        with pytest.raises(MessageTooBig):
            await ws.send_data({"blob": "x" * LIMIT})
        await ws.send_text("still open")

    recorder = Recorder(app)
    async with TestClient(recorder).websocket_connect("/big") as conn:
        assert await conn.receive_text() == "still open"
    assert [m["type"] for m in recorder.sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
