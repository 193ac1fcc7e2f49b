"""End-to-end tests: real servers on 127.0.0.1 and the ``websockets`` asyncio client.

The client library runs on asyncio only, so these tests pin ``anyio_backend`` to asyncio;
the *server* runs both event loops through the ``worker`` parameter (hypercorn's asyncio
and trio workers, in a thread or a subprocess).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """The websockets client needs asyncio; the server's loop is the ``worker`` parameter."""
    return ("asyncio", {})


@pytest.fixture(params=["asyncio", "trio"])
def worker(request: pytest.FixtureRequest) -> str:
    """hypercorn's worker class: the server's event loop."""
    return request.param  # type: ignore[no-any-return]
