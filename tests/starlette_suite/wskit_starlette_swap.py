"""pytest plugin: run Starlette's own WebSocket test module against another ``WebSocket`` class.

Loaded with ``-p wskit_starlette_swap`` by ``tests/test_starlette_suite.py``, in a pytest run of
the test files of Starlette's sdist. With ``WSKIT_SWAP=wskit`` it replaces
``starlette.websockets.WebSocket`` with ``wskit.WebSocket`` before the test module imports the
name, so every ``WebSocket(scope, receive=receive, send=send)`` in Starlette's tests builds
wskit's class; with ``WSKIT_SWAP=starlette`` it changes nothing (the baseline run, which shows
the tests that fail in this environment whatever the class). Both anyio backends run.

It lives outside the ``tests`` package (and is put on ``PYTHONPATH`` alone) because Starlette's
test files import their own package named ``tests``.
"""

from __future__ import annotations

import os

import pytest
import starlette.websockets

if os.environ.get("WSKIT_SWAP") == "wskit":
    from wskit import WebSocket

    starlette.websockets.WebSocket = WebSocket  # type: ignore[misc, assignment]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every test on both anyio backends, as wskit's own suite runs."""
    return str(request.param)
