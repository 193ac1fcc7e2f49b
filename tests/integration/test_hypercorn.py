"""wskit apps behind a real hypercorn (asyncio and trio workers), seen by a real client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import msgspec
import pytest
from websockets.exceptions import InvalidStatus

from tests._services import RunningServer, running_server
from tests.integration._client import close_frame, ws_connect
from tests.integration.apps import SMALL_LIMIT, Tick, make_app

pytestmark = pytest.mark.integration


@pytest.fixture
async def server(worker: str) -> AsyncIterator[RunningServer]:
    async with running_server(make_app(), worker=worker) as running:
        yield running


async def test_echo_text_and_bytes(server: RunningServer) -> None:
    async with ws_connect(server.ws("/echo")) as ws:
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.send(b"\x00\xff" * 100)
        assert await ws.recv() == b"\x00\xff" * 100


async def test_echo_json_matches_starlette_format(server: RunningServer) -> None:
    async with ws_connect(server.ws("/json")) as ws:
        await ws.send('{"a": [1, "é"], "b": null}')
        assert await ws.recv() == '{"echo":{"a":[1,"é"],"b":null}}'


async def test_typed_messages(server: RunningServer) -> None:
    async with ws_connect(server.ws("/typed")) as ws:
        await ws.send(msgspec.json.encode(Tick(1, "abc")).decode())
        assert msgspec.json.decode(await ws.recv(), type=Tick) == Tick(2, "ABC")


async def test_denial_status_body_and_headers(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_connect(server.ws("/private")):
            pass  # pragma: no cover
    response = caught.value.response
    assert response.status_code == 401
    assert response.body == b"who are you?"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_unknown_path_is_404(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_connect(server.ws("/nowhere")):
            pass  # pragma: no cover
    assert caught.value.response.status_code == 404


async def test_handler_error_closes_1011_and_logs_once(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with ws_connect(server.ws("/boom")) as ws:
        await ws.send("go")
        assert await close_frame(ws) == (1011, "internal error")
    # The server keeps serving the other connections.
    async with ws_connect(server.ws("/echo")) as ws:
        await ws.send("still here")
        assert await ws.recv() == "still here"
    # The client has its close before the handler has finished logging: count the records
    # once the server has stopped, when every handler has finished.
    await server.shutdown()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].name.startswith("wskit")
    assert errors[0].exc_info is not None
    assert isinstance(errors[0].exc_info[1], RuntimeError)


async def test_app_close_code_and_reason(server: RunningServer) -> None:
    async with ws_connect(server.ws("/close/4000")) as ws:
        assert await close_frame(ws) == (4000, "closed by the app")


async def test_wskit_limit_closes_1009(server: RunningServer) -> None:
    async with ws_connect(server.ws("/small")) as ws:
        await ws.send("x" * SMALL_LIMIT)  # at the limit: fine
        assert await ws.recv() == "x" * SMALL_LIMIT
        await ws.send("x" * (SMALL_LIMIT + 1))
        assert (await close_frame(ws))[0] == 1009


async def test_hypercorn_limit_closes_1009(worker: str) -> None:
    # wskit's own limit on /echo is 1 MiB; the server's is 4 KiB and hits first.
    async with (
        running_server(make_app(), worker=worker, max_message_size=4096) as server,
        ws_connect(server.ws("/echo")) as ws,
    ):
        await ws.send(b"x" * 4096)
        assert await ws.recv() == b"x" * 4096
        await ws.send(b"x" * 4097)
        assert (await close_frame(ws))[0] == 1009
