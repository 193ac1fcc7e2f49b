"""``wskit demo`` options, its configuration and the terminal status line (no server)."""

from __future__ import annotations

import argparse
import gc
import io
import os
import signal
import socket
import sys
import threading
from functools import partial

import anyio
import pytest

from tests._services import free_port
from wskit.demo.app import CONFIG_ENV, ChatServer, DemoConfig, config_from_env, create_app
from wskit.demo.cli import configure, demo_config, main, serve_demo
from wskit.demo.terminal import ClearingStream, StatusLine
from wskit.exceptions import MissingExtra
from wskit.serving import Listening, ServerOptions, serve_async


def parse(*argv: str) -> tuple[argparse.Namespace, ServerOptions]:
    from wskit.cli import server_kwargs

    parser = argparse.ArgumentParser(prog="wskit demo")
    configure(parser)
    args = parser.parse_args(argv)
    return args, ServerOptions(**server_kwargs(args, environ={}))


def test_defaults_allow_the_pages_own_origins() -> None:
    args, options = parse()
    config = demo_config(args, options, environ={})
    assert (options.host, options.port) == ("127.0.0.1", 8000)
    assert config.origins == ("http://127.0.0.1:8000", "http://localhost:8000")
    assert config.redis_url is None
    assert config.history == 50


def test_options_and_environment() -> None:
    args, options = parse("--port", "9001", "--host", "0.0.0.0", "--origin", "https://chat.io")
    environ = {"WSKIT_REDIS_URL": "redis://127.0.0.1:7", "WSKIT_DEMO_ORIGINS": "https://x.io"}
    config = demo_config(args, options, environ=environ)
    assert config.redis_url == "redis://127.0.0.1:7"
    # The flag wins over the environment; 0.0.0.0 is not an origin a browser sends.
    assert config.origins == ("http://127.0.0.1:9001", "http://localhost:9001", "https://chat.io")
    args, options = parse("--port", "9001", "--redis-url", "redis://h:1")
    config = demo_config(args, options, environ=environ)
    assert config.redis_url == "redis://h:1"
    assert config.origins is not None
    assert config.origins[-1] == "https://x.io"


def test_any_origin_and_unix_sockets() -> None:
    args, options = parse("--any-origin", "--history", "0")
    config = demo_config(args, options, environ={})
    assert config.origins is None
    assert config.history == 0
    args, options = parse("--uds", "/tmp/demo.sock")
    assert demo_config(args, options, environ={}).origins is None
    args, options = parse("--uds", "/tmp/demo.sock", "--origin", "https://proxy.io")
    assert demo_config(args, options, environ={}).origins == ("https://proxy.io",)


def test_ipv6_hosts_are_bracketed() -> None:
    args, options = parse("--host", "::1", "--port", "8080")
    config = demo_config(args, options, environ={})
    assert config.origins is not None
    assert "http://[::1]:8080" in config.origins


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("--origin", "https://x.io/path"), "not an origin"), (("--history", "-1"), "history")],
)
def test_bad_options(argv: tuple[str, ...], message: str) -> None:
    args, options = parse(*argv)
    with pytest.raises(ValueError, match=message):
        demo_config(args, options, environ={})


def test_workers_read_the_config_from_the_environment() -> None:
    config = DemoConfig(origins=("http://h:1",), redis_url="redis://r", history=7)
    import msgspec

    assert config_from_env({CONFIG_ENV: msgspec.json.encode(config).decode()}) == config
    assert config_from_env({}) == DemoConfig()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_status_line_shows_url_connections_rooms_and_rate() -> None:
    chat = ChatServer()
    stream, clock = io.StringIO(), FakeClock()
    line = StatusLine(stream, chat, clock=clock, width=lambda: 200, url="http://127.0.0.1:8000")
    assert line.render() == (
        "wskit demo http://127.0.0.1:8000 | 0 connections | 0 rooms | 0.0 msg/s"
        " | 0 messages in total"
    )
    chat.stats.connections, chat.stats.messages = 1, 10
    clock.now += 2
    assert "1 connection | 0 rooms | 5.0 msg/s | 10 messages in total" in line.render()
    for _ in range(10):  # the rate is averaged over the last few seconds only
        clock.now += 1
        line.render()
    assert "0.0 msg/s" in line.render()


def test_status_line_draws_in_place_and_fits_the_terminal() -> None:
    stream = io.StringIO()
    line = StatusLine(stream, ChatServer(), width=lambda: 30, url="http://127.0.0.1:8000")
    line.draw()
    text = stream.getvalue()
    assert text.startswith("\r\x1b[2K")
    assert len(text) - len("\r\x1b[2K") == 29
    assert text.endswith("…")
    line.clear()
    assert stream.getvalue().endswith("…\r\x1b[2K")
    line.clear()  # nothing shown: nothing written
    assert stream.getvalue().endswith("…\r\x1b[2K")
    line.close()
    assert not stream.getvalue().endswith("\n")
    line.draw()
    line.close()
    assert stream.getvalue().endswith("\n")


def test_stderr_clears_the_status_line_first() -> None:
    out, err = io.StringIO(), io.StringIO()
    line = StatusLine(out, ChatServer(), width=lambda: 80)
    line.draw()
    stderr = ClearingStream(err, line)
    assert stderr.write("") == 0
    assert out.getvalue().count("\r\x1b[2K") == 1  # the draw only
    stderr.write("a log record\n")
    stderr.flush()
    assert out.getvalue().endswith("\r\x1b[2K")
    assert err.getvalue() == "a log record\n"
    assert stderr.closed is False  # other attributes pass through


# --- serving (in this process) ------------------------------------------------------------


async def http_get(port: int, path: str) -> bytes:
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        response = b""
        with anyio.fail_after(10):
            while True:
                try:
                    response += await stream.receive()
                except anyio.EndOfStream:
                    return response


class Screen(io.StringIO):
    """A fake terminal that says when the status line has been drawn twice."""

    def __init__(self) -> None:
        super().__init__()
        self.redrawn = anyio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.getvalue().count("\x1b[2K") >= 2:
            self.redrawn.set()
        return written


async def test_the_status_line_is_drawn_while_the_demo_serves() -> None:
    port = free_port()
    config = DemoConfig.for_address("127.0.0.1", port)
    app = create_app(config)
    stream = Screen()
    line = StatusLine(stream, app.chat, width=lambda: 200)
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        serving = partial(serve_async, app, "127.0.0.1", port, stop=stop)
        listening = await tg.start(partial(serving, install_signal_handlers=False))
        assert listening.url == f"http://127.0.0.1:{port}"
        async with anyio.create_task_group() as drawing:
            drawing.start_soon(line.show, listening.url, 0.01)
            response = await http_get(port, "/")
            assert response.startswith(b"HTTP/1.1 200")
            with anyio.fail_after(10):
                await stream.redrawn.wait()
            drawing.cancel_scope.cancel()
        stop.set()
    assert f"wskit demo http://127.0.0.1:{port} | 0 connections" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


@pytest.mark.parametrize(
    ("server", "worker"),
    [("hypercorn", "asyncio"), ("hypercorn", "trio"), ("uvicorn", "auto")],
    ids=["hypercorn-asyncio", "hypercorn-trio", "uvicorn"],
)
def test_serve_demo_until_sigterm(
    server: str, worker: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import wskit.demo.cli as cli

    announced = threading.Event()
    original = cli._announce

    def announce(listening: Listening, backend: str) -> None:
        original(listening, backend)
        announced.set()  # the signal handlers are installed before the server is announced

    def terminate() -> None:
        if announced.wait(20):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli, "_announce", announce)
    port = free_port()
    options = ServerOptions(port=port, server=server, worker=worker, log_level="warning")  # type: ignore[arg-type]
    stderr = sys.stderr
    thread = threading.Thread(target=terminate)
    thread.start()
    assert serve_demo(DemoConfig.for_address("127.0.0.1", port), options, status=True) == 0
    thread.join()
    assert sys.stderr is stderr
    out = capsys.readouterr().out
    assert f"wskit listening on http://127.0.0.1:{port}\n" in out
    assert "(in-memory hub, one process)" in out
    assert "\r\x1b[2Kwskit demo" in out


def test_main_reports_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--origin", "not an origin"])
    assert exited.value.code == 2
    assert "not an origin" in capsys.readouterr().err


# hypercorn's Config.create_sockets() does not close the socket whose bind() failed.
@pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket:pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.parametrize("workers", [1, 2])
def test_a_busy_port_is_a_clear_error(
    workers: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import wskit.demo.app as module

    monkeypatch.setenv(CONFIG_ENV, "")  # restored afterwards: serve_demo sets it for workers
    monkeypatch.setattr(module, "_app", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        options = ServerOptions(port=port, workers=workers, log_level="warning")
        assert serve_demo(DemoConfig.for_address("127.0.0.1", port), options) == 1
        gc.collect()  # the leaked socket's warning, here under this test's filters
    err = capsys.readouterr().err
    assert f"wskit demo: error: cannot listen on 127.0.0.1:{port}: " in err
    assert "--port" in err
    assert ("each worker has its own rooms" in err) == (workers > 1)


def test_a_wildcard_address_announces_a_url_a_browser_can_open(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wskit.demo.cli import _announce

    _announce(Listening(("http://0.0.0.0:8000",), 8000), "in-memory hub")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "wskit listening on http://0.0.0.0:8000"
    assert "--origin" in out[1]
    assert out[2] == "wskit demo: open http://127.0.0.1:8000 in two browser windows (in-memory hub)"


def test_redis_without_coredis_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "coredis", None)  # as if the redis extra were missing
    config = DemoConfig(redis_url="redis://127.0.0.1:1")
    with pytest.raises(MissingExtra) as raised:
        serve_demo(config, ServerOptions(port=free_port()))
    assert raised.value.extra == "redis"
