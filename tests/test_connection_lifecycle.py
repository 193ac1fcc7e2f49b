"""WebSocket handshake and end: accept, close, deny, ``async with``, close callbacks."""

from __future__ import annotations

import logging

import anyio
import pytest
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocketState

from tests._asgi_pair import ASGIPair, accepted, make_scope
from tests._upstream import starlette_message
from wskit.codecs import JSON, MSGPACK
from wskit.connection import Limits, Port, WebSocket
from wskit.exceptions import (
    ConnectionClosed,
    DecodeError,
    InvalidTransition,
    RemoteProtocolError,
    ValidationError,
    WebSocketDisconnect,
    WebSocketDisconnected,
)


def test_needs_a_websocket_scope() -> None:
    pair = ASGIPair()
    with pytest.raises(ValueError, match="'websocket' scope, got 'http'"):
        WebSocket({"type": "http"}, pair.receive, pair.send)


def test_initial_state() -> None:
    ws = ASGIPair().websocket()
    assert ws.client_state is WebSocketState.CONNECTING
    assert ws.application_state is WebSocketState.CONNECTING
    assert (ws.close_code, ws.close_reason, ws.subprotocol) == (None, None, None)
    assert not ws.closed
    assert ws.codec is JSON
    assert ws.limits == Limits()
    assert repr(ws) == "<WebSocket '/ws' client=CONNECTING application=CONNECTING close_code=None>"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_message_size", 0),
        ("max_send_size", -1),
        ("receive_timeout", 0),
        ("send_timeout", -0.5),
        ("close_timeout", 0),
    ],
)
def test_limits_must_be_positive(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"Limits.{field} must be positive"):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_limits_none_disables() -> None:
    limits = Limits(max_message_size=None, max_send_size=None)
    assert limits.max_message_size is None


# -- accept ---------------------------------------------------------------------------------------


async def test_accept_reads_connect_then_sends_accept() -> None:
    pair = ASGIPair(make_scope(subprotocols=["chat", "json"]))
    ws = pair.websocket()
    await ws.accept("json", headers=[(b"x-a", b"1")])
    assert pair.sent == [
        {"type": "websocket.accept", "subprotocol": "json", "headers": [(b"x-a", b"1")]}
    ]
    assert pair.receive_calls == 1
    assert ws.client_state is ws.application_state is WebSocketState.CONNECTED
    assert ws.subprotocol == "json"


async def test_accept_after_reading_connect_does_not_read_again() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    assert await ws.receive() == {"type": "websocket.connect"}
    await ws.accept()
    assert pair.receive_calls == 1
    assert pair.sent == [{"type": "websocket.accept", "subprotocol": None, "headers": []}]


async def test_accept_unoffered_subprotocol_sends_nothing() -> None:
    pair = ASGIPair(make_scope(subprotocols=["chat"]))
    ws = pair.websocket()
    with pytest.raises(ValueError, match="'json' was not offered"):
        await ws.accept("json")
    assert pair.sent == []
    await ws.accept("chat")
    assert pair.types == ["websocket.accept"]


async def test_accept_twice_raises() -> None:
    pair, ws = await accepted()
    with pytest.raises(InvalidTransition, match="'websocket.accept' in state CONNECTED") as info:
        await ws.accept()
    assert not isinstance(info.value, WebSocketDisconnect)
    assert pair.types == ["websocket.accept"]


async def test_client_gone_before_handshake_is_never_accepted() -> None:
    pair = ASGIPair(connect=False).disconnect(1001, "bye")
    ws = pair.websocket()
    with pytest.raises(ConnectionClosed) as info:
        await ws.accept()
    assert isinstance(info.value, WebSocketDisconnect)
    assert (info.value.code, info.value.reason) == (1001, "bye")
    assert pair.sent == []
    assert ws.closed
    assert ws.client_state is WebSocketState.DISCONNECTED
    # Closing now is a no-op that sends nothing.
    await ws.close()
    assert pair.sent == []
    assert ws.application_state is WebSocketState.DISCONNECTED


async def test_server_out_of_sequence_is_a_remote_protocol_error() -> None:
    pair = ASGIPair(connect=False).text("too early")
    ws = pair.websocket()
    with pytest.raises(RemoteProtocolError, match="broke the ASGI sequence"):
        await ws.accept()
    assert pair.sent == []
    assert ws.closed


async def test_accept_after_close_raises_connection_closed() -> None:
    pair, ws = await accepted()
    await ws.close()
    with pytest.raises(ConnectionClosed, match="'websocket.accept' in state DISCONNECTED"):
        await ws.accept()
    assert pair.types == ["websocket.accept", "websocket.close"]


# -- close ----------------------------------------------------------------------------------------


async def test_close_before_accept_rejects_the_handshake() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    await ws.close(4000, "no")
    assert pair.sent == [{"type": "websocket.close", "code": 4000, "reason": "no"}]
    assert ws.application_state is WebSocketState.DISCONNECTED
    assert (ws.close_code, ws.close_reason) == (4000, "no")
    assert ws.closed


async def test_close_defaults_and_idempotence() -> None:
    pair, ws = await accepted()
    await ws.close()
    await ws.close()
    await ws.close(4001, "again")
    assert pair.closes == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    assert (ws.close_code, ws.close_reason) == (1000, "")


async def test_concurrent_closes_send_one_frame() -> None:
    pair, ws = await accepted()
    async with anyio.create_task_group() as tg:
        for code in (1000, 1001, 4000):
            tg.start_soon(ws.close, code)
    assert len(pair.closes) == 1


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, -1])
async def test_close_rejects_reserved_codes(code: int) -> None:
    pair, ws = await accepted()
    with pytest.raises(ValueError, match=f"close code {code} may not be sent"):
        await ws.close(code)
    assert pair.closes == []
    assert not ws.closed


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999])
async def test_close_accepts_sendable_codes(code: int) -> None:
    pair, ws = await accepted()
    await ws.close(code)
    assert pair.closes == [{"type": "websocket.close", "code": code, "reason": ""}]


def test_close_code_must_be_an_int() -> None:
    from wskit.status import check_close

    with pytest.raises(TypeError, match="must be an int, got str"):
        check_close("1000", None)  # type: ignore[arg-type]
    assert check_close(4000, None) == ""


@pytest.mark.parametrize(
    ("reason", "ok"),
    [
        ("x" * 123, True),
        ("x" * 124, False),
        ("é" * 61 + "x", True),  # 123 bytes
        ("é" * 62, False),  # 124 bytes
        ("😀" * 30, True),  # 120 bytes
        ("😀" * 41, False),  # 164 bytes, 41 characters
        ("😀" * 31, False),  # 124 bytes
    ],
)
async def test_close_reason_is_at_most_123_utf8_bytes(reason: str, ok: bool) -> None:
    pair, ws = await accepted()
    if ok:
        await ws.close(1000, reason)
        assert pair.closes[0]["reason"] == reason
    else:
        with pytest.raises(ValueError, match="UTF-8 bytes, over 123"):
            await ws.close(1000, reason)
        assert pair.closes == []


async def test_raw_close_message_is_validated_too() -> None:
    pair, ws = await accepted()
    with pytest.raises(ValueError, match="1005"):
        await ws.send({"type": "websocket.close", "code": 1005})
    with pytest.raises(ValueError, match="over 123"):
        await ws.send({"type": "websocket.close", "reason": "x" * 124})
    assert pair.closes == []
    await ws.send({"type": "websocket.close"})
    assert pair.closes == [{"type": "websocket.close", "reason": ""}]
    assert ws.close_code == 1000


async def test_close_after_client_left_sends_nothing() -> None:
    pair, ws = await accepted()
    pair.disconnect(1001)
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    await ws.close()
    assert pair.types == ["websocket.accept"]
    assert ws.application_state is WebSocketState.DISCONNECTED
    assert ws.close_code == 1001


async def test_close_with_oserror_is_swallowed_and_final() -> None:
    pair, ws = await accepted()
    pair.fail_send = ConnectionResetError()
    await ws.close(1000)
    assert ws.closed
    assert ws.close_code == 1000
    calls = pair.send_calls
    await ws.close()
    with pytest.raises(ConnectionClosed):
        await ws.send_text("x")
    assert pair.send_calls == calls


# -- deny -----------------------------------------------------------------------------------------


async def test_deny_with_the_extension_sends_a_response() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    await ws.deny(401, {"WWW-Authenticate": "Bearer"}, "who are you?")
    assert pair.sent == [
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [
                (b"www-authenticate", b"Bearer"),
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"12"),
            ],
        },
        {"type": "websocket.http.response.body", "body": b"who are you?", "more_body": False},
    ]
    assert ws.application_state is WebSocketState.DISCONNECTED
    assert ws.closed
    # Closing a denied connection sends nothing.
    await ws.close()
    assert len(pair.sent) == 2


async def test_deny_defaults_and_raw_headers() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    await ws.deny(headers=[(b"Content-Length", b"0"), (b"x-why", b"policy")])
    start, body = pair.sent
    assert start["status"] == 403
    assert start["headers"] == [(b"Content-Length", b"0"), (b"x-why", b"policy")]
    assert body == {"type": "websocket.http.response.body", "body": b"", "more_body": False}


async def test_deny_keeps_a_given_content_type() -> None:
    pair = ASGIPair()
    await pair.websocket().deny(429, {"content-type": "application/json"}, b"{}")
    assert pair.sent[0]["headers"] == [
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
    ]


async def test_deny_without_the_extension_closes_before_accept() -> None:
    pair = ASGIPair(make_scope(denial=False))
    ws = pair.websocket()
    await ws.deny(401, body=b"nope")
    assert pair.sent == [{"type": "websocket.close", "code": 1008, "reason": "refused: HTTP 401"}]
    assert ws.closed


async def test_deny_after_accept_raises() -> None:
    pair, ws = await accepted()
    with pytest.raises(InvalidTransition, match="'websocket.http.response.start' in state CONN"):
        await ws.deny()
    assert pair.types == ["websocket.accept"]


async def test_denial_body_in_chunks_and_nothing_after() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    await ws.send({"type": "websocket.http.response.start", "status": 500, "headers": []})
    assert ws.application_state is WebSocketState.RESPONSE
    with pytest.raises(InvalidTransition, match="only its body may follow"):
        await ws.send({"type": "websocket.send", "text": "x"})
    await ws.close()  # a no-op while the response is being sent
    await ws.send({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    assert pair.snapshot(ws) == (False, "CONNECTED", "RESPONSE")
    await ws.send({"type": "websocket.http.response.body", "body": b"b"})
    assert pair.snapshot(ws) == (True, "CONNECTED", "DISCONNECTED")
    with pytest.raises(ConnectionClosed):
        await ws.send({"type": "websocket.http.response.body", "body": b"c"})
    assert pair.types == [
        "websocket.http.response.start",
        "websocket.http.response.body",
        "websocket.http.response.body",
    ]


async def test_send_denial_response() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    await ws.send_denial_response(PlainTextResponse("go away", status_code=403))
    assert pair.types == ["websocket.http.response.start", "websocket.http.response.body"]
    assert pair.sent[0]["status"] == 403
    assert pair.sent[1]["body"] == b"go away"
    assert ws.closed


async def test_send_denial_response_needs_the_extension() -> None:
    pair = ASGIPair(make_scope(denial=False))
    ws = pair.websocket()
    with pytest.raises(RuntimeError) as raised:
        await ws.send_denial_response(PlainTextResponse("x"))
    # Starlette's words for the same misuse, taken from Starlette itself.
    assert str(raised.value) == await starlette_message(
        lambda ws: ws.send_denial_response(PlainTextResponse("x"))
    )
    assert pair.sent == []


# -- async with -----------------------------------------------------------------------------------


async def test_async_with_accepts_and_closes_normally() -> None:
    pair = ASGIPair(make_scope(subprotocols=["v1"]))
    ws = pair.websocket()
    ws.subprotocol = "v1"
    async with ws as entered:
        assert entered is ws
        assert pair.sent[0]["subprotocol"] == "v1"
        await ws.send_text("hi")
    assert pair.types == ["websocket.accept", "websocket.send", "websocket.close"]
    assert pair.closes[0]["code"] == 1000


async def test_async_with_after_explicit_close_sends_one_close() -> None:
    pair = ASGIPair()
    async with pair.websocket() as ws:
        await ws.close(4000)
    assert pair.closes == [{"type": "websocket.close", "code": 4000, "reason": ""}]


async def test_async_with_server_error_closes_1011_and_reraises_unlogged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Whoever stops the exception logs it once (the App, the route, or the ASGI server).
    pair = ASGIPair()
    with pytest.raises(KeyError, match="secret detail"):
        async with pair.websocket():
            raise KeyError("secret detail")
    assert pair.closes == [{"type": "websocket.close", "code": 1011, "reason": "internal error"}]
    assert "secret" not in repr(pair.sent)
    assert [r for r in caplog.records if r.name.startswith("wskit")] == []


async def test_async_with_client_fault_closes_with_its_code_and_is_handled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pair = ASGIPair(make_scope(client=("10.0.0.7", 5555)))
    async with pair.websocket():
        raise ValidationError("Expected `int`, got `str` at $.seq", "$.seq")
    assert pair.closes == [
        {
            "type": "websocket.close",
            "code": 1007,
            "reason": "invalid message: Expected `int`, got `str` at $.seq",
        }
    ]
    (record,) = [r for r in caplog.records if r.name == "wskit.connection"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "10.0.0.7:5555" in record.getMessage()


async def test_async_with_swallows_the_client_leaving() -> None:
    pair = ASGIPair().disconnect(1001, "tab closed")
    async with pair.websocket() as ws:
        await ws.receive_text()
        pytest.fail("receive_text returned")  # pragma: no cover
    assert pair.types == ["websocket.accept"]
    assert (ws.close_code, ws.close_reason) == (1001, "tab closed")


async def test_async_with_cancellation_closes_1001() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    with anyio.CancelScope() as scope:
        async with ws:
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert pair.closes == [{"type": "websocket.close", "code": 1001, "reason": "going away"}]


async def test_accept_inside_async_with_raises() -> None:
    pair = ASGIPair()
    with pytest.raises(InvalidTransition):
        async with pair.websocket() as ws:
            await ws.accept()
    assert pair.types == ["websocket.accept", "websocket.close"]
    assert pair.closes[0]["code"] == 1011


async def test_async_with_client_gone_before_handshake() -> None:
    pair = ASGIPair(connect=False).disconnect(1006)
    ws = pair.websocket()
    # __aenter__ cannot skip the block: it raises the disconnect (nothing is sent).
    with pytest.raises(WebSocketDisconnect):
        async with ws:
            pytest.fail("entered the block")  # pragma: no cover
    assert pair.sent == []
    assert ws.close_code == 1006


# -- callbacks and waiting ------------------------------------------------------------------------


async def _end_by_client(pair: ASGIPair, ws: WebSocket) -> None:
    pair.disconnect(1001)
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()


async def _end_by_app(pair: ASGIPair, ws: WebSocket) -> None:
    await ws.close(4000)


async def _end_by_oserror(pair: ASGIPair, ws: WebSocket) -> None:
    pair.fail_send = BrokenPipeError()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x")
    assert info.value.code == 1006


async def _end_by_oserror_slow_path(pair: ASGIPair, ws: WebSocket) -> None:
    pair.fail_send = BrokenPipeError()
    with pytest.raises(WebSocketDisconnect) as info:
        await ws.send_text("x", timeout=1)
    assert info.value.code == 1006


async def _end_by_protocol_error(pair: ASGIPair, ws: WebSocket) -> None:
    pair.connect()
    with pytest.raises(RemoteProtocolError):
        await ws.receive_text()


ENDINGS = [_end_by_client, _end_by_app, _end_by_oserror, _end_by_oserror_slow_path]


@pytest.mark.parametrize("end", [*ENDINGS, _end_by_protocol_error])
async def test_close_callbacks_run_once_on_every_end(end: object) -> None:
    pair, ws = await accepted()
    calls: list[WebSocket] = []
    ws.add_close_callback(calls.append)
    ws.add_close_callback(calls.append)
    await end(pair, ws)  # type: ignore[operator]
    assert calls == [ws, ws]
    assert ws.closed
    # Everything after the end: no more callbacks.
    await ws.close()
    with pytest.raises(WebSocketDisconnect):
        await ws.receive_text()
    assert calls == [ws, ws]


async def test_close_callback_on_denial_and_on_reject() -> None:
    for finish in ("deny", "close"):
        pair = ASGIPair()
        ws = pair.websocket()
        calls: list[WebSocket] = []
        ws.add_close_callback(calls.append)
        await (ws.deny() if finish == "deny" else ws.close())
        assert calls == [ws]


async def test_close_callback_added_after_the_end_runs_at_once() -> None:
    pair, ws = await accepted()
    await ws.close()
    calls: list[WebSocket] = []
    ws.add_close_callback(calls.append)
    assert calls == [ws]


async def test_failing_close_callback_is_logged_and_the_rest_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pair, ws = await accepted()
    calls: list[int] = []

    def boom(_: WebSocket) -> None:
        raise RuntimeError("callback failed")

    ws.add_close_callback(boom)
    ws.add_close_callback(lambda _: calls.append(1))
    await ws.close()
    assert calls == [1]
    assert any("close callback" in r.message for r in caplog.records)


@pytest.mark.parametrize("end", ENDINGS)
async def test_wait_closed(end: object) -> None:
    pair, ws = await accepted()
    woke: list[bool] = []

    async def waiter() -> None:
        await ws.wait_closed()
        woke.append(True)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        await end(pair, ws)  # type: ignore[operator]
    assert woke == [True, True]
    with anyio.fail_after(1):
        await ws.wait_closed()  # returns at once once closed


# -- configuration --------------------------------------------------------------------------------


async def test_codec_is_settable_until_accept() -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    ws.codec = MSGPACK
    assert ws.codec is MSGPACK
    await ws.accept()
    with pytest.raises(InvalidTransition, match="'set codec' in state CONNECTED"):
        ws.codec = JSON
    assert ws.codec is MSGPACK


async def test_limits_are_settable() -> None:
    pair, ws = await accepted()
    ws.limits = Limits(max_message_size=None)
    assert ws.limits.max_message_size is None
    pair.text("x" * (2**21))
    assert len(await ws.receive_text()) == 2**21


async def test_repr_after_close() -> None:
    _, ws = await accepted()
    await ws.close(4000)
    assert repr(ws) == (
        "<WebSocket '/ws' client=CONNECTED application=DISCONNECTED close_code=4000>"
    )


async def test_use_after_app_close_names_both_sides() -> None:
    pair, ws = await accepted()
    await ws.close()
    with pytest.raises(ConnectionClosed) as info:
        await ws.receive_text()
    assert isinstance(info.value, WebSocketDisconnected)
    assert isinstance(info.value, RuntimeError)
    assert info.value.code == 1000
    assert "DISCONNECTED" in str(info.value)
    assert pair.receive_calls == 1


async def test_client_close_after_app_close_keeps_the_apps_code() -> None:
    # After close() the app may still read the client's closing handshake with receive().
    pair, ws = await accepted()
    await ws.close(4000, "app")
    pair.disconnect(1000, "client")
    assert (await ws.receive())["type"] == "websocket.disconnect"
    assert (ws.close_code, ws.close_reason) == (4000, "app")
    assert ws.client_state is WebSocketState.DISCONNECTED


def test_log_handler_error_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    from wskit._outcome import log_handler_error

    error = ValueError("boom")
    scope = make_scope()
    assert log_handler_error(error, scope) == (1011, "internal error")
    assert log_handler_error(error, scope) == (1011, "internal error")
    assert len([r for r in caplog.records if r.name == "wskit.connection"]) == 1
    assert log_handler_error(DecodeError("bad"), scope) == (1007, "bad")


# -- the fast-path watcher (what wskit.pubsub keeps its direct-send lists exact with) ----------


@pytest.mark.parametrize("end", ENDINGS)
async def test_fast_path_watchers_see_it_open_and_shut(end: object) -> None:
    pair = ASGIPair()
    ws = pair.websocket()
    seen: list[bool] = []
    port = Port.of(ws)
    assert port is not None
    port.watch(lambda w: seen.append(port.send is not None))
    await ws.accept()
    assert seen == [True]
    ws.limits = Limits(receive_timeout=1)
    ws.limits = Limits()
    assert seen == [True, False, True]
    await end(pair, ws)  # type: ignore[operator]
    assert seen == [True, False, True, False]


async def test_closing_shuts_the_fast_path_before_the_close_frame_goes_out() -> None:
    pair, ws = await accepted()
    seen: list[str] = []
    port = Port.of(ws)
    assert port is not None
    port.watch(lambda w: seen.append(w.application_state.name))
    await ws.close()
    # The watcher ran when close() started (state already moved), not after the send.
    assert seen == ["DISCONNECTED"]
    assert port.send is None


async def test_failing_watcher_is_logged_and_unwatch_stops_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pair, ws = await accepted()
    calls: list[int] = []

    def boom(_: WebSocket) -> None:
        raise RuntimeError("watcher failed")

    def count(_: WebSocket) -> None:
        calls.append(1)

    port = Port.of(ws)
    assert port is not None
    port.watch(boom)
    port.watch(count)
    ws.limits = Limits(send_timeout=1)
    assert calls == [1]
    assert any("fast-path watcher" in r.message for r in caplog.records)
    port.unwatch(count)
    ws.limits = Limits()
    assert calls == [1]


async def test_watchers_hear_of_new_thresholds_while_the_fast_path_is_open() -> None:
    pair, ws = await accepted()
    port = Port.of(ws)
    assert port is not None
    seen: list[tuple[int, int]] = []
    port.watch(lambda _: seen.append((port.text_out, port.bytes_out)))
    ws.limits = Limits(max_send_size=400)  # a list of direct sends kept with 2**20 is stale
    assert seen == [(100, 400)]
    ws.limits = Limits(max_send_size=400)  # the same thresholds: nothing to tell
    assert seen == [(100, 400)]


async def test_instance_attributes_stay_within_the_compact_layout() -> None:
    # CPython 3.11 keeps instance attributes in a compact, shared-key array (what the hot
    # path's specialised attribute loads need) for at most 30 names per class. Touch every
    # lazily set attribute, Starlette's included, and count.
    pair, ws = await accepted()
    _ = ws.url, ws.base_url, ws.headers, ws.query_params, ws.cookies, ws.state
    port = Port.of(ws)
    assert port is not None
    port.watch(lambda _: None)
    async with anyio.create_task_group() as tg:
        tg.start_soon(ws.wait_closed)
        await anyio.lowlevel.checkpoint()
        await ws.close()
    assert len(vars(ws)) <= 30, sorted(vars(ws))
