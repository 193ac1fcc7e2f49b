"""Fixtures of the reliability suite (see ``_helpers.py`` for the tools they build on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._helpers import Records, capture


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Iterator[Records]:
    """Every log record from DEBUG up, from every logger and thread."""
    with capture(caplog) as found:
        yield found
