"""The drop-in promise of the README, one test per point (issue 12, finding 2).

README.md's "Coming from Starlette or FastAPI" section lists what "drop-in replacement" means;
:data:`POINTS` maps each of its bullets to the test below that checks it, and the first test
checks that the README says exactly those points. Starlette's own test module, run against
wskit's class, is in ``tests/test_starlette_suite.py``; the wider differential tests are in
``tests/test_starlette_compat.py``.
"""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import starlette.websockets
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute as StarletteRoute
from starlette.testclient import TestClient as StarletteClient
from starlette.websockets import WebSocket as StarletteWebSocket

import wskit
from tests._asgi_pair import ASGIPair
from tests._services import raw_ws_connect, running_server, timeout, uvicorn_server
from wskit.app import App
from wskit.contrib.starlette import WebSocketRoute
from wskit.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent


# -- 1. code written against Starlette's WebSocket runs unchanged ---------------------------------


async def starlette_style(websocket: Any) -> None:
    """An endpoint as Starlette's documentation writes them: no wskit names anywhere."""
    await websocket.accept(subprotocol="chat", headers=[(b"x-room", b"1")])
    await websocket.send_json(
        {
            "room": websocket.path_params["room"],
            "q": websocket.query_params.get("q"),
            "cookie": websocket.cookies.get("c"),
            "header": websocket.headers.get("x-test"),
            "url": str(websocket.url),
            "state": websocket.application_state.name,
            "numbers": [1, 2.5, 1e16, "é"],
        }
    )
    await websocket.send_bytes(await websocket.receive_bytes())
    await websocket.send_json({"echo": await websocket.receive_json()}, mode="binary")
    async for text in websocket.iter_text():
        if text == "bye":
            await websocket.close(4001, "see you")
            return
        await websocket.send_text(text.upper())


def transcript(route: type[StarletteRoute]) -> list[object]:
    """What a client sees of ``starlette_style`` served by ``route``, on the real Starlette."""
    app = Starlette(routes=[route("/rooms/{room}", starlette_style)])
    seen: list[object] = []
    with StarletteClient(app).websocket_connect(
        "/rooms/lobby?q=1", subprotocols=["chat"], headers={"cookie": "c=v", "x-test": "t"}
    ) as session:
        seen += [session.accepted_subprotocol, session.extra_headers, session.receive_text()]
        session.send_bytes(b"\x00\xff")
        seen.append(session.receive_bytes())
        session.send_json({"a": [1, None]})
        seen.append(session.receive_bytes())
        for text in ("hi", "bye"):
            session.send_text(text)
        seen.append(session.receive_text())
        seen.append(session.receive())  # the close, code and reason
    return seen


def test_starlette_code_runs_unchanged() -> None:
    assert transcript(WebSocketRoute) == transcript(StarletteRoute)


# -- 2. a wskit connection is what wskit builds ----------------------------------------------------


async def test_what_builds_which_class() -> None:
    built: list[type] = []

    async def record(websocket: Any) -> None:
        built.append(type(websocket))
        await websocket.accept()
        await websocket.close()

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await record(wskit.WebSocket(scope, receive, send))

    app = App()
    app.add_route("/", record)
    for asgi in (
        Starlette(routes=[StarletteRoute("/", record)]),
        Starlette(routes=[WebSocketRoute("/", record)]),
        app,
        bare,
    ):
        async with TestClient(asgi).websocket_connect("/"):
            pass
    assert built == [StarletteWebSocket, wskit.WebSocket, wskit.WebSocket, wskit.WebSocket]
    # Starlette's class has none of wskit's additions.
    assert not hasattr(StarletteWebSocket, "__aenter__")
    assert not hasattr(StarletteWebSocket, "send_data")


# -- 3. one WebSocketDisconnect, one WebSocketState -----------------------------------------------


def test_the_shared_names_are_starlettes_classes() -> None:
    assert wskit.WebSocketDisconnect is starlette.websockets.WebSocketDisconnect
    assert wskit.WebSocketState is starlette.websockets.WebSocketState


SERVERS = ["hypercorn-asyncio", "hypercorn-trio", "uvicorn"]


@pytest.mark.integration
@pytest.mark.parametrize("anyio_backend", [pytest.param(("asyncio", {}), id="client-asyncio")])
@pytest.mark.parametrize("kind", SERVERS)
async def test_except_with_wskits_name_catches_starlettes_disconnect(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's route kept, imports switched to wskit: a client leaving is no server error."""
    left: queue.Queue[int] = queue.Queue()

    async def endpoint(websocket: Any) -> None:  # Starlette's route: Starlette's class
        await websocket.accept()
        try:
            while True:
                await websocket.receive_text()
        except wskit.WebSocketDisconnect as exc:  # the import switched to wskit
            left.put(exc.code)

    app = Starlette(routes=[StarletteRoute("/ws", endpoint)])
    caplog.set_level(logging.WARNING)
    serving = (
        uvicorn_server(app, log_config=None)
        if kind == "uvicorn"
        else running_server(app, worker=kind.removeprefix("hypercorn-"))
    )
    async with serving as server:
        async with raw_ws_connect(server.ws("/ws")) as client:
            await client.send("hello")
        code = await anyio.to_thread.run_sync(left.get, True, timeout(10))
    assert isinstance(code, int)  # the client's code, or 1006 where the server hides it
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# -- 4. the same exception types for the same misuse ----------------------------------------------

Misuse = Callable[[Any, ASGIPair], Awaitable[object]]


async def _receive_before_accept(ws: Any, pair: ASGIPair) -> object:
    return await ws.receive_text()


async def _send_before_accept(ws: Any, pair: ASGIPair) -> object:
    return await ws.send_text("early")


async def _accept_twice(ws: Any, pair: ASGIPair) -> object:
    await ws.accept()
    return await ws.accept()


async def _bad_mode(ws: Any, pair: ASGIPair) -> object:
    await ws.accept()
    return await ws.receive_json(mode="bytes")


async def _server_out_of_sequence(ws: Any, pair: ASGIPair) -> object:
    await ws.accept()
    pair.push({"type": "websocket.connect"})  # the server broke the ASGI sequence
    return await ws.receive()


async def _receive_after_disconnect(ws: Any, pair: ASGIPair) -> object:
    await ws.accept()
    pair.disconnect(1000)
    await ws.receive()
    return await ws.receive()


MISUSES: list[Misuse] = [
    _receive_before_accept,
    _send_before_accept,
    _accept_twice,
    _bad_mode,
    _server_out_of_sequence,
    _receive_after_disconnect,
]


async def _raised(cls: type, misuse: Misuse) -> BaseException:
    pair = ASGIPair()
    ws = cls(pair.scope, pair.receive, pair.send)
    try:
        await misuse(ws, pair)
    except Exception as exc:
        return exc
    raise AssertionError(f"{cls.__module__} raised nothing")


@pytest.mark.parametrize("misuse", MISUSES, ids=[m.__name__.strip("_") for m in MISUSES])
async def test_the_same_misuse_raises_the_same_type(misuse: Misuse) -> None:
    theirs = await _raised(StarletteWebSocket, misuse)
    ours = await _raised(wskit.WebSocket, misuse)
    assert isinstance(ours, type(theirs)), (type(ours), type(theirs))


# -- 5. the deliberate differences are one table, with reasons ------------------------------------


def test_the_differences_are_one_table_with_a_reason_per_row() -> None:
    page = (ROOT / "docs" / "howto" / "migrate-starlette.md").read_text(encoding="utf-8")
    section = page.split("## Deliberate differences", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header, *differences = rows
    assert "Why" in header
    assert len(differences) >= 2
    why = header.strip("|").split("|").index(" Why ")
    for row in differences:
        assert row.strip("|").split("|")[why].strip(), f"a difference without its reason: {row}"
    topics = " ".join(differences)
    assert "`close()` twice" in topics  # idempotent close
    assert "`client_state`" in topics  # read-only states
    # tests/test_starlette_suite.py runs Starlette's own tests against wskit's class and checks
    # that exactly the tests this table names fail.


# -- the README says exactly these points ---------------------------------------------------------

POINTS: dict[str, Callable[..., object]] = {
    "Code written against Starlette's `WebSocket` runs unchanged": (
        test_starlette_code_runs_unchanged
    ),
    "A wskit connection is what wskit builds": test_what_builds_which_class,
    "`WebSocketDisconnect` and `WebSocketState` are Starlette's own classes": (
        test_except_with_wskits_name_catches_starlettes_disconnect
    ),
    "For the same misuse, wskit raises the exception type Starlette raises": (
        test_the_same_misuse_raises_the_same_type
    ),
    "Where wskit behaves differently it does so on purpose": (
        test_the_differences_are_one_table_with_a_reason_per_row
    ),
}


def test_the_readme_makes_exactly_these_points() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Coming from Starlette or FastAPI", 1)[1].split("\n## ", 1)[0]
    bullets = [" ".join(b.split()) for b in re.split(r"\n- ", section)[1:]]
    assert len(bullets) == len(POINTS)
    for bullet, point in zip(bullets, POINTS, strict=True):
        assert bullet.startswith(point), (bullet, point)
