"""The test client sees refused handshakes: closes before accept, denial responses, 500s and
timeouts.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

import anyio
import pytest
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    Timeout,
    WebSocketDisconnect,
    WskitError,
)
from wskit.testing import (
    TestClient,
    WebSocketDenied,
)

from ._apps import CLIENT_TIMEOUT, SECONDS, SHORT

# -- refused handshakes ----------------------------------------------------------------------


async def test_close_before_accept_is_a_403_denial() -> None:
    after: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})
        after.append(await receive())

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 403
    assert info.value.body == b""
    assert list(info.value.headers.raw) == []
    assert isinstance(info.value, WskitError)
    assert str(info.value) == "the application refused the WebSocket handshake with HTTP 403"
    assert repr(info.value) == "WebSocketDenied(status=403, body=b'')"
    assert after == [{"type": "websocket.disconnect", "code": 1006, "reason": ""}]


async def test_denial_response_with_several_body_chunks() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log ", "more_body": True})
        await send({"type": "websocket.http.response.body", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"in"})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 401
    assert info.value.headers["www-authenticate"] == "Bearer"
    assert info.value.body == b"log in"
    assert "HTTP 401: 'log in'" in str(info.value)


async def test_long_denial_body_is_shortened_in_the_message() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 429})
        await send({"type": "websocket.http.response.body", "body": b"x" * 300})

    with pytest.raises(WebSocketDenied, match=r"'x{200}'\.\.\.$") as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert len(info.value.body) == 300


async def test_denial_cut_short_by_the_application_returning() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 503, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"par", "more_body": True})

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert (info.value.status, info.value.body) == (503, b"par")


async def test_denial_response_needs_the_extension() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.http.response.start", "status": 403})

    with pytest.raises(RuntimeError, match="denial_response=False"):
        async with TestClient(app).websocket_connect("/", denial_response=False):
            pass  # pragma: no cover
    assert scopes[0]["extensions"] == {}


async def test_application_returning_without_answer_is_a_500_denial() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with pytest.raises(WebSocketDenied) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value.status == 500


@pytest.mark.parametrize("error", [ValueError("boom"), StarletteDisconnect(1001)])
async def test_exception_before_accept_is_reraised(error: Exception) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise error

    with pytest.raises(type(error)) as info:
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover
    assert info.value is error


async def test_exception_after_denial_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        raise KeyError("after")

    with pytest.raises(KeyError, match="after"):
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover


async def test_disconnect_escaping_after_denial_is_not_an_error() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        message = await receive()
        raise WebSocketDisconnect(message["code"])

    with pytest.raises(WebSocketDenied):
        async with TestClient(app).websocket_connect("/"):
            pass  # pragma: no cover


async def test_handshake_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"nor refused the connection within {SECONDS}$"):
        async with TestClient(app, timeout=SHORT).websocket_connect("/"):
            pass  # pragma: no cover


async def test_application_stuck_after_denial_times_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="after it refused the connection"):
        async with TestClient(app, timeout=CLIENT_TIMEOUT).websocket_connect("/"):
            pass  # pragma: no cover
