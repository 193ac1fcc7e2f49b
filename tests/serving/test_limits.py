"""The server's message limit comes from the app's routes (``max_message_size="auto"``)."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount

from wskit.app import App
from wskit.connection import Limits, WebSocket
from wskit.contrib.starlette import Endpoint, WebSocketRoute
from wskit.serving import ServerOptions
from wskit.serving.limits import UNLIMITED, app_message_limit, resolve_message_limit


async def handler(ws: WebSocket) -> None:  # pragma: no cover - never served here
    await ws.accept()


def test_a_wskit_app_and_its_mounts() -> None:
    child = App()
    child.add_route("/big", handler, limits=Limits(max_message_size=8 * 2**20))
    app = App(limits=Limits(max_message_size=2**16))
    app.add_route("/a", handler)
    app.mount("/child", child)
    assert app_message_limit(app) == 8 * 2**20
    app.add_route("/free", handler, limits=Limits(max_message_size=None))
    assert app_message_limit(app) == UNLIMITED


def test_starlette_routes_mounts_and_middleware() -> None:
    inner = Starlette(routes=[WebSocketRoute("/in", handler, limits=Limits(max_message_size=3))])
    app = Starlette(
        routes=[
            WebSocketRoute("/ws", handler),  # wskit's default
            Mount("/deep", app=inner),
            Mount("/end", app=Endpoint(handler, limits=Limits(max_message_size=5 * 2**20))),
        ],
        middleware=[Middleware(GZipMiddleware)],
    )
    assert app_message_limit(app) == 5 * 2**20


async def raw(scope: object, receive: object, send: object) -> None:  # pragma: no cover
    pass


def test_resolution_and_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    app = App(limits=Limits(max_message_size=4 * 2**20))
    app.add_route("/a", handler)
    assert resolve_message_limit(app, ServerOptions()).max_message_size == 4 * 2**20
    assert resolve_message_limit(raw, ServerOptions()).max_message_size == 2**20  # the default
    caplog.set_level(logging.WARNING, logger="wskit")
    explicit = ServerOptions(max_message_size=2**20)
    assert resolve_message_limit(app, explicit) == explicit  # kept, with one warning
    assert len([r for r in caplog.records if r.name == "wskit.server"]) == 1
    assert resolve_message_limit(app, ServerOptions(max_message_size=None)).max_message_size is None


async def test_a_server_started_elsewhere_below_the_apps_limit_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests._services import uvicorn_server

    caplog.set_level(logging.WARNING, logger="wskit")
    app = App()
    app.add_route("/a", handler)  # wskit's default limit: 1 MiB
    async with uvicorn_server(app, ws="websockets-sansio", ws_max_size=2**16):
        pass
    warned = [r for r in caplog.records if r.name == "wskit.server"]
    assert len(warned) == 1
    assert "65536" in warned[0].getMessage()
    caplog.clear()
    async with uvicorn_server(app, ws="websockets-sansio"):  # uvicorn's 16 MiB: no warning
        pass
    assert not [r for r in caplog.records if r.name == "wskit.server"]
