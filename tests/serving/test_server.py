"""``wskit.serving``: options, app loading, and serving in the test's own event loop.

These run on both anyio backends: ``serve_async`` uses the running loop (hypercorn's
asyncio or trio worker accordingly) and the client is the anyio + wsproto ``RawClient``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import wskit.serving.drain
import wskit.serving.options
from tests._services import raw_ws_connect, timeout
from tests.integration.apps import make_app
from wskit.app import App
from wskit.cli import SERVER_OPTIONS
from wskit.exceptions import MissingExtra
from wskit.serving import (
    Listening,
    ServeKwargs,
    ServeOptions,
    ServerOptions,
    configure_logging,
    load_app,
    serve,
    serve_async,
)
from wskit.serving.drain import drain_app
from wskit.serving.entry import server_options
from wskit.serving.hypercorn import make_config

pytestmark = pytest.mark.integration


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"worker": "gevent"}, "worker must be one of"),
        ({"server": "daphne"}, "server must be one of"),
        ({"server": "uvicorn", "worker": "trio"}, "worker 'trio' needs server='hypercorn'"),
        ({"workers": 2, "reload": True}, "reload serves one worker process"),
        ({"certfile": "cert.pem"}, "TLS needs both certfile and keyfile"),
        ({"max_message_size": "big"}, "max_message_size must be positive"),
        ({"workers": 0}, "workers must be at least 1"),
        ({"port": 70000}, "port must be in"),
        ({"log_level": "loud"}, "log_level must be one of"),
        ({"max_message_size": 0}, "max_message_size must be positive"),
        ({"ping_interval": -1.0}, "ping_interval must be positive"),
        ({"drain_timeout": 0.0}, "drain_timeout must be positive"),
        ({"graceful_timeout": -1.0}, "graceful_timeout must be >= 0"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**options)


def test_drain_deadline() -> None:
    options = wskit.serving.options
    assert ServerOptions().drain_deadline == options.DRAIN_BACKSTOP
    assert ServerOptions(drain_timeout=2.0).drain_deadline == 2.0 + options.DRAIN_GRACE


def test_hypercorn_config_mapping() -> None:
    config = make_config(
        ServerOptions(
            host="::1",
            port=0,
            max_message_size=None,
            ping_interval=5.0,
            graceful_timeout=3.0,
            access_log=True,
            log_level="debug",
            server_config={"keep_alive_timeout": 7.0},
        )
    )
    assert config.bind == ["::1:0"]
    assert config.websocket_max_message_size == sys.maxsize
    assert config.websocket_ping_interval == 5.0
    assert config.graceful_timeout == 3.0
    assert config.accesslog == "-"
    assert config.loglevel == "DEBUG"
    assert config.keep_alive_timeout == 7.0
    assert make_config(ServerOptions(uds="/tmp/x.sock")).bind == ["unix:/tmp/x.sock"]
    with pytest.raises(TypeError, match="unknown hypercorn option 'nope'"):
        make_config(ServerOptions(server_config={"nope": 1}))


def test_one_list_of_serving_options() -> None:
    """ServerOptions is the one definition: the TypedDicts, the CLI flags and the signatures
    of serve() and serve_async() follow it (names and types; defaults live only there)."""
    fields = {f.name: f for f in dataclasses.fields(ServerOptions)}
    annotations = {name: str(field.type) for name, field in fields.items()}
    kwargs = {
        name: getattr(tp, "__forward_arg__", tp) for name, tp in ServeKwargs.__annotations__.items()
    }
    assert kwargs == annotations
    assert ServeKwargs.__optional_keys__ == set(fields)
    assert ServeOptions.__optional_keys__ == set(fields) - {"host", "port"}
    cli = {option.name: option.default for option in SERVER_OPTIONS}
    assert cli == {name: field.default for name, field in fields.items() if field.metadata["parse"]}
    assert set(fields) - set(cli) == {"server_config"}  # a mapping: Python callers only
    for function in (serve, serve_async):
        parameters = inspect.signature(function).parameters
        assert parameters["options"].kind is inspect.Parameter.VAR_KEYWORD
        assert parameters["host"].default is None  # None: ServerOptions' default
        assert parameters["port"].default is None


def test_serve_options_round_trip() -> None:
    """``serve_async(app, host, port, **options.serve_options())`` serves with ``options``."""
    options = ServerOptions(
        host="::1",
        port=0,
        uds=None,
        backlog=7,
        drain_timeout=3.0,
        server_config={"h2_max_inbound_frame_size": 2**15},
    )
    serve_options = options.serve_options()
    assert set(serve_options) == ServeOptions.__optional_keys__
    assert server_options(serve_options, host="::1", port=0) == options


def test_server_options_of_a_call() -> None:
    """``hypercorn={...}`` and, as before there was a ``server_config``, unknown keywords go to
    the server's own configuration."""
    options = server_options(
        {"backlog": 10, "keep_alive_timeout": 5.0, "hypercorn": {"h2_max_concurrent_streams": 3}},
        host="::1",
        port=0,
    )
    assert options == ServerOptions(
        host="::1",
        port=0,
        backlog=10,
        server_config={"keep_alive_timeout": 5.0, "h2_max_concurrent_streams": 3},
    )
    assert make_config(options).h2_max_concurrent_streams == 3
    assert server_options({"max_message_size": None}).max_message_size is None
    with pytest.raises(ValueError, match="log_level"):
        server_options({"log_level": "loud"})


def test_load_app() -> None:
    from tests.integration import apps

    assert load_app("tests.integration.apps:app") is apps.app
    assert load_app("tests.integration.apps:Tick.__name__") == "Tick"
    with pytest.raises(ValueError, match="module:attribute"):
        load_app("tests.integration.apps")
    with pytest.raises(ImportError, match="has no attribute"):
        load_app("tests.integration.apps:nothing")
    with pytest.raises(ImportError):
        load_app("tests.no_such_module:app")


def test_workers_need_an_import_string() -> None:
    with pytest.raises(ValueError, match="import string"):
        serve(make_app(), workers=2)


def test_uvloop_worker_needs_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if the uvloop extra were missing
    with pytest.raises(MissingExtra) as raised:
        serve(make_app(), port=0, worker="uvloop")
    assert raised.value.extra == "uvloop"


def test_configure_logging_is_idempotent() -> None:
    log = logging.getLogger("wskit")
    saved = (list(log.handlers), log.level, log.propagate)
    try:
        configure_logging("warning")
        configure_logging("debug")
        assert len(log.handlers) == len(saved[0]) + 1
        assert log.level == logging.DEBUG
        assert log.propagate is False
    finally:
        log.handlers = saved[0]
        log.setLevel(saved[1])
        log.propagate = saved[2]


# --- the drain hook ---------------------------------------------------------------------


class Drainable:
    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.calls: list[float | None] = []

    async def shutdown(self, timeout: float | None = None) -> None:
        self.calls.append(timeout)
        if self.behaviour == "raise":
            raise RuntimeError("drain failed")
        if self.behaviour == "hang":
            await anyio.sleep_forever()


class NoTimeout:
    called = False

    async def shutdown(self) -> None:
        self.called = True


async def test_drain_passes_the_deadline() -> None:
    app = Drainable("ok")
    await drain_app(app, 2.5)
    await drain_app(app, None)  # the app's own default
    assert app.calls == [2.5, None]
    no_timeout = NoTimeout()
    await drain_app(no_timeout, 2.5)
    assert no_timeout.called
    await drain_app(object(), 2.5)  # no shutdown(): nothing to do

    class SyncShutdown:
        def shutdown(self) -> None:  # pragma: no cover - not async: never called
            raise AssertionError

    await drain_app(SyncShutdown(), 2.5)


async def test_drain_survives_a_failing_or_hanging_shutdown(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wskit.serving.drain, "DRAIN_GRACE", 0.05)
    await drain_app(Drainable("raise"), 1.0)
    assert "app.shutdown() failed" in caplog.text
    with anyio.fail_after(timeout(5)):
        await drain_app(Drainable("hang"), 0.05)
    assert "still running after 0.1 s" in caplog.text


# --- serve_async on the test's own loop -------------------------------------------------


@asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[Listening]:
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        listening: Listening = await tg.start(
            lambda task_status: serve_async(
                app,
                "127.0.0.1",
                0,
                stop=stop,
                install_signal_handlers=False,
                task_status=task_status,
                **options,
            )
        )
        yield listening
        stop.set()


async def test_serve_async_tcp_echo_and_drain() -> None:
    app = make_app()
    async with serving(app) as listening:
        assert listening.port is not None
        assert listening.port > 0
        assert listening.url == f"http://127.0.0.1:{listening.port}"
        url = f"ws://127.0.0.1:{listening.port}"
        async with raw_ws_connect(url + "/echo") as first, raw_ws_connect(url + "/echo") as second:
            await first.send("hello")
            assert await first.receive() == "hello"
            await second.send(b"\x01")
            assert await second.receive() == b"\x01"
            async with anyio.create_task_group() as tg:
                tg.start_soon(app.shutdown)
                assert await first.wait_closed() == (1001, "server shutting down")
                assert await second.wait_closed() == (1001, "server shutting down")
        with pytest.raises(ConnectionRefusedError) as refused:
            async with raw_ws_connect(url + "/echo"):
                pass  # pragma: no cover
        assert refused.value.args[1] == 503  # the app is draining: new handshakes refused


async def test_serve_async_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "wskit.sock")
    async with serving(make_app(), uds=path) as listening:
        assert listening.urls == (f"unix:{path}",)
        assert listening.port is None
        async with raw_ws_connect("ws://localhost/json", uds=path) as client:
            await client.send('{"n": 1}')
            assert await client.receive() == '{"echo":{"n":1}}'
        async with await anyio.connect_unix(path) as stream:
            await stream.send(b"GET /echo HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            response = b""
            with anyio.fail_after(timeout(5)):
                async for chunk in stream:
                    response += chunk
        assert response.startswith(b"HTTP/1.1 426 ")
    assert not await anyio.Path(path).exists()  # removed on exit


async def test_serve_async_stops_the_app_lifespan() -> None:
    events: list[str] = []
    app = App(
        on_startup=[lambda: events.append("startup")],
        on_shutdown=[lambda: events.append("shutdown")],
    )
    async with serving(app):
        pass
    assert events == ["startup", "shutdown"]


# --- serve(): the blocking entry point, stopped by real signals -------------------------


@pytest.mark.parametrize("worker", ["asyncio", "trio"])
def test_serve_returns_after_sigterm(worker: str) -> None:
    seen: list[Listening] = []

    def ready(listening: Listening) -> None:
        seen.append(listening)
        os.kill(os.getpid(), signal.SIGTERM)

    serve(make_app(), port=0, worker=worker, on_ready=ready)  # type: ignore[arg-type]
    assert len(seen) == 1
    assert seen[0].port


@pytest.mark.parametrize("worker", ["asyncio", "trio"])
def test_an_async_on_ready_runs_next_to_the_server_until_it_stops(worker: str) -> None:
    events: list[str] = []

    async def ready(listening: Listening) -> None:
        events.append("ready")
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await anyio.sleep_forever()
        finally:
            events.append("stopped with the server")

    serve(make_app(), port=0, worker=worker, on_ready=ready)  # type: ignore[arg-type]
    assert events == ["ready", "stopped with the server"]


def test_a_port_in_use_is_an_oserror_not_a_group() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(make_app(), port=taken.getsockname()[1], log_level="warning")


class HangingApp:
    """Speaks lifespan; its ``shutdown()`` ignores the deadline."""

    def __init__(self) -> None:
        self.calls: list[float | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def shutdown(self, timeout: float | None = None) -> None:
        self.calls.append(timeout)
        # A second signal while draining (trio coalesces signals sent back to back).
        os.kill(os.getpid(), signal.SIGINT)
        await anyio.sleep_forever()


@pytest.mark.parametrize("worker", ["asyncio", "trio"])
def test_second_signal_skips_the_drain(worker: str, caplog: pytest.LogCaptureFixture) -> None:
    app = HangingApp()

    def ready(listening: Listening) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    started = time.monotonic()
    serve(app, port=0, worker=worker, drain_timeout=30.0, on_ready=ready)  # type: ignore[arg-type]
    assert time.monotonic() - started < timeout(10)
    assert app.calls == [30.0]
    assert "second signal" in caplog.text
    assert "still running" not in caplog.text


# --- serve(workers=N): the supervisor in this process, the workers spawned ---------------


def test_workers_stop_on_sigterm_and_warn_about_process_local_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    seen: list[Listening] = []

    def ready(listening: Listening) -> None:
        seen.append(listening)
        os.kill(os.getpid(), signal.SIGTERM)

    serve("tests.serving.fixture_module:app", port=0, workers=2, on_ready=ready)
    assert seen[0].port
    assert "tests.serving.fixture_module.backend (LocalBackend)" in caplog.text
    assert "stopping 2 workers" in caplog.text
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_dying_worker_stops_the_server(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="a worker process exited with status 3"):
        serve("tests.serving.crashing_app:app", port=0, workers=2)
    assert "exited with 3: stopping" in caplog.text
