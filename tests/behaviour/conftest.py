"""The behaviour suite: one behaviour, written once, on every server and worker wskit serves.

Each test module runs against ``python -m wskit run tests.behaviour.apps:... --server S
--worker W`` in a subprocess, for every (server, worker) pair of :data:`SERVERS`, with the real
``websockets`` client on the test's asyncio loop. A server is shared by the tests of a module
where they cannot disturb each other (module-scoped fixtures); tests that stop a server start
their own.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

import pytest

from tests._services import ServerProcess, server_process, unavailable

#: (server, worker) pairs: hypercorn's three workers, uvicorn and granian on uvloop.
SERVERS = [
    pytest.param(("hypercorn", "asyncio"), id="hypercorn-asyncio"),
    pytest.param(("hypercorn", "uvloop"), id="hypercorn-uvloop"),
    pytest.param(("hypercorn", "trio"), id="hypercorn-trio"),
    pytest.param(("uvicorn", "uvloop"), id="uvicorn"),
    pytest.param(("granian", "uvloop"), id="granian"),
]
APP = "tests.behaviour.apps:app"
_PACKAGES = {"hypercorn": "hypercorn", "uvicorn": "uvicorn", "granian": "granian"}


def require_server(server: str, worker: str) -> None:
    """Skip (fail under CI) when the server's or the worker's package is missing."""
    for package in (_PACKAGES[server], worker if worker != "asyncio" else None):
        if package and importlib.util.find_spec(package) is None:
            unavailable(f"{package} is not installed (wskit[{server}])")


@pytest.fixture(scope="module")
def anyio_backend() -> tuple[str, dict[str, object]]:
    """The ``websockets`` client runs on asyncio; the server's loop is the worker."""
    return ("asyncio", {})


@pytest.fixture(scope="module", params=SERVERS)
def kind(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The (server, worker) pair under test."""
    server, worker = request.param
    require_server(server, worker)
    return server, worker


@pytest.fixture(scope="module")
async def served(kind: tuple[str, str]) -> AsyncIterator[ServerProcess]:
    """``tests.behaviour.apps:app`` served by ``kind``, shared by the tests of a module."""
    server, worker = kind
    async with server_process(APP, server=server, worker=worker) as process:
        yield process
