"""The cluster tests' fixtures: the session's Redis Cluster (``cluster``, in tests/conftest.py)
and the event loop of the test process (the servers' loop is each test's ``worker``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.redis


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """The websockets client runs on asyncio; the servers' loop is the ``worker`` parameter."""
    return ("asyncio", {})
