"""One failure, one log record, in every shape of app, on hypercorn and uvicorn (issue 12, 3).

Each shape serves ``/fail`` (the code raises ``RuntimeError`` after accept: a server error) and
``/fault`` (the client sends ``"x"`` where an integer is expected: a client fault). The real
server runs in a thread and is stopped before the records are counted, so every record it was
going to write is there; the output is every record of every logger, the server's own
included, formatted as the server's log would show it.

Defined outcome, whatever the shape and the server: the client sees close 1011 "internal
error" and close 1007 with the validation message; the output holds exactly one traceback, for
the ``RuntimeError``, in one record (wskit's, or the ASGI server's for a bare ASGI app whose
``async with ws:`` re-raised it), and one WARNING without a traceback for the client fault.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
import pytest
from starlette.applications import Starlette

from tests._services import RunningServer, raw_ws_connect, running_server, uvicorn_server
from wskit._types import ASGIApp, Receive, Scope, Send
from wskit.app import App
from wskit.connection import WebSocket
from wskit.contrib.starlette import WebSocketRoute
from wskit.operations import OperationRouter, WebSocketView

pytestmark = pytest.mark.integration

SERVERS = ["hypercorn-asyncio", "hypercorn-trio", "uvicorn"]
FORMAT = logging.Formatter("%(levelname)s %(name)s %(message)s")


# -- the handlers: one server error, one client fault -----------------------------------------


class Seq(msgspec.Struct):
    seq: int


async def fail(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive_text()
    raise RuntimeError("database said no")


async def fault(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive(Seq)  # the client sends {"seq": "x"}


async def fail_with(ws: WebSocket) -> None:
    async with ws:
        await ws.receive_text()
        raise RuntimeError("database said no")


async def fault_with(ws: WebSocket) -> None:
    async with ws:
        await ws.receive(Seq)


class Failing(WebSocketView[str, str]):
    async def handler(self) -> None:
        await self.ws.receive_text()
        raise RuntimeError("database said no")


class Faulting(WebSocketView[str, str]):
    async def handler(self) -> None:
        await self.ws.receive(Seq)


def operations() -> OperationRouter:
    ops = OperationRouter(on_bad_input="close", on_handler_error="close")

    @ops.on("go")
    async def go(payload: Seq) -> None:
        raise RuntimeError("database said no")

    return ops


# -- the shapes --------------------------------------------------------------------------------


def in_app(failing: Callable[[WebSocket], object], faulting: Callable[[WebSocket], object]) -> App:
    app = App()
    app.add_route("/fail", failing)  # type: ignore[arg-type]
    app.add_route("/fault", faulting)  # type: ignore[arg-type]
    return app


def bare(
    failing: Callable[[WebSocket], object], faulting: Callable[[WebSocket], object]
) -> ASGIApp:
    """A bare ASGI app: no wskit layer above the handler."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            handler = failing if scope["path"] == "/fail" else faulting
            await handler(WebSocket(scope, receive, send))  # type: ignore[misc]
        elif scope["type"] == "lifespan":  # hypercorn's trio worker needs an answer
            for phase in ("startup", "shutdown"):
                await receive()
                await send({"type": f"lifespan.{phase}.complete"})

    return app


def starlette() -> ASGIApp:
    return Starlette(routes=[WebSocketRoute("/fail", fail), WebSocketRoute("/fault", fault)])


SHAPES: dict[str, Callable[[], ASGIApp]] = {
    "App": lambda: in_app(fail, fault),
    "App, async with": lambda: in_app(fail_with, fault_with),
    "Starlette route": starlette,
    "view in App": lambda: in_app(Failing, Faulting),
    "OperationRouter in App": lambda: in_app(operations(), operations()),
    "bare ASGI, async with": lambda: bare(fail_with, fault_with),
    "bare ASGI, view": lambda: bare(Failing, Faulting),
    "bare ASGI, OperationRouter": lambda: bare(operations(), operations()),
}

#: What the client sends to each path, per shape family.
SENDS = {"fail": "go", "fault": '{"seq": "x"}'}
OPERATION_SENDS = {
    "fail": '{"type": "go", "payload": {"seq": 1}}',
    "fault": '{"type": "go", "payload": {"seq": "x"}}',
}


@asynccontextmanager
async def serve(kind: str, app: ASGIApp) -> AsyncIterator[RunningServer]:
    if kind == "uvicorn":
        # log_config=None: uvicorn's records go to the root logger (caplog), as configured.
        async with uvicorn_server(app, log_config=None) as server:
            yield server
    else:
        async with running_server(app, worker=kind.removeprefix("hypercorn-")) as server:
            yield server


async def closed_with(server: RunningServer, path: str, text: str) -> tuple[int, str]:
    async with raw_ws_connect(server.ws(path)) as client:
        await client.send(text)
        return await client.wait_closed()


@pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {}), id="client-asyncio")])
@pytest.mark.parametrize("kind", SERVERS)
@pytest.mark.parametrize("shape", list(SHAPES))
async def test_one_failure_is_one_record(
    shape: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    sends = OPERATION_SENDS if "OperationRouter" in shape else SENDS
    caplog.set_level(logging.INFO)
    async with serve(kind, SHAPES[shape]()) as server:
        failed = await closed_with(server, "/fail", sends["fail"])
        faulted = await closed_with(server, "/fault", sends["fault"])
    # The server has stopped: every record it was going to write is here.
    assert failed == (1011, "internal error")
    # The validation message and its path: "invalid message: Expected `int`, got `str` at
    # $.seq", or the operation router's "invalid payload: ... at $.payload.seq".
    assert faulted[0] == 1007
    assert faulted[1].startswith(("invalid message: ", "invalid payload: "))
    assert faulted[1].endswith(".seq")
    output = [FORMAT.format(record) for record in caplog.records]
    tracebacks = [text for text in output if "Traceback (most recent call last)" in text]
    assert len(tracebacks) == 1, "\n".join(output)
    assert tracebacks[0].count("Traceback (most recent call last)") == 1
    assert "RuntimeError: database said no" in tracebacks[0]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, "\n".join(output)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "\n".join(output)
    assert warnings[0].exc_info is None
    assert warnings[0].name.startswith("wskit")
    assert "1007" in warnings[0].getMessage()
