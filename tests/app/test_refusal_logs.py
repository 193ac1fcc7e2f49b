"""A refused handshake leaves one INFO record with its reason and the peer (issue 12, 7).

A client that cannot connect (a script without an ``Origin`` header, a wrong token, a full
server) must leave a trace at the default log level, saying why and who; refusals that are not
a policy's (an unknown path, a drain) stay at DEBUG.
"""

from __future__ import annotations

import logging

import pytest

from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import Denied
from wskit.policies import SubprotocolPolicy
from wskit.testing import TestClient, WebSocketDenied


async def echo(ws: WebSocket) -> None:
    async with ws:
        async for text in ws.iter_text():
            await ws.send_text(text)


async def nobody(ws: WebSocket) -> str | None:
    return None


async def teapot(ws: WebSocket) -> None:
    raise Denied(418, b"short and stout")


def app() -> App:
    app = App(max_connections=1)
    app.add_route("/origin", echo, origins=["https://chat.example.com"])
    app.add_route("/auth", echo, authenticate=nobody)
    app.add_route("/proto", echo, subprotocols=SubprotocolPolicy(["v2"], require=True))
    app.add_route("/teapot", teapot)
    app.add_route("/echo", echo)
    return app


@pytest.mark.parametrize(
    ("path", "headers", "status", "reason"),
    [
        ("/origin", {}, 403, "no Origin header"),
        ("/origin", {"origin": "https://evil.example"}, 403, "'https://evil.example' not in"),
        ("/auth", {}, 401, "the authenticate hook returned None"),
        ("/proto", {"sec-websocket-protocol": "v1"}, 400, "no supported subprotocol"),
        ("/teapot", {}, 418, "short and stout"),
    ],
)
async def test_a_policy_refusal_is_one_info_record_with_the_reason_and_the_peer(
    caplog: pytest.LogCaptureFixture, path: str, headers: dict[str, str], status: int, reason: str
) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    async with TestClient(app()) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect(path, headers=headers):
                pass  # pragma: no cover
    assert denied.value.status == status
    records = [r for r in caplog.records if r.name.startswith("wskit")]
    assert len(records) == 1, records
    (record,) = records
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert reason in message
    assert f"HTTP {status}" in message
    assert f"{path!r} from testclient:50000" in message  # the path and the peer


async def test_the_connection_cap_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    async with TestClient(app()) as client, client.websocket_connect("/echo") as first:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/echo"):
                pass  # pragma: no cover
        await first.send_text("still here")
        assert await first.receive_text() == "still here"
    assert denied.value.status == 503
    (record,) = [r for r in caplog.records if r.name.startswith("wskit")]
    assert record.levelno == logging.INFO
    assert "1 connections (max_connections=1)" in record.getMessage()
    assert "from testclient:50000" in record.getMessage()


async def test_an_unknown_path_is_not_a_policy_refusal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    async with TestClient(app()) as client:
        with pytest.raises(WebSocketDenied):
            async with client.websocket_connect("/nowhere"):
                pass  # pragma: no cover
    assert [r for r in caplog.records if r.name.startswith("wskit")] == []
