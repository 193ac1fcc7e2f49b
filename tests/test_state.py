"""The sans-I/O state table: every legal triple, every illegal one, and the fast paths' facts."""

from __future__ import annotations

import itertools

import pytest

from wskit._state import (
    BODY,
    BODY_MORE,
    RECEIVE,
    SEND,
    TRANSITIONS,
    Side,
    State,
    send_event,
    transition,
)
from wskit.exceptions import InvalidTransition, WebSocketDisconnected

SIDES: tuple[Side, ...] = (RECEIVE, SEND)
EVENTS = (
    "websocket.connect",
    "websocket.receive",
    "websocket.disconnect",
    "websocket.accept",
    "websocket.send",
    "websocket.close",
    "websocket.http.response.start",
    BODY,
    BODY_MORE,
    "http.request",
    "lifespan.startup",
    "",
)

EXPECTED = {
    (RECEIVE, State.CONNECTING, "websocket.connect"): State.CONNECTED,
    (RECEIVE, State.CONNECTING, "websocket.disconnect"): State.DISCONNECTED,
    (RECEIVE, State.CONNECTED, "websocket.receive"): State.CONNECTED,
    (RECEIVE, State.CONNECTED, "websocket.disconnect"): State.DISCONNECTED,
    (SEND, State.CONNECTING, "websocket.accept"): State.CONNECTED,
    (SEND, State.CONNECTING, "websocket.close"): State.DISCONNECTED,
    (SEND, State.CONNECTING, "websocket.http.response.start"): State.RESPONSE,
    (SEND, State.RESPONSE, BODY_MORE): State.RESPONSE,
    (SEND, State.RESPONSE, BODY): State.DISCONNECTED,
    (SEND, State.CONNECTED, "websocket.send"): State.CONNECTED,
    (SEND, State.CONNECTED, "websocket.close"): State.DISCONNECTED,
}

ALL = list(itertools.product(SIDES, State, EVENTS))
ILLEGAL = [triple for triple in ALL if triple not in EXPECTED]


def test_the_table_is_exactly_the_asgi_rules() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("side", "state", "event"), list(EXPECTED))
def test_legal_transitions(side: Side, state: State, event: str) -> None:
    assert transition(side, state, event) is EXPECTED[side, state, event]


@pytest.mark.parametrize(("side", "state", "event"), ILLEGAL)
def test_illegal_transitions_name_the_state_and_the_event(
    side: Side, state: State, event: str
) -> None:
    expected = WebSocketDisconnected if state is State.DISCONNECTED else InvalidTransition
    with pytest.raises(expected) as info:
        transition(side, state, event)
    exc = info.value
    assert isinstance(exc, RuntimeError)
    assert (exc.state, exc.event, exc.side) == (state.name, event, side)
    assert state.name in str(exc)
    assert repr(event) in str(exc)
    assert str(exc).startswith(f"cannot {side} ")


def test_a_disconnected_side_accepts_nothing() -> None:
    for side, event in itertools.product(SIDES, EVENTS):
        with pytest.raises(WebSocketDisconnected, match="has ended"):
            transition(side, State.DISCONNECTED, event)


def test_nothing_leaves_disconnected_and_nothing_but_send_enters_response() -> None:
    assert not [key for key in TRANSITIONS if key[1] is State.DISCONNECTED]
    assert {key[0] for key, new in TRANSITIONS.items() if new is State.RESPONSE} == {SEND}


def test_hints_explain_the_illegal_call() -> None:
    with pytest.raises(InvalidTransition, match="accept, close or deny the handshake first"):
        transition(SEND, State.CONNECTING, "websocket.send")
    with pytest.raises(InvalidTransition, match="only its body may follow"):
        transition(SEND, State.RESPONSE, "websocket.send")
    with pytest.raises(InvalidTransition, match="'websocket.connect' first"):
        transition(RECEIVE, State.CONNECTING, "websocket.receive")
    with pytest.raises(InvalidTransition, match="expected 'websocket.receive'"):
        transition(RECEIVE, State.CONNECTED, "websocket.connect")
    # The receive side never reaches RESPONSE: no hint, just the message.
    with pytest.raises(InvalidTransition) as info:
        transition(RECEIVE, State.RESPONSE, "websocket.receive")
    assert str(info.value) == "cannot receive 'websocket.receive' in state RESPONSE"


def test_fast_path_assumptions() -> None:
    # connection.py skips the table for data messages on an open connection: these two
    # entries are what makes that safe.
    assert TRANSITIONS[RECEIVE, State.CONNECTED, "websocket.receive"] is State.CONNECTED
    assert TRANSITIONS[SEND, State.CONNECTED, "websocket.send"] is State.CONNECTED


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ({"type": "websocket.send", "text": "x"}, "websocket.send"),
        ({"type": BODY, "body": b"x", "more_body": True}, BODY_MORE),
        ({"type": BODY, "body": b"x", "more_body": False}, BODY),
        ({"type": BODY, "body": b"x"}, BODY),
        ({"type": "websocket.http.response.start", "status": 403}, "websocket.http.response.start"),
        ({}, "None"),
    ],
)
def test_send_event(message: dict[str, object], event: str) -> None:
    assert send_event(message) == event


def test_denial_response_walk() -> None:
    state = transition(SEND, State.CONNECTING, "websocket.http.response.start")
    for _ in range(3):
        state = transition(SEND, state, BODY_MORE)
        assert state is State.RESPONSE
    assert transition(SEND, state, BODY) is State.DISCONNECTED


def test_state_is_starlettes_enum() -> None:
    from starlette.websockets import WebSocketState

    assert State is WebSocketState
