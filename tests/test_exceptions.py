"""The exception tree: one root, stdlib and Starlette bases, close codes, messages."""

from __future__ import annotations

import pickle

import pytest
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect
from starlette.websockets import WebSocketDisconnected as StarletteDisconnected

from wskit import exceptions as exc
from wskit.status import CloseCode

TREE: list[tuple[type[BaseException], tuple[type[BaseException], ...]]] = [
    (exc.ProtocolError, (exc.WskitError,)),
    (exc.LocalProtocolError, (exc.ProtocolError,)),
    (exc.InvalidTransition, (exc.LocalProtocolError, RuntimeError)),
    (exc.WebSocketDisconnected, (exc.InvalidTransition, StarletteDisconnected, RuntimeError)),
    (
        exc.ConnectionClosed,
        (exc.WebSocketDisconnected, exc.WebSocketDisconnect, StarletteDisconnect, RuntimeError),
    ),
    (exc.RemoteProtocolError, (exc.ProtocolError, RuntimeError)),
    (exc.ConcurrentReceive, (exc.WskitError, RuntimeError)),
    (exc.DecodeError, (exc.WskitError, ValueError)),
    (exc.ValidationError, (exc.DecodeError, ValueError)),
    (exc.FrameTypeError, (exc.WskitError, TypeError)),
    (exc.UnexpectedMessage, (exc.WskitError,)),
    (exc.MessageTooBig, (exc.WskitError, ValueError)),
    (exc.UnknownOperation, (exc.WskitError, LookupError)),
    (exc.Timeout, (exc.WskitError, TimeoutError)),
    (exc.WouldBlock, (exc.WskitError,)),
    (exc.BackendError, (exc.WskitError,)),
    (exc.BackendUnavailable, (exc.BackendError,)),
    (exc.Denied, (exc.WskitError,)),
    (exc.MissingExtra, (exc.WskitError, ImportError)),
]


@pytest.mark.parametrize(("cls", "bases"), TREE, ids=[c.__name__ for c, _ in TREE])
def test_tree(cls: type[BaseException], bases: tuple[type[BaseException], ...]) -> None:
    for base in bases:
        assert issubclass(cls, base)
    assert issubclass(cls, exc.WskitError)


def test_every_exported_exception_is_in_the_tree() -> None:
    exported = {getattr(exc, name) for name in exc.__all__}
    assert exported == {cls for cls, _ in TREE} | {exc.WskitError, exc.WebSocketDisconnect}


def test_tree_is_drawn_in_the_docstring() -> None:
    doc = exc.__doc__ or ""
    classes: list[type[BaseException]] = [cls for cls, _ in TREE]
    for cls in [*classes, exc.WebSocketDisconnect]:
        if cls is not exc.Denied:
            assert cls.__name__ in doc, cls


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (exc.WskitError, None),
        (exc.ProtocolError, 1011),
        (exc.LocalProtocolError, 1011),
        (exc.InvalidTransition, 1011),
        (exc.RemoteProtocolError, 1002),
        (exc.DecodeError, 1007),
        (exc.ValidationError, 1007),
        (exc.FrameTypeError, 1003),
        (exc.MessageTooBig, 1009),
        (exc.UnknownOperation, 1003),
        (exc.UnexpectedMessage, 1008),
        (exc.Timeout, 1008),
        (exc.ConcurrentReceive, None),
        (exc.WouldBlock, None),
    ],
)
def test_close_codes(cls: type[exc.WskitError], code: int | None) -> None:
    assert cls.close_code == code


def test_disconnect_is_starlettes_own_class() -> None:
    # One class, not a subclass pair: ``except`` written with either name catches both.
    assert exc.WebSocketDisconnect is StarletteDisconnect
    error = exc.WebSocketDisconnect(1001, "going")
    assert (error.code, error.reason) == (1001, "going")
    default = exc.WebSocketDisconnect()
    assert (default.code, default.reason) == (1000, "")
    assert isinstance(exc.WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE).code, int)


def test_either_name_catches_the_others_disconnects() -> None:
    with pytest.raises(StarletteDisconnect) as info:
        raise exc.WebSocketDisconnect(4000, "x")
    assert (info.value.code, info.value.reason) == (4000, "x")
    with pytest.raises(exc.WebSocketDisconnect) as caught:
        raise StarletteDisconnect(4001, "y")
    assert (caught.value.code, caught.value.reason) == (4001, "y")


def test_remote_protocol_error_is_a_runtime_error() -> None:
    # Starlette raises RuntimeError when the server sends a message out of sequence.
    with pytest.raises(RuntimeError):
        raise exc.RemoteProtocolError("the server broke the ASGI sequence")


def test_invalid_transition_message() -> None:
    error = exc.InvalidTransition("CONNECTING", "websocket.send", "send", "accept first")
    assert str(error) == "cannot send 'websocket.send' in state CONNECTING: accept first"
    assert (error.state, error.event, error.side) == ("CONNECTING", "websocket.send", "send")
    error = exc.InvalidTransition("CONNECTED", "websocket.connect", "receive")
    assert str(error) == "cannot receive 'websocket.connect' in state CONNECTED"


def test_connection_closed() -> None:
    error = exc.ConnectionClosed("DISCONNECTED", "websocket.send", "send", 1001, None)
    assert (error.code, error.reason) == (1001, "")
    assert str(error) == (
        "cannot send 'websocket.send' in state DISCONNECTED: the connection has ended (code 1001)"
    )
    assert repr(error).startswith("ConnectionClosed(")
    assert "code=1001" in repr(error)
    received = exc.ConnectionClosed("DISCONNECTED", "receive", "receive", 1000, "r")
    assert str(received).startswith("cannot receive 'receive'")


def test_decode_errors() -> None:
    error = exc.ValidationError("bad", "$.a")
    assert (str(error), error.path) == ("bad", "$.a")
    assert exc.DecodeError("x").path == "$"


def test_frame_type_error() -> None:
    error = exc.FrameTypeError("text", "bytes")
    assert (error.expected, error.received) == ("text", "bytes")
    assert str(error) == "expected a text frame, received a bytes frame"


def test_other_messages() -> None:
    assert str(exc.UnexpectedMessage("a", 1)) == "expected 'a', received 1"
    too_big = exc.MessageTooBig(10, 5, "outbound")
    assert (too_big.size, too_big.limit, too_big.direction) == (10, 5, "outbound")
    assert str(too_big) == "outbound message of 10 bytes is over the limit of 5 bytes"
    assert exc.MessageTooBig(1, 0).direction == "inbound"
    assert exc.UnknownOperation("chat.send").operation == "chat.send"
    assert str(exc.UnknownOperation("x")) == "unknown operation 'x'"
    denied = exc.Denied(401, b"who?", {"www-authenticate": "Bearer"})
    assert (denied.status, denied.body) == (401, b"who?")
    assert str(denied) == "handshake denied with HTTP 401"


def test_simple_errors_pickle() -> None:
    for error in (exc.DecodeError("x"), exc.Timeout("t"), exc.WouldBlock()):
        assert type(pickle.loads(pickle.dumps(error))) is type(error)
