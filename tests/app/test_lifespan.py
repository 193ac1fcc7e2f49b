"""``App(http_app=...)`` runs the HTTP app's lifespan inside its own, per the ASGI lifespan spec."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

from tests.app.conftest import Records, echo
from wskit._types import ASGIApp, Message, Receive, Scope, Send
from wskit.app import App
from wskit.exceptions import WebSocketDisconnect
from wskit.testing import LifespanError, TestClient


def starlette_app(
    events: list[str], *, fail: str | None = None, app: list[App] | None = None
) -> Starlette:
    """A Starlette app whose lifespan records its phases (and fails in ``fail``, if given)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[dict[str, Any]]:
        if fail == "startup":
            raise OSError("no database")
        events.append("http start")
        yield {"greeting": "hello from starlette"}
        live = len(app[0].connections) if app else 0
        events.append(f"http stop with {live} connections")
        if fail == "shutdown":
            raise OSError("flush failed")

    async def greet(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    return Starlette(routes=[StarletteRoute("/", greet)], lifespan=lifespan)


def wskit_app(events: list[str], http_app: ASGIApp, **kwargs: Any) -> App:
    """An App whose own hooks and lifespan record their phases."""

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        events.append("ws enter")
        try:
            yield
        finally:
            events.append("ws exit")

    app = App(
        on_startup=[lambda: events.append("ws start")],
        on_shutdown=[lambda: events.append("ws stop")],
        lifespan=lifespan,
        http_app=http_app,
        **kwargs,
    )
    app.add_route("/ws", echo)
    return app


async def test_starlette_lifespan_runs_and_the_drain_comes_first(records: Records) -> None:
    events: list[str] = []
    holder: list[App] = []
    app = wskit_app(events, starlette_app(events, app=holder))
    holder.append(app)
    codes: list[int] = []
    async with anyio.create_task_group() as tg, TestClient(app) as client:
        assert events == ["ws start", "ws enter", "http start"]
        response = await client.http("GET", "/")
        assert (response.status, response.body) == (200, b"hello from starlette")
        opened = anyio.Event()

        async def hold() -> None:
            async with client.websocket_connect("/ws") as conn:
                await conn.send_text("hi")
                assert await conn.receive_text() == "hi"
                opened.set()
                with pytest.raises(WebSocketDisconnect) as info:
                    await conn.receive_text()
                codes.append(info.value.code)

        tg.start_soon(hold)
        await opened.wait()
        assert len(app.connections) == 1
    assert codes == [1001]
    assert events == [
        "ws start",
        "ws enter",
        "http start",
        "http stop with 0 connections",
        "ws exit",
        "ws stop",
    ]
    assert records.errors == []


async def test_http_app_startup_failure() -> None:
    events: list[str] = []
    app = wskit_app(events, starlette_app(events, fail="startup"))
    with pytest.raises(LifespanError) as info:
        async with TestClient(app):
            pass  # pragma: no cover
    assert info.value.phase == "startup"
    assert "OSError: no database" in info.value.message  # Starlette sends the traceback
    assert events == ["ws start", "ws enter", "ws exit"]  # the App's lifespan is exited


async def test_own_startup_failure_never_starts_the_http_app(records: Records) -> None:
    events: list[str] = []

    def broken() -> None:
        raise OSError("cannot bind the cache")

    app = App(on_startup=[broken], http_app=starlette_app(events))
    with pytest.raises(LifespanError) as info:
        async with TestClient(app):
            pass  # pragma: no cover
    assert info.value.message == "OSError('cannot bind the cache')"
    assert events == []
    assert len(records.errors) == 1


async def test_http_app_shutdown_failure_still_shuts_the_app_down(records: Records) -> None:
    events: list[str] = []
    app = wskit_app(events, starlette_app(events, fail="shutdown"))
    with pytest.raises(LifespanError) as info:
        async with TestClient(app):
            pass
    assert info.value.phase == "shutdown"
    assert "OSError: flush failed" in info.value.message
    assert events[-3:] == ["http stop with 0 connections", "ws exit", "ws stop"]
    assert len(records.errors) == 1


async def drive(app: ASGIApp) -> tuple[list[Message], BaseException | None]:
    """Play the server: startup, then shutdown; return what the app sent and what it raised."""
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(incoming)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


async def test_both_shutdowns_fail(records: Records) -> None:
    events: list[str] = []

    def broken() -> None:
        raise OSError("cache flush failed")

    app = App(on_shutdown=[broken], http_app=starlette_app(events, fail="shutdown"))
    sent, error = await drive(app)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.failed"]
    assert "OSError: flush failed" in sent[1]["message"]
    assert sent[1]["message"].endswith("\nOSError('cache flush failed')")
    assert isinstance(error, ExceptionGroup)
    assert [type(e).__name__ for e in error.exceptions] == ["LifespanFailure", "OSError"]
    assert isinstance(error.exceptions[0].__cause__, OSError)  # Starlette's own exception
    assert len(records.errors) == 2


async def test_failure_reported_without_an_exception() -> None:
    async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "not today"})

    sent, error = await drive(App(http_app=http_app))
    assert sent == [{"type": "lifespan.startup.failed", "message": "not today"}]
    assert error is not None
    assert error.__cause__ is None


async def raises_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # as Django's ASGIHandler does
        raise ValueError(f"can only handle ASGI/HTTP connections, not {scope['type']}")
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def returns_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await raises_at_once(scope, receive, send)


async def raises_after_receiving(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("half-hearted lifespan")
    await raises_at_once(scope, receive, send)


@pytest.mark.parametrize(
    ("http_app", "warned"),
    [(raises_at_once, False), (returns_at_once, False), (raises_after_receiving, True)],
)
async def test_http_app_without_lifespan_is_tolerated(
    records: Records, http_app: ASGIApp, warned: bool
) -> None:
    events: list[str] = []
    app = wskit_app(events, http_app)
    async with TestClient(app) as client:
        assert client.lifespan_supported
        assert (await client.http("GET", "/")).status == 204
    assert events == ["ws start", "ws enter", "ws exit", "ws stop"]
    assert records.errors == []
    assert bool(records.at(logging.WARNING)) is warned


def lifespan_app(answer: Callable[[str], Message | None]) -> ASGIApp:
    """An http_app whose lifespan sends ``answer(phase)``, or returns when it is ``None``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for phase in ("startup", "shutdown"):
            await receive()
            message = answer(phase)
            if message is None:
                return
            await send(message)

    return app


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            lambda phase: {"type": "lifespan.shutdown.complete"},
            ["lifespan.startup.failed"],
        ),
        (
            lambda phase: (
                {"type": "lifespan.startup.complete"}
                if phase == "startup"
                else {"type": "lifespan.startup.complete"}
            ),
            ["lifespan.startup.complete", "lifespan.shutdown.failed"],
        ),
        (
            lambda phase: {"type": "lifespan.startup.complete"} if phase == "startup" else None,
            ["lifespan.startup.complete", "lifespan.shutdown.complete"],
        ),
    ],
    ids=["wrong-startup-answer", "wrong-shutdown-answer", "returns-before-shutdown"],
)
async def test_http_app_answers(
    records: Records, answer: Callable[[str], Message | None], expected: list[str]
) -> None:
    sent, error = await drive(App(http_app=lifespan_app(answer)))
    assert [m["type"] for m in sent] == expected
    if expected[-1].endswith("failed"):
        assert "in reply to 'lifespan." in sent[-1]["message"]
        assert error is not None
    else:
        assert error is None


async def test_http_app_crashing_after_startup_fails_the_shutdown(records: Records) -> None:
    async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise OSError("pool died")

    sent, error = await drive(App(http_app=http_app))
    assert sent[-1] == {"type": "lifespan.shutdown.failed", "message": "OSError('pool died')"}
    assert isinstance(error, RuntimeError)
    assert isinstance(error.__cause__, OSError)


async def test_http_app_shares_the_lifespan_state() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
        yield {"from_wskit": 1}

    app = App(lifespan=lifespan, http_app=starlette_app([]))

    @app.websocket("/ws")
    async def handler(ws: Any) -> None:
        async with ws:
            await ws.send_text(f"{ws.state.greeting} {ws.state.from_wskit}")

    async with TestClient(app) as client:
        assert client.lifespan_state == {"from_wskit": 1, "greeting": "hello from starlette"}
        async with client.websocket_connect("/ws") as conn:
            assert await conn.receive_text() == "hello from starlette 1"
