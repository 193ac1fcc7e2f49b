"""WebSocket sending: raw messages, text/bytes/json/data/frames, limits, timeouts, OSError."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from tests._asgi_pair import ASGIPair, accepted
from tests._upstream import starlette_message
from wskit.codecs import MSGPACK
from wskit.connection import Limits
from wskit.exceptions import (
    ConnectionClosed,
    InvalidTransition,
    MessageTooBig,
    Timeout,
    WebSocketDisconnect,
)

SLOW = Limits(send_timeout=5.0)  # a default deadline turns the fast path off


def starlette_json(data: Any) -> str:
    """What Starlette's ``send_json`` sends."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# -- raw send -------------------------------------------------------------------------------------


async def test_send_before_accept_raises_and_reads_nothing() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    with pytest.raises(InvalidTransition, match="'websocket.send' in state CONNECTING"):
        await ws.send({"type": "websocket.send", "text": "x"})
    with pytest.raises(InvalidTransition, match="in state CONNECTING"):
        await ws.send_text("x")
    assert pair.receive_calls == 0
    assert pair.sent == []


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "a", "bytes": b"b"},
        {"type": "websocket.send"},
        {"type": "websocket.send", "text": None, "bytes": None},
        {"type": "websocket.send", "text": b"bytes as text"},
        {"type": "websocket.send", "bytes": "text as bytes"},
    ],
)
async def test_raw_send_validates_the_payload(message: dict[str, Any]) -> None:
    pair, ws = await accepted()
    with pytest.raises(TypeError, match="exactly one of text"):
        await ws.send(message)
    assert pair.types == ["websocket.accept"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.send", "text": "a"},
        {"type": "websocket.send", "bytes": b"a"},
        {"type": "websocket.send", "text": None, "bytes": bytearray(b"a")},
        {"type": "websocket.send", "text": "a", "bytes": None},
    ],
)
async def test_raw_send(message: dict[str, Any]) -> None:
    pair, ws = await accepted()
    await ws.send(message)
    assert pair.sent[-1] == message


@pytest.mark.parametrize("event", ["websocket.accept", "websocket.http.response.start", "x"])
async def test_raw_send_of_illegal_messages_when_open(event: str) -> None:
    pair, ws = await accepted()
    with pytest.raises(InvalidTransition, match=f"{event!r} in state CONNECTED"):
        await ws.send({"type": event})
    assert pair.types == ["websocket.accept"]


# -- text, bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_send_text_and_bytes(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    await ws.send_text("héllo")
    await ws.send_text("")
    await ws.send_bytes(b"\x00")
    await ws.send_bytes(bytearray(b"ba"))
    await ws.send_bytes(memoryview(b"mv"))
    assert pair.sent[1:] == [
        {"type": "websocket.send", "text": "héllo"},
        {"type": "websocket.send", "text": ""},
        {"type": "websocket.send", "bytes": b"\x00"},
        {"type": "websocket.send", "bytes": b"ba"},
        {"type": "websocket.send", "bytes": b"mv"},
    ]
    assert all(type(m.get("bytes", b"")) is bytes for m in pair.sent)


async def test_send_text_and_bytes_check_their_argument() -> None:
    pair, ws = await accepted()
    with pytest.raises(TypeError, match="send_text needs a str, got bytes"):
        await ws.send_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="send_bytes needs bytes, got str"):
        await ws.send_bytes("x")  # type: ignore[arg-type]
    assert pair.types == ["websocket.accept"]


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize("method", ["send_text", "send_bytes", "send_json", "send_data"])
async def test_send_after_client_left_raises_and_sends_nothing(limits: Limits, method: str) -> None:
    pair, ws = await accepted(limits=limits)
    pair.disconnect(1001, "away")
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    payload: Any = b"x" if method == "send_bytes" else "x"
    with pytest.raises(ConnectionClosed) as info:
        await getattr(ws, method)(payload)
    assert (info.value.code, info.value.reason) == (1001, "away")
    assert pair.types == ["websocket.accept"]


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize("method", ["send_text", "send_bytes", "send_frame", "send_data"])
async def test_send_after_close_raises_and_sends_nothing(limits: Limits, method: str) -> None:
    pair, ws = await accepted(limits=limits)
    await ws.close(4000, "done")
    with pytest.raises(ConnectionClosed, match="in state DISCONNECTED") as info:
        await getattr(ws, method)(b"x" if method == "send_bytes" else "x")
    assert isinstance(info.value, RuntimeError)
    assert (info.value.code, info.value.reason) == (4000, "done")
    assert pair.send_calls == 2


# -- OSError from the server ----------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("send_text", "x"),
        ("send_bytes", b"x"),
        ("send_frame", "x"),
        ("send_frame", b"x"),
        ("send_data", "x"),
        ("send_data", b"x"),
        ("send_data", {"x": 1}),
        ("send_json", [1]),
    ],
)
async def test_oserror_is_a_1006_disconnect_and_final(
    limits: Limits, method: str, payload: object
) -> None:
    pair, ws = await accepted(limits=limits)
    pair.fail_send = ConnectionResetError("peer reset")
    with pytest.raises(WebSocketDisconnect) as info:
        await getattr(ws, method)(payload)
    assert info.value.code == 1006
    assert not isinstance(info.value, ConnectionClosed)
    assert ws.closed
    assert ws.close_code == 1006
    # No later ASGI call of any kind.
    receives, sends = pair.receive_calls, pair.send_calls
    with pytest.raises(ConnectionClosed):
        await ws.send_text("again")
    with pytest.raises(ConnectionClosed):
        await ws.receive_text()
    with pytest.raises(ConnectionClosed):
        await ws.receive()
    await ws.close()
    assert (pair.receive_calls, pair.send_calls) == (receives, sends)


async def test_oserror_during_accept() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    pair.fail_send = OSError("gone")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.accept()
    assert info.value.code == 1006
    assert ws.closed


# -- timeouts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["send_text", "send_frame", "send_data", "send_json"])
async def test_send_timeout(method: str) -> None:
    pair, ws = await accepted()
    pair.block_send = True
    with pytest.raises(Timeout, match="did not take the message within 0.01 seconds"):
        await getattr(ws, method)("x", timeout=0.01)


async def test_default_send_timeout_from_limits() -> None:
    pair, ws = await accepted(limits=Limits(send_timeout=0.01))
    pair.block_send = True
    with pytest.raises(Timeout):
        await ws.send_bytes(b"x")


# -- the outbound size limit ----------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(max_send_size=8), Limits(max_send_size=8, **{})])
async def test_send_size_limit_refuses_before_sending(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    await ws.send_text("éééé")  # 8 bytes
    with pytest.raises(MessageTooBig) as info:
        await ws.send_text("éééé!")  # 9 bytes
    assert (info.value.size, info.value.limit, info.value.direction) == (9, 8, "outbound")
    await ws.send_bytes(b"12345678")
    with pytest.raises(MessageTooBig, match="outbound message of 9 bytes"):
        await ws.send_bytes(b"123456789")
    with pytest.raises(MessageTooBig):
        await ws.send_frame("123456789")
    with pytest.raises(MessageTooBig):
        await ws.send_frame(b"123456789")
    with pytest.raises(MessageTooBig):
        await ws.send_data([1, 2, 3, 4, 5])
    with pytest.raises(MessageTooBig):
        await ws.send_json("1234567")
    assert pair.data == ["éééé", b"12345678"]
    assert not ws.closed
    await ws.send_text("ok")


async def test_no_send_size_limit() -> None:
    pair, ws = await accepted(limits=Limits(max_send_size=None))
    await ws.send_text("x" * 2**25)
    assert len(pair.data[0]) == 2**25


# -- send_json ------------------------------------------------------------------------------------


JSON_VALUES: list[Any] = [
    {"a": 1, "b": [True, False, None], "c": "é✓😀", "d": {"e": []}},
    [0.1, 1.5, -2.0, 1e16, 1e-7, 123456789.123, 1e300, 5e-324, -0.0],
    [1e-05, 2.5e-05, -9.99e-05, 0.0001, 0.00012],  # msgspec writes 0.00001, json 1e-05
    "plain",
    'quote " backslash \\ control \x01 \n tab \t',
    "\u2028\u2029",
    12345678901234567890,
    [],
    {},
    {"nested": [[[[1]]]]},
]


@pytest.mark.parametrize("value", JSON_VALUES)
async def test_send_json_is_starlettes_output(value: Any) -> None:
    pair, ws = await accepted()
    await ws.send_json(value)
    await ws.send_json(value, mode="binary")
    assert pair.data == [starlette_json(value), starlette_json(value).encode()]


async def test_send_json_non_finite_floats_become_null() -> None:
    # Starlette would send the non-JSON tokens NaN/Infinity; wskit sends valid JSON.
    pair, ws = await accepted()
    await ws.send_json([math.nan, math.inf, -math.inf])
    assert pair.data == ["[null,null,null]"]


async def test_send_json_encodes_what_msgspec_encodes() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    pair, ws = await accepted()
    await ws.send_json({"p": Point(1, 2)})
    assert pair.data == ['{"p":{"x":1,"y":2}}']


async def test_send_json_errors() -> None:
    pair, ws = await accepted()
    with pytest.raises(RuntimeError) as raised:
        await ws.send_json({}, mode="bytes")
    assert str(raised.value) == await starlette_message(lambda ws: ws.send_json({}, mode="bytes"))
    with pytest.raises(TypeError):
        await ws.send_json({"x": object()})
    assert pair.types == ["websocket.accept"]


# -- send_data and send_frame ---------------------------------------------------------------------


class Chat(msgspec.Struct):
    user: str
    text: str


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_send_data_json_codec(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    await ws.send_data("text")
    await ws.send_data(b"bin")
    await ws.send_data(Chat("ana", "hé"))
    await ws.send_data({"n": 1})
    await ws.send_data(7)
    assert pair.sent[1:] == [
        {"type": "websocket.send", "text": "text"},
        {"type": "websocket.send", "bytes": b"bin"},
        {"type": "websocket.send", "text": '{"user":"ana","text":"hé"}'},
        {"type": "websocket.send", "text": '{"n":1}'},
        {"type": "websocket.send", "text": "7"},
    ]


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_send_data_msgpack_codec_sends_binary(limits: Limits) -> None:
    pair, ws = await accepted(codec=MSGPACK, limits=limits)
    await ws.send_data(Chat("ana", "hé"))
    await ws.send_data("still text")
    assert pair.sent[1:] == [
        {"type": "websocket.send", "bytes": msgspec.msgpack.encode(Chat("ana", "hé"))},
        {"type": "websocket.send", "text": "still text"},
    ]


async def test_send_data_unencodable_sends_nothing() -> None:
    pair, ws = await accepted()
    with pytest.raises(TypeError):
        await ws.send_data(object())
    assert pair.types == ["websocket.accept"]


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_send_frame(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    await ws.send_frame("t")
    await ws.send_frame(b"b")
    assert pair.data == ["t", b"b"]


async def test_send_before_accept_via_every_method() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    calls: list[Callable[[], Awaitable[None]]] = [
        lambda: ws.send_text("x"),
        lambda: ws.send_bytes(b"x"),
        lambda: ws.send_frame("x"),
        lambda: ws.send_data({"x": 1}),
        lambda: ws.send_json(1),
    ]
    for call in calls:
        with pytest.raises(InvalidTransition, match="CONNECTING"):
            await call()
    assert pair.sent == []


@pytest.mark.parametrize("timeout", [None, 5.0])
async def test_the_servers_own_timeout_error_is_a_lost_transport(timeout: float | None) -> None:
    # TimeoutError is an OSError: raised by the server, it is not wskit's send deadline.
    pair, ws = await accepted()
    pair.fail_send = TimeoutError("socket timed out")
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x", timeout=timeout)
    assert not isinstance(info.value, Timeout)
    assert info.value.code == 1006
