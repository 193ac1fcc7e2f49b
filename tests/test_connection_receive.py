"""WebSocket receiving: raw events, text/bytes/json, iterators, timeouts, limits, disconnects."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import anyio
import pytest
from starlette.websockets import WebSocketState

from tests._asgi_pair import ASGIPair, accepted
from tests._upstream import starlette_message
from wskit.connection import Limits
from wskit.exceptions import (
    ConcurrentReceive,
    ConnectionClosed,
    DecodeError,
    FrameTypeError,
    MessageTooBig,
    RemoteProtocolError,
    Timeout,
    WebSocketDisconnect,
    WebSocketDisconnected,
)

SLOW = Limits(receive_timeout=5.0)  # a default deadline turns the fast path off


# -- raw receive ----------------------------------------------------------------------------------


async def test_raw_receive_walks_the_events() -> None:
    pair = ASGIPair().text("a").binary(b"b").disconnect(1001, "bye")
    ws = pair.websocket()
    assert await ws.receive() == {"type": "websocket.connect"}
    assert pair.snapshot(ws) == (False, "CONNECTED", "CONNECTING")
    await ws.accept()
    assert await ws.receive() == {"type": "websocket.receive", "text": "a"}
    assert await ws.receive() == {"type": "websocket.receive", "bytes": b"b"}
    assert await ws.receive() == {"type": "websocket.disconnect", "code": 1001, "reason": "bye"}
    assert pair.snapshot(ws) == (True, "DISCONNECTED", "CONNECTED")
    assert (ws.close_code, ws.close_reason) == (1001, "bye")
    with pytest.raises(ConnectionClosed, match="'receive' in state DISCONNECTED"):
        await ws.receive()
    assert pair.receive_calls == 4


async def test_raw_receive_before_accept_is_allowed_for_data() -> None:
    # Starlette's receive() only checks the client side; so does wskit's raw receive.
    pair = ASGIPair().text("early")
    ws = pair.websocket()
    await ws.receive()
    assert (await ws.receive())["text"] == "early"


async def test_raw_receive_out_of_sequence() -> None:
    pair = ASGIPair().connect()
    ws = pair.websocket()
    await ws.receive()
    with pytest.raises(RemoteProtocolError, match="'websocket.connect' in state CONNECTED"):
        await ws.receive()
    assert ws.closed
    with pytest.raises(ConnectionClosed):
        await ws.receive()
    assert pair.receive_calls == 2


async def test_disconnect_without_code_means_1000() -> None:
    pair, ws = await accepted()
    pair.push({"type": "websocket.disconnect"})
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.receive_text()
    assert (info.value.code, info.value.reason) == (1000, "")
    assert (ws.close_code, ws.close_reason) == (1000, "")


# -- text and bytes -------------------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_receive_text_and_bytes(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    pair.text("héllo", "").binary(b"\x00\xff", b"")
    assert await ws.receive_text() == "héllo"
    assert await ws.receive_text() == ""
    assert await ws.receive_bytes() == b"\x00\xff"
    assert await ws.receive_bytes() == b""


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_wrong_frame_kind_is_a_frame_type_error_and_consumed(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    pair.binary(b"x").text("y").text("z")
    with pytest.raises(FrameTypeError, match="expected a text frame, received a bytes frame"):
        await ws.receive_text()
    with pytest.raises(FrameTypeError, match="expected a bytes frame, received a text frame"):
        await ws.receive_bytes()
    assert await ws.receive_text() == "z"


async def test_frames_with_both_keys_as_hypercorn_sends_them() -> None:
    pair, ws = await accepted()
    pair.push(
        {"type": "websocket.receive", "text": None, "bytes": b"b"},
        {"type": "websocket.receive", "text": "t", "bytes": None},
    )
    assert await ws.receive_bytes() == b"b"
    assert await ws.receive_text() == "t"


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json"])
async def test_disconnect_raises_then_never_receives_again(limits: Limits, method: str) -> None:
    pair, ws = await accepted(limits=limits)
    pair.disconnect(4001, "gone")
    with pytest.raises(WebSocketDisconnect) as info:
        await getattr(ws, method)()
    assert (info.value.code, info.value.reason) == (4001, "gone")
    assert ws.client_state is WebSocketState.DISCONNECTED
    assert ws.closed
    calls = pair.receive_calls
    for _ in range(2):
        with pytest.raises(ConnectionClosed) as again:
            await getattr(ws, method)()
        assert (again.value.code, again.value.reason) == (4001, "gone")
    assert pair.receive_calls == calls


@pytest.mark.parametrize("method", ["receive_text", "receive_bytes", "receive_json"])
async def test_receive_data_before_accept_raises(method: str) -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    with pytest.raises(WebSocketDisconnected, match='need to call "accept" first'):
        await getattr(ws, method)()
    assert pair.receive_calls == 0


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
async def test_server_out_of_sequence_on_data_receive(limits: Limits) -> None:
    pair, ws = await accepted(limits=limits)
    pair.push({"type": "websocket.connect"})
    with pytest.raises(RemoteProtocolError, match="broke the ASGI sequence"):
        await ws.receive_text()
    assert ws.closed
    assert ws.client_state is WebSocketState.DISCONNECTED


# -- json -----------------------------------------------------------------------------------------


async def test_receive_json_text_and_binary() -> None:
    pair, ws = await accepted()
    pair.text('{"a": [1, 2.5, "é", null, true]}').binary(b'{"b": 1}')
    assert await ws.receive_json() == {"a": [1, 2.5, "é", None, True]}
    assert await ws.receive_json(mode="binary") == {"b": 1}


async def test_receive_json_errors() -> None:
    pair, ws = await accepted()
    with pytest.raises(RuntimeError) as raised:
        await ws.receive_json(mode="bytes")
    assert str(raised.value) == await starlette_message(lambda ws: ws.receive_json(mode="bytes"))
    assert pair.receive_calls == 1
    pair.text("{not json").binary(b"[]").text("[]").text("[1]")
    with pytest.raises(DecodeError, match="malformed message") as info:
        await ws.receive_json()
    assert isinstance(info.value, ValueError)
    with pytest.raises(FrameTypeError, match="expected a text frame"):
        await ws.receive_json()
    with pytest.raises(FrameTypeError, match="expected a bytes frame"):
        await ws.receive_json(mode="binary")
    assert await ws.receive_json() == [1]


async def test_receive_json_deep_nesting_is_a_decode_error() -> None:
    pair, ws = await accepted()
    pair.text("[" * 100_000).text('"ok"')
    with pytest.raises(DecodeError):
        await ws.receive_json()
    assert await ws.receive_json() == "ok"


async def test_receive_json_keeps_big_integers() -> None:
    pair, ws = await accepted()
    pair.text("[123456789012345678901234567890, -0.0, 1E5]")
    big, zero, e5 = await ws.receive_json()
    assert big == 123456789012345678901234567890
    assert math.copysign(1, zero) == -1
    assert e5 == 100000.0


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "[1e400]", '"\\ud800"'])
async def test_receive_json_is_strict_json(text: str) -> None:
    # A documented difference from Starlette's json.loads, which accepts these non-JSON
    # extensions: wskit rejects them with DecodeError (a ValueError, like JSONDecodeError).
    pair, ws = await accepted()
    pair.text(text)
    with pytest.raises(DecodeError):
        await ws.receive_json()
    assert not ws.closed


# -- iterators ------------------------------------------------------------------------------------


async def test_iterators_end_on_disconnect_and_keep_the_code() -> None:
    pair, ws = await accepted()
    pair.text("a", "b").disconnect(4002, "done")
    assert [t async for t in ws.iter_text()] == ["a", "b"]
    assert (ws.close_code, ws.close_reason) == (4002, "done")

    pair, ws = await accepted()
    pair.binary(b"a").disconnect(1001)
    assert [b async for b in ws.iter_bytes()] == [b"a"]
    assert ws.close_code == 1001

    pair, ws = await accepted()
    pair.text("[1]", '{"x": 2}').disconnect()
    assert [j async for j in ws.iter_json()] == [[1], {"x": 2}]
    assert ws.close_code == 1000


async def test_iterator_ends_when_the_app_closed_elsewhere() -> None:
    _, ws = await accepted()
    await ws.close(4003)
    assert [t async for t in ws.iter_text()] == []
    assert ws.close_code == 4003


async def test_iterator_raises_other_errors() -> None:
    pair, ws = await accepted()
    pair.binary(b"x")
    with pytest.raises(FrameTypeError):
        async for _ in ws.iter_text():
            pass  # pragma: no cover


# -- concurrency and timeouts ---------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize("second", ["receive_text", "receive_bytes", "receive", "typed"])
async def test_concurrent_receive_raises(limits: Limits, second: str) -> None:
    pair, ws = await accepted(limits=limits)
    got: list[str] = []

    async def first() -> None:
        got.append(await ws.receive_text())

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await anyio.wait_all_tasks_blocked()
        call = (lambda: ws.receive(int)) if second == "typed" else getattr(ws, second)
        with pytest.raises(ConcurrentReceive, match="already receiving"):
            await call()
        pair.text("one")
    assert got == ["one"]
    pair.text("two")
    assert await ws.receive_text() == "two"
    assert pair.receive_calls == 3


@pytest.mark.parametrize("method", ["receive", "receive_text", "receive_bytes", "receive_json"])
async def test_receive_timeout(method: str) -> None:
    pair, ws = await accepted()
    with pytest.raises(Timeout, match="no message within 0.01 seconds") as info:
        await getattr(ws, method)(timeout=0.01)
    assert isinstance(info.value, TimeoutError)
    # The connection still works.
    pair.text("[1]")
    assert await ws.receive_json() == [1]


async def test_typed_receive_timeout() -> None:
    pair, ws = await accepted()
    with pytest.raises(Timeout):
        await ws.receive(int, timeout=0.01)
    pair.text("7")
    assert await ws.receive(int) == 7


async def test_default_receive_timeout_from_limits() -> None:
    pair, ws = await accepted(limits=Limits(receive_timeout=0.01))
    with pytest.raises(Timeout):
        await ws.receive_text()
    pair.text("late")
    assert await ws.receive_text() == "late"


# -- the inbound size limit -----------------------------------------------------------------------


@pytest.mark.parametrize("limits", [Limits(max_message_size=8), SLOW], ids=["fast", "slow"])
@pytest.mark.parametrize("method", ["receive_text", "receive", "typed", "receive_json"])
async def test_text_size_is_measured_in_utf8_bytes(limits: Limits, method: str) -> None:
    limit = limits.max_message_size or 0
    if limits is SLOW:
        limits = Limits(max_message_size=8, receive_timeout=5.0)
        limit = 8
    # 4 characters, 8 bytes: fits. 3 characters of 4 bytes: 12 bytes, too big.
    pair, ws = await accepted(limits=limits)
    pair.text('"éé"', '"😀😀"')
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "receive_text": ws.receive_text,
        "receive": ws.receive,
        "typed": lambda: ws.receive(str),
        "receive_json": ws.receive_json,
    }
    call = calls[method]
    await call()
    with pytest.raises(MessageTooBig) as info:
        await call()
    assert (info.value.size, info.value.limit, info.value.direction) == (10, limit, "inbound")
    assert info.value.close_code == 1009
    assert pair.closes == [{"type": "websocket.close", "code": 1009, "reason": "message too big"}]
    assert ws.close_code == 1009
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()


@pytest.mark.parametrize(
    "limits",
    [Limits(max_message_size=4), Limits(max_message_size=4, receive_timeout=5)],
    ids=["fast", "slow"],
)
@pytest.mark.parametrize("method", ["receive_bytes", "receive", "typed"])
async def test_binary_size_limit(limits: Limits, method: str) -> None:
    pair, ws = await accepted(limits=limits)
    pair.binary(b"1234", b"12345")
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "receive_bytes": ws.receive_bytes,
        "receive": ws.receive,
        "typed": lambda: ws.receive(bytes),
    }
    call = calls[method]
    await call()
    with pytest.raises(MessageTooBig, match="inbound message of 5 bytes"):
        await call()
    assert [m["code"] for m in pair.closes] == [1009]


async def test_size_limit_closes_even_when_the_client_left_meanwhile() -> None:
    pair, ws = await accepted(limits=Limits(max_message_size=1))
    pair.fail_send = ConnectionResetError()
    pair.text("too long")
    with pytest.raises(MessageTooBig):
        await ws.receive_text()
    assert ws.closed


async def test_no_size_limit() -> None:
    pair, ws = await accepted(limits=Limits(max_message_size=None))
    pair.text("x" * 2_000_000).binary(b"y" * 2_000_000)
    assert len(await ws.receive_text()) == 2_000_000
    assert len(await ws.receive_bytes()) == 2_000_000


async def test_default_limit_is_one_mebibyte() -> None:
    pair, ws = await accepted()
    pair.binary(b"x" * 2**20, b"x" * (2**20 + 1))
    assert len(await ws.receive_bytes()) == 2**20
    with pytest.raises(MessageTooBig):
        await ws.receive_bytes()
