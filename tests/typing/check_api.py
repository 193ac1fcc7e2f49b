"""Static checks of wskit's public types: mypy verifies every ``assert_type`` line.

Nothing here runs (pytest does not collect this file); ``mypy tests/typing`` is the test, as in
msgspec's typing tests. A wrong overload or a lost generic shows up as a mypy error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, MutableMapping
from typing import Any, Literal, TypedDict, assert_type

import msgspec
from starlette.datastructures import URL, Headers, QueryParams
from starlette.websockets import WebSocketState

from wskit.codecs import JSON, MSGPACK, Codec, JSONCodec, MsgPackCodec
from wskit.connection import Limits, WebSocket
from wskit.exceptions import DecodeError, WebSocketDisconnect
from wskit.status import CloseCode, is_sendable


class Chat(msgspec.Struct):
    user: str
    text: str


class Movie(TypedDict):
    title: str


async def check_receive(ws: WebSocket) -> None:
    assert_type(await ws.receive(), MutableMapping[str, Any])
    assert_type(await ws.receive(timeout=1.0), MutableMapping[str, Any])
    assert_type(await ws.receive(Chat), Chat)
    assert_type(await ws.receive(tp=Chat), Chat)
    assert_type(await ws.receive(Chat, timeout=0.5), Chat)
    assert_type(await ws.receive(str), str)
    assert_type(await ws.receive(int), int)
    assert_type(await ws.receive(bool), bool)
    assert_type(await ws.receive(bytes), bytes)
    assert_type(await ws.receive(Movie), Movie)
    assert_type(await ws.receive_text(), str)
    assert_type(await ws.receive_bytes(), bytes)
    assert_type(await ws.receive_json(), Any)
    assert_type(await ws.receive_json("binary"), Any)


async def check_iterators(ws: WebSocket) -> None:
    assert_type(ws.iter_text(), AsyncGenerator[str, None])
    assert_type(ws.iter_bytes(), AsyncGenerator[bytes, None])
    assert_type(ws.iter_json(), AsyncGenerator[Any, None])
    assert_type(ws.iter_data(Chat), AsyncGenerator[Chat, None])
    async for chat in ws.iter_data(Chat):
        assert_type(chat, Chat)


async def check_send(ws: WebSocket) -> None:
    assert_type(await ws.send_text("x"), None)
    assert_type(await ws.send_bytes(b"x"), None)
    assert_type(await ws.send_json({"a": 1}), None)
    assert_type(await ws.send_json([1], mode="binary", timeout=1.0), None)
    assert_type(await ws.send_data(Chat("a", "b")), None)
    assert_type(await ws.send_frame("x"), None)
    assert_type(await ws.send_frame(b"x"), None)
    assert_type(await ws.send({"type": "websocket.send", "text": "x"}), None)
    assert_type(await ws.pair("ping"), Any)
    assert_type(await ws.expect("pong"), None)


async def check_lifecycle(ws: WebSocket) -> None:
    assert_type(await ws.accept(), None)
    assert_type(await ws.accept("chat", [(b"x", b"y")]), None)
    assert_type(await ws.close(), None)
    assert_type(await ws.close(CloseCode.GOING_AWAY, "bye"), None)
    assert_type(await ws.deny(401, {"www-authenticate": "Bearer"}, "who?"), None)
    assert_type(await ws.wait_closed(), None)
    async with ws as entered:
        assert_type(entered, WebSocket)
    callback: Callable[[WebSocket], object] = print
    ws.add_close_callback(callback)


def check_properties(ws: WebSocket) -> None:
    assert_type(ws.client_state, WebSocketState)
    assert_type(ws.application_state, WebSocketState)
    assert_type(ws.close_code, int | None)
    assert_type(ws.close_reason, str | None)
    assert_type(ws.subprotocol, str | None)
    assert_type(ws.closed, bool)
    assert_type(ws.codec, Codec)
    assert_type(ws.limits, Limits)
    assert_type(ws.url, URL)
    assert_type(ws.headers, Headers)
    assert_type(ws.query_params, QueryParams)
    assert_type(ws.path_params, dict[str, Any])
    assert_type(ws.cookies, dict[str, str])
    assert_type(ws["path"], Any)


def check_codecs() -> None:
    assert_type(JSON, JSONCodec)
    assert_type(MSGPACK, MsgPackCodec)
    assert_type(JSON.encode(Chat("a", "b")), bytes)
    assert_type(JSON.encode_frame(1), str | bytes)
    assert_type(JSON.decode(b"{}", Chat), Chat)
    assert_type(JSON.decoder(Chat), Callable[[str | bytes], Chat])
    assert_type(Limits(max_message_size=None).max_message_size, int | None)


def check_errors(exc: WebSocketDisconnect, error: DecodeError) -> None:
    assert_type(exc.code, int)
    assert_type(exc.reason, str)
    assert_type(error.path, str)
    assert_type(is_sendable(1000), bool)
    mode: Literal["text", "binary"] = "text"
    assert_type(mode, Literal["text", "binary"])
