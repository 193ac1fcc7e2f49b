"""Property tests and fuzzing of what a client controls: frames, envelopes, handshake headers.

``tests/test_properties.py`` already drives random call sequences through the connection's
state machine and checks casting and ``send_json``; this file adds:

* **typed receive on random frames**: for every kind of target type, a random text or binary
  frame gives a value of that type or a typed decode error, never anything else, and the
  connection keeps working;
* **the operation router's envelope decoding**: random JSON documents, envelope-shaped objects,
  random text and random bytes never crash the router: each gets a reply, an error envelope
  with a documented code, or (under ``on_bad_input="close"``) a documented close code;
* **Origin parsing**: ``parse_origin`` never raises anything but ``ValueError`` and returns a
  normalised origin or ``None``; look-alikes of an allowed origin are refused and the
  equivalent spellings allowed;
* **handshake headers**: random header bytes and subprotocol offers never make the App raise
  before accept, and nothing is logged at ERROR.

Every property runs a bounded number of examples (a few seconds in all).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests._asgi_pair import accepted
from wskit._types import Message, Receive, Scope, Send
from wskit.app import App
from wskit.codecs import MSGPACK
from wskit.connection import WebSocket
from wskit.exceptions import DecodeError, FrameTypeError, WebSocketDisconnect
from wskit.operations import OperationRouter
from wskit.policies import OriginPolicy, parse_origin
from wskit.testing import TestClient, WebSocketDenied

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

INTEGERS = st.integers(-(2**63), 2**64 - 1)  # what both JSON and MessagePack carry
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTEGERS | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


class Tick(msgspec.Struct):
    seq: int
    text: str


# -- typed receive on random frames ------------------------------------------------------------

TARGETS: list[Any] = [str, bytes, int, bool, dict, Tick, list[int], int | str, dict[str, Tick]]

FRAMES = st.one_of(
    st.text(max_size=40).map(lambda t: ("text", t)),
    st.binary(max_size=40).map(lambda b: ("bytes", b)),
    JSON_VALUES.map(lambda v: ("text", msgspec.json.encode(v).decode())),
    JSON_VALUES.map(lambda v: ("bytes", msgspec.msgpack.encode(v))),
    st.integers(1, 5000).map(lambda n: ("text", "[" * n)),  # deep nesting
    st.integers(1, 5000).map(lambda n: ("bytes", b"\x91" * n)),
    st.just(("text", '{"seq": 1, "text": "a"}')),
)


@FUZZ
@given(frames=st.lists(FRAMES, min_size=1, max_size=4), target=st.sampled_from(TARGETS))
async def test_typed_receive_gives_a_value_or_a_typed_error(
    frames: list[tuple[str, str | bytes]], target: Any
) -> None:
    pair, ws = await accepted()
    for _, data in frames:
        if isinstance(data, str):
            pair.text(data)
        else:
            pair.binary(data)
    pair.text("1")  # a frame every target type takes
    for _ in frames:
        try:
            value = await ws.receive(target)
        except (DecodeError, FrameTypeError):
            continue  # typed: the connection stays open
        msgspec.convert(value, target)  # the value fits the type it was asked for
    assert await ws.receive(str) == "1"
    assert ws.close_code is None
    assert pair.closes == []


# -- operation router envelopes ----------------------------------------------------------------

ERROR_CODES = {"malformed", "unknown_operation", "invalid_payload", "unsupported_frame"}
CLOSE_CODES = {1003, 1007, 1008, 1009}

ENVELOPES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["tick", "nope", "error", ""]), JSON_VALUES),
        "payload": st.one_of(
            JSON_VALUES,
            st.fixed_dictionaries({"seq": JSON_VALUES, "text": JSON_VALUES}),
            st.builds(lambda s, t: {"seq": s, "text": t}, INTEGERS, st.text(max_size=5)),
        ),
        "id": JSON_VALUES,
    },
)

ROUTER_FRAMES = st.one_of(
    ENVELOPES.map(lambda e: msgspec.json.encode(e).decode()),
    ENVELOPES.map(msgspec.msgpack.encode),
    JSON_VALUES.map(lambda v: msgspec.json.encode(v).decode()),
    st.text(max_size=30),
    st.binary(max_size=30),
)


def router(on_bad_input: Any) -> OperationRouter:
    ops = OperationRouter(on_bad_input=on_bad_input, max_bad_messages=5)

    @ops.on("tick", reply="tick.ok")
    async def tick(payload: Tick) -> int:
        return payload.seq

    return ops


def router_app() -> App:
    app = App()
    for policy in ("reply", "close"):
        app.add_route(f"/{policy}/json", router(policy))
        app.add_route(f"/{policy}/msgpack", router(policy), codec=MSGPACK)
    return app


APP = router_app()


def _decode(message: Message) -> Any:
    if message.get("text") is not None:
        return msgspec.json.decode(message["text"])
    return msgspec.msgpack.decode(message["bytes"])


@FUZZ
@given(
    frames=st.lists(ROUTER_FRAMES, min_size=1, max_size=6),
    policy=st.sampled_from(["reply", "close"]),
    codec=st.sampled_from(["json", "msgpack"]),
)
async def test_router_answers_any_frame_with_a_documented_outcome(
    frames: list[str | bytes], policy: str, codec: str
) -> None:
    async with TestClient(APP).websocket_connect(f"/{policy}/{codec}") as conn:
        for frame in frames:
            try:
                if isinstance(frame, str):
                    await conn.send_text(frame)
                else:
                    await conn.send_bytes(frame)
                message = await conn.receive()
            except WebSocketDisconnect:
                break
            if message["type"] == "websocket.close":
                assert message["code"] in CLOSE_CODES, message
                assert policy == "close" or message["code"] == 1008
                break
            answer = _decode(message)
            if answer["type"] == "error":
                assert answer["payload"]["code"] in ERROR_CODES, answer
            else:
                assert answer["type"] == "tick.ok"
                assert isinstance(answer["payload"], int)


# -- Origin parsing ----------------------------------------------------------------------------

LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
HOSTS = st.lists(LABEL, min_size=1, max_size=3).map(".".join)
SCHEMES = st.sampled_from(["http", "https", "ws", "wss"])
PORTS = st.one_of(st.none(), st.integers(1, 65535))
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def serialise(scheme: str, host: str, port: int | None) -> str:
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_parse_origin_never_raises_and_normalises(value: str) -> None:
    for idna in (False, True):
        try:
            parsed = parse_origin(value, idna=idna)
        except ValueError:  # the only error it may raise
            continue
        if parsed is None:
            continue
        scheme, host, port = parsed
        assert scheme == scheme.lower()
        assert host == host.lower()
        assert host.isascii()
        assert port is None or (0 < port < 65536 and DEFAULT_PORTS.get(scheme) != port)
        assert parse_origin(serialise(scheme, host, port)) == parsed  # stable


Spelling = Callable[[str, str, int | None], str]

LOOK_ALIKES: list[Spelling] = [
    lambda s, h, p: serialise(s, h + ".evil.io", p),
    lambda s, h, p: serialise(s, "evil-" + h, p),
    lambda s, h, p: serialise(s, "evil." + h, p),
    lambda s, h, p: serialise(s, h + ".", p),
    lambda s, h, p: serialise(s, f"user@{h}", p),
    lambda s, h, p: serialise(s, h, p) + "@evil.io",
    lambda s, h, p: serialise(s, h, p) + "/",
    lambda s, h, p: serialise(s, h, p) + "?x",
    lambda s, h, p: serialise(s, h, p) + "#x",
    lambda s, h, p: " " + serialise(s, h, p),
    lambda s, h, p: serialise(s, h, p) + "\x00",
    lambda s, h, p: serialise(
        {"http": "https", "https": "http", "ws": "wss", "wss": "ws"}[s], h, p
    ),
    lambda s, h, p: serialise(s, h, 1 + ((p or DEFAULT_PORTS[s]) % 65535)),
    lambda s, h, p: serialise(s, h.replace("a", "\u0430"), p),  # a Cyrillic a
    lambda s, h, p: serialise(s, h, p).replace("://", ":/"),
]

EQUIVALENTS: list[Spelling] = [
    lambda s, h, p: serialise(s.upper(), h.upper(), p),
    lambda s, h, p: serialise(s, h, p if p is not None else DEFAULT_PORTS[s]),
]


@settings(max_examples=200, deadline=None)
@given(scheme=SCHEMES, host=HOSTS, port=PORTS, index=st.integers(0, len(LOOK_ALIKES) - 1))
def test_origin_look_alikes_are_refused(
    scheme: str, host: str, port: int | None, index: int
) -> None:
    if port == DEFAULT_PORTS[scheme]:
        port = None
    allowed = serialise(scheme, host, port)
    policy = OriginPolicy([allowed])
    assert policy.allows(allowed)
    for equivalent in EQUIVALENTS:
        assert policy.allows(equivalent(scheme, host, port))
    candidate = LOOK_ALIKES[index](scheme, host, port)
    assume(parse_origin(candidate) != parse_origin(allowed))  # "a" not in host: no change
    assert not policy.allows(candidate), candidate


# -- handshake headers -------------------------------------------------------------------------

HEADER_NAMES = st.one_of(
    st.sampled_from(
        [b"origin", b"host", b"cookie", b"authorization", b"sec-websocket-protocol", b"x"]
    ),
    st.binary(max_size=12),
)
HEADERS = st.lists(st.tuples(HEADER_NAMES, st.binary(max_size=40)), max_size=12)
OFFERS = st.lists(st.one_of(st.text(max_size=10), st.sampled_from(["chat", "json"])), max_size=6)


async def _authenticate(ws: WebSocket) -> object:
    token = ws.headers.get("authorization", "")
    cookies = ws.cookies
    return {"token": token, "cookies": dict(cookies), "host": ws.url.hostname}


def header_app() -> App:
    app = App(
        origins=OriginPolicy(["https://app.example.com"], allow_missing=True),
        subprotocols=["chat", "json"],
        authenticate=_authenticate,
    )

    @app.websocket("/ws")
    async def handler(ws: WebSocket) -> None:
        async with ws:
            await ws.send_json({"user": str(ws.state.user)[:20], "proto": ws.subprotocol})

    return app


HEADER_APP = header_app()


@FUZZ
@given(headers=HEADERS, offers=OFFERS)
async def test_random_handshake_headers_never_raise_before_accept(
    caplog: pytest.LogCaptureFixture, headers: list[tuple[bytes, bytes]], offers: list[str]
) -> None:
    async def server(scope: Scope, receive: Receive, send: Send) -> None:
        scope = dict(scope)
        scope["headers"] = [*scope["headers"], *headers]
        await HEADER_APP(scope, receive, send)

    caplog.clear()
    status = 101
    with caplog.at_level(logging.WARNING):
        try:
            async with TestClient(server).websocket_connect("/ws", subprotocols=offers) as conn:
                reply = await conn.receive_json()
                assert reply["proto"] in (None, "chat", "json")
        except WebSocketDenied as denied:
            status = denied.status
    assert status in (101, 401, 403)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
