"""A ``conftest.py`` that runs every async test on asyncio and on trio."""

from __future__ import annotations

# isort: split
# --8<-- [start:fixture]
import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs once on each backend."""
    backend: str = request.param
    return backend


# --8<-- [end:fixture]
