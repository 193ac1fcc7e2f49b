"""Drop-in check: ``wskit.WebSocket`` behaves like ``starlette.websockets.WebSocket``.

Differential tests. The ``ws_class`` fixture is each of the two classes; the same small
Starlette apps (a ``WebSocketRoute`` whose endpoint builds ``ws_class(scope, receive, send)``,
and Starlette's own ``WebSocketEndpoint`` with its ``WebSocket`` name switched, which is the
one-import change a Starlette user makes) run under Starlette's real, thread-based
``starlette.testclient.TestClient``, and the same assertions must hold for both classes.

Where wskit deliberately differs, the test says so and asserts both behaviours (``DIFFERENT``):

* a data receive or send after the connection ended raises ``ConnectionClosed``, which is a
  ``WebSocketDisconnected`` (``RuntimeError``, as in Starlette) *and* a ``WebSocketDisconnect``;
* ``close()`` is idempotent (Starlette raises ``RuntimeError`` on a second close);
* ``send_json`` writes NaN and infinities as ``null`` (Starlette writes the non-JSON ``NaN``);
* ``receive_text`` on a binary frame (or ``receive_bytes`` on text) raises ``FrameTypeError``
  (Starlette raises ``KeyError`` or returns ``None``);
* ``receive_json`` rejects the non-JSON tokens ``NaN``/``Infinity`` (``DecodeError``, a
  ``ValueError`` like ``json.JSONDecodeError``);
* the constructor raises ``ValueError`` for a non-websocket scope (Starlette: ``assert``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import pytest
import starlette.endpoints
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect
from starlette.websockets import WebSocketDisconnected as StarletteDisconnected
from starlette.websockets import WebSocketState

from tests._asgi_pair import ASGIPair
from tests._upstream import starlette_message
from wskit.connection import WebSocket as WskitWebSocket
from wskit.exceptions import ConnectionClosed, FrameTypeError

Handler = Callable[[Any], Awaitable[None]]
WSClass = type[StarletteWebSocket] | type[WskitWebSocket]
Seen = dict[str, Any]


@pytest.fixture(params=[StarletteWebSocket, WskitWebSocket], ids=["starlette", "wskit"])
def ws_class(request: pytest.FixtureRequest) -> WSClass:
    """The class under test: Starlette's or wskit's."""
    return request.param  # type: ignore[no-any-return]


Backend = Literal["asyncio", "trio"]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The TestClient's event loop."""
    return request.param  # type: ignore[no-any-return]


def is_wskit(ws_class: WSClass) -> bool:
    return issubclass(ws_class, WskitWebSocket)


class Endpoint:
    """An ASGI endpoint that hands ``handler`` a ``ws_class`` connection (not a function, so
    ``WebSocketRoute`` treats it as an ASGI app and does not build Starlette's class)."""

    def __init__(self, ws_class: WSClass, handler: Handler) -> None:
        self.ws_class = ws_class
        self.handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.handler(self.ws_class(scope, receive, send))


@pytest.fixture
def client(ws_class: WSClass, backend: Backend) -> Callable[[Handler], TestClient]:
    """Build a Starlette TestClient for an app with ``/ws/{room}`` served by ``handler``."""

    def make(handler: Handler) -> TestClient:
        app = Starlette(routes=[WebSocketRoute("/ws/{room}", Endpoint(ws_class, handler))])
        return TestClient(app, backend=backend)

    return make


# -- connection information -----------------------------------------------------------------------


def test_connection_information(client: Callable[[Handler], TestClient]) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        seen["url"] = str(ws.url)
        seen["port"] = ws.url.port
        seen["headers"] = dict(ws.headers)
        seen["query"] = dict(ws.query_params)
        seen["path_params"] = ws.path_params
        seen["cookies"] = ws.cookies
        seen["client"] = tuple(ws.client)
        seen["path"] = ws["path"]
        seen["type"] = ws["type"]
        seen["in"] = "subprotocols" in ws
        seen["len"] = len(ws) == len(ws.scope)
        seen["keys"] = set(ws) == set(ws.scope)
        seen["eq"] = (ws == ws, ws in {ws}, ws != ws.__class__(ws.scope, ws._receive, ws._send))
        ws.state.user = "ana"
        seen["state"] = ws.state.user
        seen["subprotocols"] = ws["subprotocols"]
        await ws.accept()
        await ws.close()

    session = client(handler).websocket_connect(
        "ws://example.com:8123/ws/lobby?a=1&b=two",
        headers={"cookie": "session=abc; theme=dark", "x-custom": "yes"},
        subprotocols=["soap", "wamp"],
    )
    with session, pytest.raises(StarletteDisconnect):
        session.receive_text()
    assert seen["url"] == "ws://example.com:8123/ws/lobby?a=1&b=two"
    assert seen["port"] == 8123
    assert seen["headers"]["x-custom"] == "yes"
    assert seen["headers"]["sec-websocket-protocol"] == "soap, wamp"
    assert seen["query"] == {"a": "1", "b": "two"}
    assert seen["path_params"] == {"room": "lobby"}
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    assert seen["client"] == ("testclient", 50000)
    assert (seen["path"], seen["type"], seen["in"]) == ("/ws/lobby", "websocket", True)
    assert seen["len"]
    assert seen["keys"]
    assert seen["eq"] == (True, True, True)
    assert seen["state"] == "ana"
    assert seen["subprotocols"] == ["soap", "wamp"]


def test_accept_with_subprotocol_and_headers(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept(subprotocol="wamp", headers=[(b"x-extra", b"1")])
        await ws.close()

    with client(handler).websocket_connect("/ws/a", subprotocols=["soap", "wamp"]) as session:
        handshake: tuple[object, object] = (session.accepted_subprotocol, session.extra_headers)
        assert handshake == ("wamp", [(b"x-extra", b"1")])


def test_accept_without_headers(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.close()

    with client(handler).websocket_connect("/ws/a") as session:
        assert session.accepted_subprotocol is None
        assert session.extra_headers == []


# -- data -----------------------------------------------------------------------------------------


def test_text_bytes_and_json_echo(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.send_text("text: " + await ws.receive_text())
        await ws.send_bytes(b"bytes: " + await ws.receive_bytes())
        await ws.send_json({"json": await ws.receive_json()})
        await ws.send_json({"binary": await ws.receive_json(mode="binary")}, mode="binary")
        await ws.close()

    with client(handler).websocket_connect("/ws/a") as session:
        session.send_text("héllo ✓")
        assert session.receive() == {"type": "websocket.send", "text": "text: héllo ✓"}
        session.send_bytes(b"\x00\xff")
        assert session.receive() == {"type": "websocket.send", "bytes": b"bytes: \x00\xff"}
        session.send_json({"a": [1, 2.5, None, "é"]})
        assert session.receive() == {
            "type": "websocket.send",
            "text": '{"json":{"a":[1,2.5,null,"é"]}}',
        }
        session.send_json({"b": "😀"}, mode="binary")
        assert session.receive() == {
            "type": "websocket.send",
            "bytes": '{"binary":{"b":"😀"}}'.encode(),
        }


SEND_JSON_VALUES: list[Any] = [
    {"nested": {"list": [1, -2, 3.25, 1e16, 1e-7, 1e-5, 1e300, -0.0], "s": '"q" \\ \n \x01'}},
    ["é✓😀", "\u2028", True, False, None, 12345678901234567890],
    "just a string",
    [],
]


@pytest.mark.parametrize("value", SEND_JSON_VALUES)
def test_send_json_is_byte_identical(client: Callable[[Handler], TestClient], value: Any) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.send_json(value)
        await ws.send_json(value, mode="binary")
        await ws.close()

    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    with client(handler).websocket_connect("/ws/a") as session:
        assert session.receive() == {"type": "websocket.send", "text": expected}
        assert session.receive() == {"type": "websocket.send", "bytes": expected.encode()}


def test_send_json_nan(client: Callable[[Handler], TestClient], ws_class: WSClass) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.send_json([math.nan, math.inf])
        await ws.close()

    with client(handler).websocket_connect("/ws/a") as session:
        text = session.receive_text()
    # DIFFERENT: wskit sends valid JSON.
    assert text == ("[null,null]" if is_wskit(ws_class) else "[NaN,Infinity]")


def test_iterators(client: Callable[[Handler], TestClient]) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        await ws.accept()
        kind = (await ws.receive_text()).strip()
        if kind == "text":
            seen["items"] = [t async for t in ws.iter_text()]
        elif kind == "bytes":
            seen["items"] = [b async for b in ws.iter_bytes()]
        else:
            seen["items"] = [j async for j in ws.iter_json()]
        seen["states"] = (ws.client_state, ws.application_state)

    test_client = client(handler)
    cases: list[tuple[str, list[str | bytes], list[Any]]] = [
        ("text", ["a", "b"], ["a", "b"]),
        ("bytes", [b"a"], [b"a"]),
        ("json", ['{"x": 1}', "[2]"], [{"x": 1}, [2]]),
    ]
    for kind, sends, expected in cases:
        with test_client.websocket_connect("/ws/a") as session:
            session.send_text(kind)
            for item in sends:
                if isinstance(item, bytes):
                    session.send_bytes(item)
                else:
                    session.send_text(item)
            session.close(1001)
        assert seen["items"] == expected
        assert seen["states"] == (WebSocketState.DISCONNECTED, WebSocketState.CONNECTED)


def test_concurrent_reader_and_writer(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        send, receive = anyio.create_memory_object_stream[Any](10)

        async def reader() -> None:
            async with send:
                async for data in ws.iter_json():
                    await send.send(data)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            async with receive:
                async for data in receive:
                    await ws.send_json({"echo": data})

    with client(handler).websocket_connect("/ws/a") as session:
        session.send_json([1])
        session.send_json([2])
        assert session.receive_json() == {"echo": [1]}
        assert session.receive_json() == {"echo": [2]}


# -- state and close ------------------------------------------------------------------------------


def test_states_through_a_conversation(client: Callable[[Handler], TestClient]) -> None:
    seen: Seen = {"states": []}

    async def handler(ws: Any) -> None:
        def record() -> None:
            seen["states"].append((ws.client_state, ws.application_state))

        record()
        await ws.accept()
        record()
        await ws.receive_text()
        record()
        try:
            await ws.receive_text()
        except StarletteDisconnect as exc:
            seen["disconnect"] = (type(exc), exc.code, exc.reason)
        record()

    C, A, D = WebSocketState.CONNECTING, WebSocketState.CONNECTED, WebSocketState.DISCONNECTED
    with client(handler).websocket_connect("/ws/a") as session:
        session.send_text("hi")
        session.close(4001, "bye")
    assert seen["states"] == [(C, C), (A, A), (A, A), (D, A)]
    kind, code, reason = seen["disconnect"]
    assert issubclass(kind, StarletteDisconnect)
    assert (code, reason) == (4001, "bye")


def test_application_close_with_reason(client: Callable[[Handler], TestClient]) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.close(1001, "Going Away")
        seen["states"] = (ws.client_state, ws.application_state)

    session = client(handler).websocket_connect("/ws/a")
    with session, pytest.raises(StarletteDisconnect) as info:
        session.receive_text()
    assert (info.value.code, info.value.reason) == (1001, "Going Away")
    assert seen["states"] == (WebSocketState.CONNECTED, WebSocketState.DISCONNECTED)


def test_close_before_accept_rejects(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.close(1008, "not allowed")

    with pytest.raises(StarletteDisconnect) as info, client(handler).websocket_connect("/ws/a"):
        pytest.fail("connected")  # pragma: no cover
    assert (info.value.code, info.value.reason) == (1008, "not allowed")


def test_send_denial_response(client: Callable[[Handler], TestClient]) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        await ws.send_denial_response(PlainTextResponse("nope", status_code=401))
        seen["state"] = ws.application_state

    test_client = client(handler)
    with pytest.raises(WebSocketDenialResponse) as info, test_client.websocket_connect("/ws/a"):
        pytest.fail("connected")  # pragma: no cover
    assert info.value.status_code == 401
    assert info.value.content == b"nope"
    assert seen["state"] is WebSocketState.DISCONNECTED


def test_close_twice(client: Callable[[Handler], TestClient], ws_class: WSClass) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        await ws.accept()
        await ws.close()
        try:
            await ws.close()
        except RuntimeError as exc:
            seen["error"] = exc

    session = client(handler).websocket_connect("/ws/a")
    with session, pytest.raises(StarletteDisconnect):
        session.receive_text()
    # DIFFERENT: wskit's close() is idempotent.
    if is_wskit(ws_class):
        assert "error" not in seen
    else:
        assert isinstance(seen["error"], StarletteDisconnected)


# -- errors ---------------------------------------------------------------------------------------


def run_until_error(
    client: Callable[[Handler], TestClient],
    body: Callable[[Any], Awaitable[None]],
    talk: Callable[[Any], None] | None = None,
) -> BaseException:
    """Run ``body`` in the app and return what it raised (the client just talks and leaves)."""
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        try:
            await body(ws)
        except Exception as exc:
            seen["error"] = exc
            return
        seen["error"] = None  # pragma: no cover

    with client(handler).websocket_connect("/ws/a") as session:
        if talk is not None:
            talk(session)
    error = seen["error"]
    assert isinstance(error, BaseException), "the app raised nothing"
    return error


def test_receive_before_accept(client: Callable[[Handler], TestClient]) -> None:
    for method in ("receive_text", "receive_bytes", "receive_json"):

        async def body(ws: Any, method: str = method) -> None:
            try:
                await getattr(ws, method)()
            finally:
                await ws.accept()

        error = run_until_error(client, body)
        assert isinstance(error, StarletteDisconnected)
        assert isinstance(error, RuntimeError)
        assert 'need to call "accept" first' in str(error).lower()


def test_send_before_accept(client: Callable[[Handler], TestClient]) -> None:
    async def body(ws: Any) -> None:
        try:
            await ws.send_text("early")
        finally:
            await ws.accept()

    error = run_until_error(client, body)
    assert isinstance(error, RuntimeError)
    assert not isinstance(error, StarletteDisconnect)


def test_accept_twice(client: Callable[[Handler], TestClient]) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        await ws.accept()

    assert isinstance(run_until_error(client, body), RuntimeError)


def test_bad_modes(client: Callable[[Handler], TestClient]) -> None:
    for call in (
        lambda ws: ws.receive_json(mode="bytes"),
        lambda ws: ws.send_json({}, mode="bytes"),
    ):

        async def body(ws: Any, call: Any = call) -> None:
            await ws.accept()
            await call(ws)

        error = run_until_error(client, body)
        assert type(error) is RuntimeError or isinstance(error, RuntimeError)
        assert str(error) == anyio.run(starlette_message, call)  # the same words as Starlette


def test_invalid_json_is_a_value_error(client: Callable[[Handler], TestClient]) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        await ws.receive_json()

    error = run_until_error(client, body, lambda s: s.send_text("{not json"))
    assert isinstance(error, ValueError)


def test_non_json_tokens(client: Callable[[Handler], TestClient], ws_class: WSClass) -> None:
    seen: Seen = {}

    async def handler(ws: Any) -> None:
        await ws.accept()
        try:
            seen["value"] = await ws.receive_json()
        except ValueError as exc:
            seen["error"] = exc

    with client(handler).websocket_connect("/ws/a") as session:
        session.send_text("NaN")
    # DIFFERENT: wskit accepts only JSON.
    if is_wskit(ws_class):
        assert isinstance(seen["error"], ValueError)
    else:
        assert math.isnan(seen["value"])


def test_wrong_frame_kind(client: Callable[[Handler], TestClient], ws_class: WSClass) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        await ws.receive_text()

    error = run_until_error(client, body, lambda s: s.send_bytes(b"binary"))
    # DIFFERENT: a typed error instead of Starlette's KeyError.
    if is_wskit(ws_class):
        assert isinstance(error, FrameTypeError)
        assert isinstance(error, TypeError)
    else:
        assert isinstance(error, KeyError)


def test_client_disconnect_code_and_reason(client: Callable[[Handler], TestClient]) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        await ws.receive_bytes()

    error = run_until_error(client, body, lambda s: s.close(4003, "tab closed"))
    assert isinstance(error, StarletteDisconnect)
    assert (error.code, error.reason) == (4003, "tab closed")


def test_raw_receive_after_disconnect(client: Callable[[Handler], TestClient]) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        assert (await ws.receive())["type"] == "websocket.disconnect"
        await ws.receive()

    error = run_until_error(client, body, lambda s: s.close())
    assert isinstance(error, StarletteDisconnected)
    assert isinstance(error, RuntimeError)


def test_data_receive_after_disconnect(
    client: Callable[[Handler], TestClient], ws_class: WSClass
) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except StarletteDisconnect:
            pass
        await ws.receive_text()

    error = run_until_error(client, body, lambda s: s.close(1001))
    assert isinstance(error, StarletteDisconnected)
    assert isinstance(error, RuntimeError)
    # DIFFERENT: wskit's error is also a WebSocketDisconnect carrying the close code, so an
    # ``except WebSocketDisconnect`` loop ends cleanly.
    if is_wskit(ws_class):
        assert isinstance(error, ConnectionClosed)
        assert isinstance(error, StarletteDisconnect)
        assert error.code == 1001
    else:
        assert not isinstance(error, StarletteDisconnect)


def test_send_after_close(client: Callable[[Handler], TestClient], ws_class: WSClass) -> None:
    async def body(ws: Any) -> None:
        await ws.accept()
        await ws.close(4000)
        await ws.send_text("late")

    def talk(session: Any) -> None:
        with pytest.raises(StarletteDisconnect):
            session.receive_text()

    error = run_until_error(client, body, talk)
    assert isinstance(error, StarletteDisconnected)
    assert isinstance(error, RuntimeError)
    assert isinstance(error, StarletteDisconnect) is is_wskit(ws_class)  # DIFFERENT, as above


def test_app_exception_reaches_the_test_client(client: Callable[[Handler], TestClient]) -> None:
    async def handler(ws: Any) -> None:
        await ws.accept()
        raise LookupError("boom")

    session = client(handler).websocket_connect("/ws/a")
    with pytest.raises(LookupError, match="boom"), session:
        session.receive_text()


# -- without a client: OSError and the constructor ------------------------------------------------


@pytest.mark.parametrize("ws_cls", [StarletteWebSocket, WskitWebSocket], ids=["starlette", "wskit"])
async def test_oserror_from_send_is_a_1006_disconnect(ws_cls: WSClass) -> None:
    pair = ASGIPair()
    ws = ws_cls(pair.scope, pair.receive, pair.send)
    await ws.accept()
    pair.fail_send = ConnectionResetError()
    with pytest.raises(StarletteDisconnect) as info:
        await ws.send_text("x")
    assert info.value.code == 1006
    assert ws.application_state is WebSocketState.DISCONNECTED


@pytest.mark.parametrize("ws_cls", [StarletteWebSocket, WskitWebSocket], ids=["starlette", "wskit"])
def test_constructor_rejects_http_scopes(ws_cls: WSClass) -> None:
    pair = ASGIPair()
    # DIFFERENT: ValueError instead of a bare assert (which ``python -O`` would skip).
    expected = ValueError if issubclass(ws_cls, WskitWebSocket) else AssertionError
    with pytest.raises(expected):
        ws_cls({"type": "http"}, pair.receive, pair.send)


# -- WebSocketEndpoint with the import switched ---------------------------------------------------


@pytest.fixture
def endpoint_class(ws_class: WSClass, monkeypatch: pytest.MonkeyPatch) -> WSClass:
    """Switch the ``WebSocket`` name ``starlette.endpoints`` uses, as a user switches an import."""
    monkeypatch.setattr(starlette.endpoints, "WebSocket", ws_class)
    return ws_class


@pytest.mark.parametrize("encoding", ["text", "bytes", "json", None])
def test_websocket_endpoint(
    endpoint_class: WSClass, backend: Backend, encoding: str | None
) -> None:
    seen: Seen = {}

    class Echo(WebSocketEndpoint):
        async def on_connect(self, websocket: Any) -> None:
            seen["class"] = type(websocket)
            await websocket.accept()

        async def on_receive(self, websocket: Any, data: Any) -> None:
            if isinstance(data, bytes):
                await websocket.send_bytes(data)
            elif isinstance(data, str):
                await websocket.send_text(data)
            else:
                await websocket.send_json(data)

        async def on_disconnect(self, websocket: Any, close_code: int) -> None:
            seen["close_code"] = close_code

    Echo.encoding = encoding  # type: ignore[assignment]
    app = Starlette(routes=[WebSocketRoute("/ws", Echo)])
    with TestClient(app, backend=backend).websocket_connect("/ws") as session:
        if encoding == "bytes":
            session.send_bytes(b"\x01")
            assert session.receive_bytes() == b"\x01"
        elif encoding == "json":
            session.send_json({"a": "é"}, mode="binary")
            assert session.receive_text() == '{"a":"é"}'
        else:
            session.send_text("hi")
            assert session.receive_text() == "hi"
        session.close(1001)
    assert seen["class"] is endpoint_class
    assert seen["close_code"] == 1001


def test_websocket_endpoint_rejects_the_wrong_frame_kind(
    endpoint_class: WSClass, backend: Backend
) -> None:
    class TextOnly(WebSocketEndpoint):
        encoding = "text"

    app = Starlette(routes=[WebSocketRoute("/ws", TextOnly)])
    session = TestClient(app, backend=backend).websocket_connect("/ws")

    def talk() -> None:
        with session:
            session.send_bytes(b"x")
            session.receive_text()

    with pytest.raises(RuntimeError):  # raised by Starlette's endpoint, whichever class it uses
        talk()
