"""Property tests: casting, ``send_json`` output, and random call sequences against the spec.

The state machine drives one ``WebSocket`` through a recording :class:`ASGIPair` with random
application calls (accept, deny, send_text, send_bytes, send_data, close, receives) and random
client events (connect, message, disconnect, a failing server ``send``). After every step it
checks that what the application emitted is a legal ASGI message sequence, and every call
that raised emitted nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from starlette.websockets import WebSocketState

from tests._asgi_pair import ASGIPair, accepted, make_scope
from wskit._casting import CASTS
from wskit.connection import Limits
from wskit.exceptions import (
    DecodeError,
    MessageTooBig,
    ValidationError,
    WebSocketDisconnect,
    WskitError,
)
from wskit.status import is_sendable

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTEGER = re.compile(r"[+-]?[0-9]+")
FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def text_frame(text: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": text}


def binary_frame(data: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": data}


# -- casting --------------------------------------------------------------------------------------


@FAST
@given(st.integers().filter(lambda i: len(str(i)) <= 4300), st.booleans())
def test_int_round_trip(value: int, binary: bool) -> None:
    text = str(value)
    frame = binary_frame(text.encode()) if binary else text_frame(text)
    assert CASTS[int](frame) == value


@FAST
@given(st.text().filter(lambda t: INTEGER.fullmatch(t) is None))
def test_int_rejects_anything_but_plain_digits(text: str) -> None:
    with pytest.raises(ValidationError):
        CASTS[int](text_frame(text))


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_float_round_trip(value: float, binary: bool) -> None:
    text = repr(value)
    frame = binary_frame(text.encode()) if binary else text_frame(text)
    assert CASTS[float](frame) == value


@FAST
@given(st.text().filter(lambda t: FLOAT.fullmatch(t) is None))
def test_float_rejects_anything_but_a_decimal_number(text: str) -> None:
    with pytest.raises(ValidationError):
        CASTS[float](text_frame(text))


@FAST
@given(st.text(alphabet="0123456789", min_size=1, max_size=50))
def test_bool_from_digits(digits: str) -> None:
    assert CASTS[bool](text_frame(digits)) is (int(digits) != 0)


@FAST
@given(st.text().filter(lambda t: t not in {"true", "True", "false", "False"}))
def test_bool_rejects_anything_else(text: str) -> None:
    if text.isascii() and text.isdigit():
        return
    with pytest.raises(ValidationError):
        CASTS[bool](text_frame(text))


@FAST
@given(st.text())
def test_str_and_bytes_round_trip(text: str) -> None:
    assert CASTS[str](text_frame(text)) == text
    assert CASTS[str](binary_frame(text.encode())) == text
    assert CASTS[bytes](text_frame(text)) == text.encode()


@FAST
@given(st.binary())
def test_bytes_identity_and_str_from_bytes(data: bytes) -> None:
    assert CASTS[bytes](binary_frame(data)) == data
    try:
        expected = data.decode()
    except UnicodeDecodeError:
        with pytest.raises(DecodeError):
            CASTS[str](binary_frame(data))
    else:
        assert CASTS[str](binary_frame(data)) == expected


# -- send_json is Starlette's json.dumps ----------------------------------------------------------

JSON_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(JSON_LIKE)
async def test_send_json_matches_json_dumps(value: Any) -> None:
    pair, ws = await accepted()
    await ws.send_json(value)
    await ws.send_json(value, mode="binary")
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert pair.data == [expected, expected.encode()]


# -- random call sequences ------------------------------------------------------------------------

CLOSE_CODES = st.one_of(st.sampled_from([1000, 1001, 1005, 1006, 1011, 4000]), st.integers(0, 6000))
REASONS = st.one_of(st.none(), st.text(max_size=10), st.text(min_size=30, max_size=45))
PAYLOAD_TEXT = st.text(max_size=20)
PAYLOAD_BYTES = st.binary(max_size=20)
LIMIT = 16


def check_asgi_sequence(sent: Sequence[Mapping[str, Any]]) -> None:
    """Assert that ``sent`` is a sequence an ASGI server accepts (spec 2.4, WebSocket)."""
    phase = "handshake"
    for index, message in enumerate(sent):
        kind = message["type"]
        where = f"message {index} {kind!r} in phase {phase}: {sent}"
        assert phase not in ("closed", "denied"), f"sent after the end: {where}"
        if kind == "websocket.accept":
            assert phase == "handshake", where
            phase = "open"
        elif kind == "websocket.close":
            assert phase in ("handshake", "open"), where
            code = message.get("code", 1000)
            assert is_sendable(code), where
            assert len((message.get("reason") or "").encode()) <= 123, where
            phase = "closed"
        elif kind == "websocket.http.response.start":
            assert phase == "handshake", where
            phase = "response"
        elif kind == "websocket.http.response.body":
            assert phase == "response", where
            if not message.get("more_body", False):
                phase = "denied"
        elif kind == "websocket.send":
            assert phase == "open", where
            text, data = message.get("text"), message.get("bytes")
            assert (text is None) != (data is None), where
        else:
            raise AssertionError(f"unknown message: {where}")


class ConnectionMachine(RuleBasedStateMachine):
    """Random application calls and client events on one connection."""

    def __init__(self) -> None:
        super().__init__()
        self.pair = ASGIPair(make_scope(subprotocols=["p"]), connect=False)
        self.ws = self.pair.websocket(limits=Limits(max_message_size=LIMIT))
        self.client_gone = False

    def call(self, fn: Callable[[], Awaitable[object]]) -> None:
        """Run one application call; a raising call must emit nothing."""
        before = len(self.pair.sent)

        async def run() -> None:
            await fn()

        error: Exception | None = None
        try:
            anyio.run(run)
        except (WskitError, WebSocketDisconnect, ValueError, TypeError, RuntimeError) as exc:
            error = exc
        if error is None:
            return
        emitted = self.pair.sent[before:]
        if isinstance(error, MessageTooBig) and error.direction == "inbound":
            assert [m["type"] for m in emitted] in ([], ["websocket.close"])
            assert all(m["code"] == 1009 for m in emitted)
        else:
            assert emitted == [], f"{error!r} raised after emitting {emitted}"

    def would_block(self, raw: bool) -> bool:
        """Whether a receive would wait for the client (nothing queued, nothing ended)."""
        if self.pair.inbound or self.ws.client_state is WebSocketState.DISCONNECTED:
            return False
        return raw or self.ws.application_state is WebSocketState.CONNECTED

    # -- client events --------------------------------------------------------------------------

    @initialize(vanished=st.booleans())
    def open(self, vanished: bool) -> None:
        if vanished:
            self.pair.disconnect(1006)
            self.client_gone = True
        else:
            self.pair.connect()

    @precondition(lambda self: not self.client_gone)
    @rule(text=PAYLOAD_TEXT, data=PAYLOAD_BYTES, binary=st.booleans())
    def client_message(self, text: str, data: bytes, binary: bool) -> None:
        if binary:
            self.pair.binary(data)
        else:
            self.pair.text(text)

    @precondition(lambda self: not self.client_gone)
    @rule(code=st.sampled_from([1000, 1001, 1006, 4000]), reason=st.text(max_size=5))
    def client_disconnect(self, code: int, reason: str) -> None:
        self.pair.disconnect(code, reason)
        self.client_gone = True

    @rule()
    def server_send_fails(self) -> None:
        self.pair.fail_send = ConnectionResetError("peer reset")

    # -- application calls ----------------------------------------------------------------------

    @rule(subprotocol=st.sampled_from([None, "p", "not-offered"]))
    def accept(self, subprotocol: str | None) -> None:
        self.call(lambda: self.ws.accept(subprotocol))

    @rule(status=st.sampled_from([401, 403, 429]), body=st.binary(max_size=5))
    def deny(self, status: int, body: bytes) -> None:
        self.call(lambda: self.ws.deny(status, body=body))

    @rule(code=CLOSE_CODES, reason=REASONS)
    def close(self, code: int, reason: str | None) -> None:
        self.call(lambda: self.ws.close(code, reason))

    @rule(text=PAYLOAD_TEXT)
    def send_text(self, text: str) -> None:
        self.call(lambda: self.ws.send_text(text))

    @rule(data=PAYLOAD_BYTES)
    def send_bytes(self, data: bytes) -> None:
        self.call(lambda: self.ws.send_bytes(data))

    @rule(value=st.one_of(st.integers(), st.lists(st.text(max_size=3), max_size=3)))
    def send_data(self, value: object) -> None:
        self.call(lambda: self.ws.send_data(value))

    @rule(kind=st.sampled_from(["raw", "text", "bytes", "json", "int", "str"]))
    def receive(self, kind: str) -> None:
        if self.would_block(kind == "raw"):
            return  # a real client may never send: waiting is not a step (timeouts are unit-tested)
        ws = self.ws
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "raw": ws.receive,
            "text": ws.receive_text,
            "bytes": ws.receive_bytes,
            "json": ws.receive_json,
            "int": lambda: ws.receive(int),
            "str": lambda: ws.receive(str),
        }
        self.call(calls[kind])

    # -- what must hold after every step ---------------------------------------------------------

    @invariant()
    def emitted_sequence_is_legal(self) -> None:
        check_asgi_sequence(self.pair.sent)

    @invariant()
    def at_most_one_close(self) -> None:
        assert len(self.pair.closes) <= 1

    @invariant()
    def nothing_after_the_client_left_or_the_transport_broke(self) -> None:
        pair = self.pair
        for mark in (pair.disconnect_delivered, pair.send_failed):
            if mark is not None:
                sent, sends, receives = mark
                assert len(pair.sent) == sent
                assert pair.send_calls == sends
                assert pair.receive_calls == receives

    @invariant()
    def closed_flag_matches_the_sides(self) -> None:
        ws = self.ws
        either = WebSocketState.DISCONNECTED in (ws.client_state, ws.application_state)
        assert ws.closed is either
        if ws.closed and "websocket.http.response.start" not in self.pair.types:
            assert ws.close_code is not None  # a denied handshake has no close code


def test_random_call_sequences_emit_only_legal_asgi() -> None:
    # Each step runs its call in a fresh asyncio loop (anyio.run): a few seconds in all.
    run_state_machine_as_test(
        ConnectionMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
