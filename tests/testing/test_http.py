"""The test client's plain HTTP requests.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

import anyio
import msgspec
import pytest
from starlette.datastructures import Headers

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    DecodeError,
    Timeout,
)
from wskit.testing import (
    HTTPResponse,
    TestClient,
)

from ._apps import CLIENT_TIMEOUT, SECONDS, SHORT

# -- plain HTTP ------------------------------------------------------------------------------------


async def http_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the request's method, path, query, headers and body, as JSON, in two chunks."""
    request = await receive()
    payload = msgspec.json.encode(
        {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "scheme": scope["scheme"],
            "body": request["body"].decode(),
            "version": scope["asgi"]["spec_version"],
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        }
    )
    start = {"type": "http.response.start", "status": 200, "headers": []}
    start["headers"] = [(b"content-type", b"application/json")]
    await send(start)
    await send({"type": "http.response.body", "body": payload[:10], "more_body": True})
    await send({"type": "http.response.body", "body": payload[10:]})


async def test_http_request_and_response() -> None:
    client = TestClient(http_echo)
    response = await client.http(
        "post", "/items?x=1", headers={"X-A": "b"}, body="é", scheme="https"
    )
    assert isinstance(response, HTTPResponse)
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert data["method"] == "POST"
    assert data["path"] == "/items"
    assert data["query"] == "x=1"
    assert data["scheme"] == "https"
    assert data["body"] == "é"
    assert data["version"] == "2.3"
    assert data["headers"] == [["host", "testserver"], ["content-length", "2"], ["x-a", "b"]]
    assert repr(response) == f"<HTTPResponse 200, {len(response.body)} bytes>"
    empty = await client.http()
    assert empty.json()["headers"] == [["host", "testserver"]]


def test_http_response_text_and_json() -> None:
    latin = HTTPResponse(
        200, Headers(raw=[(b"content-type", b'text/plain; x=y; charset="latin-1"')]), b"\xe9"
    )
    assert latin.text == "é"
    unknown = HTTPResponse(200, Headers({"content-type": "text/plain; charset=nope"}), b"ok")
    assert unknown.text == "ok"
    assert HTTPResponse(200, Headers(), "é".encode()).text == "é"
    with pytest.raises(DecodeError, match="not valid JSON"):
        HTTPResponse(200, Headers(), b"{").json()


async def test_http_disconnect_after_the_response() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await send(
            {"type": "http.response.start", "status": 426, "headers": [(b"upgrade", b"websocket")]}
        )
        await send({"type": "http.response.body", "body": b"upgrade required"})
        received.append(await receive())

    response = await TestClient(app).http(path="/ws")
    assert (response.status, response.text) == (426, "upgrade required")
    assert received == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_http_application_without_response_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    response = await TestClient(app).http()
    assert (response.status, response.body) == (500, b"")


async def test_http_exception_is_reraised() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise LookupError("http bug")

    with pytest.raises(LookupError, match="http bug"):
        await TestClient(app).http()


@pytest.mark.parametrize(
    ("messages", "error", "match"),
    [
        ([{"type": "http.response.body"}], RuntimeError, "expected 'http.response.start'"),
        ([{"type": "http.response.start", "status": "200"}], TypeError, "int 'status'"),
        (
            [{"type": "http.response.start", "status": 200, "headers": [["a", b"b"]]}],
            TypeError,
            "pairs of bytes",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body", "body": ""},
            ],
            TypeError,
            "needs bytes",
        ),
        (
            [{"type": "http.response.start", "status": 200}, {"type": "http.response.start"}],
            RuntimeError,
            "expected 'http.response.body'",
        ),
        (
            [
                {"type": "http.response.start", "status": 200},
                {"type": "http.response.body"},
                {"type": "http.response.body"},
            ],
            RuntimeError,
            "already complete",
        ),
    ],
)
async def test_http_protocol_violations(
    messages: list[Message], error: type[Exception], match: str
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in messages:
            await send(message)

    with pytest.raises(error, match=match):
        await TestClient(app).http()


async def test_http_timeouts() -> None:
    async def no_response(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="has not completed its response within 0.05 s"):
        await TestClient(no_response).http(timeout=SHORT)

    async def lingering(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204})
        await send({"type": "http.response.body"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"has not returned within {SECONDS}$"):
        await TestClient(lingering, timeout=CLIENT_TIMEOUT).http()
