"""The test client runs the application's lifespan around the test.

These tests use plain ASGI callables only (no wskit.connection), so they pin down what the
test client itself promises.
"""

from __future__ import annotations

import anyio
import pytest

from wskit._types import Message, Receive, Scope, Send
from wskit.exceptions import (
    Timeout,
)
from wskit.testing import (
    TIMEOUT_FACTOR_ENV,
    LifespanError,
    TestClient,
)

from ._apps import CLIENT_TIMEOUT, SECONDS, SHORT, App, accept, echo

# -- lifespan ------------------------------------------------------------------------------------


def supported(client: TestClient) -> bool | None:
    """Read ``lifespan_supported`` (a function, so mypy does not narrow it across awaits)."""
    return client.lifespan_supported


def lifespan_app(
    startup: Message | None = None, shutdown: Message | None = None
) -> tuple[App, list[str]]:
    """An application whose lifespan answers with ``startup`` and ``shutdown``."""
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
            events.append((await receive())["type"])
            scope["state"]["db"] = "connected"
            await send(startup or {"type": "lifespan.startup.complete"})
            events.append((await receive())["type"])
            await send(shutdown or {"type": "lifespan.shutdown.complete"})
            return
        await accept(receive, send)
        await send({"type": "websocket.send", "text": scope["state"].get("db", "none")})
        await receive()

    return app, events


async def test_lifespan_startup_shutdown_and_state() -> None:
    app, events = lifespan_app()
    client = TestClient(app)
    assert supported(client) is None
    async with client:
        assert supported(client) is True
        assert events == ["lifespan.startup"]
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_text() == "connected"
            ws.scope["state"]["db"] = "changed"  # a copy: the lifespan state is untouched
        assert client.lifespan_state == {"db": "connected"}
    assert events == ["lifespan.startup", "lifespan.shutdown"]
    assert client.lifespan_supported is None
    async with client.websocket_connect("/") as ws:  # without entering: no lifespan
        assert await ws.receive_text() == "connected"  # the state of the last run stays


async def test_lifespan_startup_failure() -> None:
    app, _ = lifespan_app(startup={"type": "lifespan.startup.failed", "message": "no db"})
    with pytest.raises(LifespanError, match="startup.failed: no db") as info:
        async with TestClient(app):
            pass  # pragma: no cover
    assert (info.value.phase, info.value.message) == ("startup", "no db")


async def test_lifespan_shutdown_failure() -> None:
    app, _ = lifespan_app(shutdown={"type": "lifespan.shutdown.failed"})
    with pytest.raises(LifespanError, match=r"lifespan.shutdown.failed$"):
        async with TestClient(app):
            pass


async def test_lifespan_shutdown_failure_is_a_note_on_a_body_error() -> None:
    app, _ = lifespan_app(shutdown={"type": "lifespan.shutdown.failed", "message": "x"})
    with pytest.raises(KeyError) as info:
        async with TestClient(app):
            raise KeyError("body")
    assert info.value.__notes__ == [
        "lifespan shutdown also failed: LifespanError('the application reported "
        "lifespan.shutdown.failed: x')"
    ]


async def test_body_error_with_a_clean_shutdown() -> None:
    app, events = lifespan_app()
    with pytest.raises(KeyError):
        async with TestClient(app):
            raise KeyError("body")
    assert events == ["lifespan.startup", "lifespan.shutdown"]


@pytest.mark.parametrize("behaviour", ["raise", "return"])
async def test_application_without_lifespan_is_tolerated(behaviour: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if behaviour == "raise":
                raise RuntimeError("lifespan unsupported")
            return
        await echo(scope, receive, send)

    client = TestClient(app)
    async with client:
        assert client.lifespan_supported is False
        async with client.websocket_connect("/") as ws:
            await ws.send_text("up")
            assert await ws.receive_text() == "up"


async def test_lifespan_error_while_running_is_raised_on_exit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise ValueError("lifespan task crashed")

    with pytest.raises(ValueError, match="lifespan task crashed"):
        async with TestClient(app):
            await anyio.wait_all_tasks_blocked()


async def test_lifespan_protocol_violation_is_raised() -> None:
    app, _ = lifespan_app(startup={"type": "lifespan.shutdown.complete"})
    with pytest.raises(RuntimeError, match="cannot send 'lifespan.shutdown.complete' now"):
        async with TestClient(app):
            pass  # pragma: no cover


async def test_lifespan_timeouts() -> None:
    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match=f"lifespan startup did not complete within {SECONDS}$"):
        async with TestClient(silent, timeout=SHORT):
            pass  # pragma: no cover

    async def stuck_on_shutdown(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="lifespan shutdown"):
        async with TestClient(stuck_on_shutdown, timeout=CLIENT_TIMEOUT):
            pass


async def test_lingering_lifespan_task_is_cancelled_and_reported() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        await anyio.sleep_forever()

    with pytest.raises(Timeout, match="lifespan task was still running"):
        async with TestClient(app, timeout=CLIENT_TIMEOUT):
            pass


async def test_client_enter_twice_and_exit_without_enter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_FACTOR_ENV, raising=False)
    app, _ = lifespan_app()
    client = TestClient(app)
    async with client:
        with pytest.raises(RuntimeError, match="already entered"):
            await client.__aenter__()
    with pytest.raises(RuntimeError, match="not entered"):
        await client.__aexit__(None, None, None)
    assert repr(client).startswith("<TestClient app=<function")
    assert repr(client).endswith("timeout=5 s>")
