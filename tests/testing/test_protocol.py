"""The test client refuses what no ASGI server would take from an application: the sans-I/O
table of ``wskit.testing._protocol``.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

import pytest

from wskit._types import Message, Receive, Scope, Send
from wskit.testing import (
    TestClient,
)
from wskit.testing._protocol import State, transition

# -- protocol checks on what the application sends ----------------------------------------------


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([{"type": "websocket.send", "text": "x"}], RuntimeError, "in state HANDSHAKE"),
        ([{"type": "websocket.accept"}, {"type": "websocket.accept"}], RuntimeError, "state OPEN"),
        (
            [
                {"type": "websocket.accept"},
                {"type": "websocket.close"},
                {"type": "websocket.close"},
            ],
            RuntimeError,
            "connection is over",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b""}],
            TypeError,
            "exactly one",
        ),
        ([{"type": "websocket.accept"}, {"type": "websocket.send"}], TypeError, "exactly one"),
        ([{"type": "websocket.accept"}, {"type": "websocket.send", "text": 1}], TypeError, "str"),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "bytes": "x"}],
            TypeError,
            "bytes",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "code": 1006}],
            ValueError,
            "1006",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "code": "x"}],
            ValueError,
            "code",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.close", "reason": "x" * 124}],
            ValueError,
            "123",
        ),
        ([{"type": "websocket.http.response.start", "status": "401"}], TypeError, "int 'status'"),
        (
            [{"type": "websocket.http.response.start", "status": 401, "headers": [("a", "b")]}],
            TypeError,
            "pairs of bytes",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 401},
                {"type": "websocket.http.response.body", "body": "text"},
            ],
            TypeError,
            "bytes in 'body'",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 401},
                {"type": "websocket.send", "text": "x"},
            ],
            RuntimeError,
            "state RESPONSE",
        ),
    ],
)
async def test_protocol_violations_raise_in_the_application(
    messages: list[Message], error: type[Exception], match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        for message in messages:
            await send(message)
        await receive()  # pragma: no cover

    with pytest.raises(error, match=match):
        async with TestClient(app).websocket_connect("/"):
            pass


# -- the sans-I/O checks, walked as a table -------------------------------------------------------

LEGAL: dict[tuple[State, str], State] = {
    (State.HANDSHAKE, "websocket.accept"): State.OPEN,
    (State.HANDSHAKE, "websocket.close"): State.CLOSED,
    (State.HANDSHAKE, "websocket.http.response.start"): State.RESPONSE,
    (State.RESPONSE, "websocket.http.response.body"): State.CLOSED,
    (State.OPEN, "websocket.send"): State.OPEN,
    (State.OPEN, "websocket.close"): State.CLOSED,
}
MINIMAL: dict[str, Message] = {
    "websocket.accept": {"type": "websocket.accept"},
    "websocket.close": {"type": "websocket.close"},
    "websocket.http.response.start": {"type": "websocket.http.response.start", "status": 403},
    "websocket.http.response.body": {"type": "websocket.http.response.body"},
    "websocket.send": {"type": "websocket.send", "text": ""},
    "websocket.receive": {"type": "websocket.receive", "text": ""},
    "http.response.start": {"type": "http.response.start", "status": 200},
}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", list(MINIMAL))
def test_every_state_and_message_pair(state: State, kind: str) -> None:
    message = MINIMAL[kind]
    expected = LEGAL.get((state, kind))
    if expected is None:
        with pytest.raises(RuntimeError, match=f"cannot send '{kind}'"):
            transition(state, message, denial_response=True)
    else:
        assert transition(state, message, denial_response=True) is expected
