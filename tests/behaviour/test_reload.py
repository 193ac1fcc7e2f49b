"""``--reload``: a changed ``.py`` file restarts the server on the same socket, draining first."""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests._services import server_process, timeout
from tests.behaviour.conftest import require_server
from tests.integration._client import close_frame, ws_connect

pytestmark = pytest.mark.integration

MODULE = """
from wskit import App, WebSocket

app = App()


@app.websocket("/version")
async def version(ws: WebSocket) -> None:
    async with ws:
        await ws.send_text("{version}")
        await ws.receive_text()
"""


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("asyncio", {})


async def _version(url: str) -> str | None:
    try:
        async with ws_connect(url) as ws:
            return str(await ws.recv())
    except (OSError, ConnectionClosed, InvalidHandshake):
        # Between two generations: refused with 503 while the old one drains, or cut off.
        return None


@pytest.mark.parametrize(
    ("server", "worker"),
    [("hypercorn", "asyncio"), ("uvicorn", "uvloop"), ("granian", "uvloop")],
    ids=["hypercorn", "uvicorn", "granian"],
)
async def test_a_changed_file_restarts_the_server(tmp_path: Path, server: str, worker: str) -> None:
    require_server(server, worker)
    source = tmp_path / "reloadable.py"
    source.write_text(MODULE.format(version="one"))
    args = ["--reload", "--app-dir", str(tmp_path)]
    async with server_process("reloadable:app", server=server, worker=worker, args=args) as proc:
        url = proc.ws("/version")
        async with ws_connect(url) as ws:
            assert await ws.recv() == "one"
            source.write_text(MODULE.format(version="two"))
            assert (await close_frame(ws, deadline=30))[0] == 1001  # drained by the old one
        with anyio.fail_after(timeout(30)):
            while (seen := await _version(url)) != "two":
                assert seen in (None, "one")
                await anyio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0
    assert "Traceback" not in proc.stderr_text(), proc.stderr_text()
