"""The basics, the same on every server: echo, typed messages, denials, errors, plain HTTP."""

from __future__ import annotations

import msgspec
import pytest
from websockets.exceptions import InvalidStatus

from tests._services import ServerProcess
from tests.integration._client import close_frame, ws_connect

pytestmark = pytest.mark.integration


class Tick(msgspec.Struct):
    seq: int


async def test_echo_text_and_bytes(served: ServerProcess) -> None:
    async with ws_connect(served.ws("/echo")) as ws:
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.send(b"\x00\xff" * 100)
        assert await ws.recv() == b"\x00\xff" * 100


async def test_typed_messages_and_a_bad_one_closes_1007(served: ServerProcess) -> None:
    async with ws_connect(served.ws("/typed")) as ws:
        await ws.send('{"seq": 1}')
        assert msgspec.json.decode(await ws.recv(), type=Tick) == Tick(1)
        await ws.send('{"seq": "one"}')
        assert (await close_frame(ws))[0] == 1007


async def test_a_handler_error_is_1011_with_a_reason_and_one_error_record(
    served: ServerProcess,
) -> None:
    before = served.stderr_text()
    async with ws_connect(served.ws("/boom")) as ws:
        await ws.send("go")
        code, reason = await close_frame(ws)
    assert code == 1011
    assert reason
    async with ws_connect(served.ws("/echo")) as ws:  # the server serves on
        await ws.send("still here")
        assert await ws.recv() == "still here"
    added = await served.wait_stderr_growth(before, "ERROR")
    assert added.count("ERROR") == 1, added


async def test_unknown_path_is_denied_with_404(served: ServerProcess) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_connect(served.ws("/nowhere")):
            pass  # pragma: no cover
    assert caught.value.response.status_code == 404


async def test_scope_ports_are_ints(served: ServerProcess) -> None:
    # A denial of a handshake carries the server's view of the scope back through the app's
    # own code: wskit.App refuses /close/x (not an int) with 404 like any unknown path.
    with pytest.raises(InvalidStatus):
        async with ws_connect(served.ws("/close/x")):
            pass  # pragma: no cover
    async with ws_connect(served.ws("/whoami")) as ws:
        host, port, scheme = msgspec.json.decode(await ws.recv(), type=tuple[str, int, str])
    assert host == "127.0.0.1"
    assert isinstance(port, int)
    assert port > 0
    assert scheme == "ws"
