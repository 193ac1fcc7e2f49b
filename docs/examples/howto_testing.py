"""Testing a wskit app with ``wskit.testing``: async tests, no server, no threads."""

from __future__ import annotations

# isort: split
# --8<-- [start:app]
import msgspec

from wskit import App, Denied, WebSocket

app = App()
closed_codes: list[int] = []


class Add(msgspec.Struct):
    a: int
    b: int


@app.websocket("/add")
async def add(ws: WebSocket) -> None:
    ws.add_close_callback(lambda ws: closed_codes.append(ws.close_code or 0))
    async with ws:
        async for numbers in ws.iter_data(Add):
            await ws.send_data({"sum": numbers.a + numbers.b})


async def members_only(ws: WebSocket) -> str:
    if ws.headers.get("x-member") != "yes":
        raise Denied(403, b"members only")
    return "member"


@app.websocket("/club", authenticate=members_only)
async def club(ws: WebSocket) -> None:
    async with ws:
        await ws.send_text(f"welcome, {ws.state.user}")


# --8<-- [end:app]


# --8<-- [start:tests]
import pytest

from wskit import WebSocketDisconnect
from wskit.testing import TestClient, WebSocketDenied


async def test_add() -> None:
    # TestClient runs the app's lifespan startup on enter and its shutdown on exit.
    async with TestClient(app) as client, client.websocket_connect("/add") as ws:
        await ws.send_json({"a": 1, "b": 2})
        assert await ws.receive_json() == {"sum": 3}


async def test_invalid_payload_closes_with_1007() -> None:
    async with TestClient(app) as client, client.websocket_connect("/add") as ws:
        await ws.send_json({"a": 1})
        with pytest.raises(WebSocketDisconnect) as closed:  # the app closed the connection
            await ws.receive_json()
        assert closed.value.code == ws.close_code == 1007


async def test_denied() -> None:
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/club"):
                pass
        assert denied.value.status == 403
        assert denied.value.body == b"members only"
        async with client.websocket_connect("/club", headers={"x-member": "yes"}) as ws:
            assert await ws.receive_text() == "welcome, member"


async def test_client_vanishes() -> None:
    closed_codes.clear()
    async with TestClient(app) as client, client.websocket_connect("/add") as ws:
        ws.drop()  # no close frame: the app sees code 1006
    assert closed_codes == [1006]


# --8<-- [end:tests]
