"""Real services for tests: servers (in a thread or a subprocess), redis-server.

Every helper binds 127.0.0.1 (a free port, or a unix socket in a temp dir), waits until the
service answers, and stops it on exit, with a deadline on every wait (scaled by
``WSKIT_TESTS_TIMEOUT_FACTOR``). A missing binary skips the test with a reason, except
under CI (``CI=true``), where it fails: CI must run everything.

- :func:`running_server`: hypercorn, uvicorn or granian via ``wskit.serve_async`` in a thread
  with its own event loop (``worker="asyncio"``, ``"uvloop"`` or ``"trio"``), so the test's
  own loop (for example the ``websockets`` asyncio client) is free. Fast;
  ``await server.shutdown()`` drains.
- :func:`server_process`: ``python -m wskit run module:app --server S`` in a subprocess, for
  signal, drain and multi-worker tests; keeps stdout/stderr for assertions.
- :func:`uvicorn_server`: an app under plain uvicorn (its own config, not wskit's) in a
  thread, for cross-checks.
- :func:`redis_server`: a throw-away ``redis-server`` (no persistence), yields its URL.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

from wskit.serving import Listening, serve_async

if TYPE_CHECKING:
    from anyio.abc import Process

    from wskit._types import ASGIApp

__all__ = [
    "REPO_ROOT",
    "RawClient",
    "RunningServer",
    "ServerProcess",
    "free_port",
    "in_ci",
    "raw_ws_connect",
    "redis_server",
    "require_binary",
    "running_server",
    "server_process",
    "timeout",
    "unavailable",
    "uvicorn_server",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"wskit listening on (\S+)")


def in_ci() -> bool:
    """Whether the tests run under CI (``CI=true``), where missing services are failures."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def timeout(seconds: float) -> float:
    """Scale a deadline by ``WSKIT_TESTS_TIMEOUT_FACTOR`` (slow or loaded machines)."""
    return seconds * float(os.environ.get("WSKIT_TESTS_TIMEOUT_FACTOR", "1"))


def unavailable(reason: str, fix: str = "install it in .ci/run") -> NoReturn:
    """Skip the test for ``reason``; under CI, where everything must run, fail it instead."""
    if in_ci():
        pytest.fail(f"{reason}, and CI=true: {fix}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Return the path of ``name``; skip the test if it is missing (fail under CI)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name!r} is not installed (on PATH); it is needed to run this test")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer binding port 0 where the API allows)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ws_url(base: str, path: str = "/") -> str:
    """``http://h:p`` + ``/path`` -> ``ws://h:p/path``."""
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + path


# --- hypercorn in a thread ------------------------------------------------------------


@dataclass
class RunningServer:
    """A server started by :func:`running_server` or :func:`uvicorn_server`."""

    url: str
    port: int | None
    _stop: Callable[[], None]
    _thread: threading.Thread
    _errors: list[BaseException] = field(default_factory=list)

    def ws(self, path: str = "/") -> str:
        """The ``ws://`` URL of ``path``."""
        return ws_url(self.url, path)

    async def shutdown(self, deadline: float = 15.0) -> None:
        """Drain and stop the server (as SIGTERM would) and wait until it has stopped."""
        if self._thread.is_alive():
            self._stop()
            await anyio.to_thread.run_sync(self._thread.join, timeout(deadline))
        if self._thread.is_alive():
            raise TimeoutError(f"the server at {self.url} did not stop in {deadline} s")
        if self._errors:
            raise self._errors[0]


@asynccontextmanager
async def running_server(
    app: ASGIApp,
    *,
    worker: str = "asyncio",
    server: str = "hypercorn",
    **options: Any,
) -> AsyncIterator[RunningServer]:
    """Serve ``app`` on 127.0.0.1 (free port) in a thread; yield the server.

    ``server`` is hypercorn, uvicorn or granian; ``worker`` the thread's event loop (asyncio,
    uvloop, or trio for hypercorn). ``options`` go to :func:`wskit.serve_async`
    (``max_message_size=``, ``uds=`` ...). On exit the server is drained and stopped and any
    exception it raised is re-raised.
    """
    if worker not in ("asyncio", "uvloop", "trio"):
        raise ValueError(f"worker must be 'asyncio', 'uvloop' or 'trio', not {worker!r}")
    options = {"server": server, **options}
    ready: queue.Queue[Listening | BaseException] = queue.Queue()
    handles: dict[str, Any] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        stop = anyio.Event()
        handles["token"] = anyio.lowlevel.current_token()
        handles["stop"] = stop
        try:
            async with anyio.create_task_group() as tg:
                listening = await tg.start(
                    _serve_no_signals, app, options, stop, name="wskit test server"
                )
                ready.put(listening)
        except BaseException as exc:
            ready.put(exc)
            raise

    def run() -> None:
        try:
            if worker == "uvloop":
                anyio.run(main, backend="asyncio", backend_options={"use_uvloop": True})
            else:
                anyio.run(main, backend=worker)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"{server}-{worker}", daemon=True)
    thread.start()
    result = await anyio.to_thread.run_sync(ready.get, True, timeout(15))
    if isinstance(result, BaseException):
        await anyio.to_thread.run_sync(thread.join, timeout(5))
        raise result

    def stop() -> None:
        with suppress(RuntimeError):  # the loop already ended
            anyio.from_thread.run_sync(handles["stop"].set, token=handles["token"])

    running = RunningServer(result.url, result.port, stop, thread, errors)
    try:
        yield running
    finally:
        with anyio.CancelScope(shield=True):
            await running.shutdown()


async def _serve_no_signals(
    app: ASGIApp,
    options: Mapping[str, Any],
    stop: anyio.Event,
    *,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
) -> None:
    options = {"host": "127.0.0.1", "port": 0, "graceful_timeout": 5.0, **options}
    await serve_async(
        app, stop=stop, install_signal_handlers=False, task_status=task_status, **options
    )


# --- uvicorn in a thread --------------------------------------------------------------


@asynccontextmanager
async def uvicorn_server(app: ASGIApp, **config: Any) -> AsyncIterator[RunningServer]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a pre-bound free port) in a thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="auto", **config))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="uvicorn", daemon=True)
    thread.start()
    with anyio.fail_after(timeout(15)):
        while not server.started:  # uvicorn offers no readiness callback
            if not thread.is_alive():
                raise errors[0] if errors else RuntimeError("uvicorn exited during startup")
            await anyio.sleep(0.01)

    def stop() -> None:
        server.should_exit = True

    running = RunningServer(f"http://127.0.0.1:{port}", port, stop, thread, errors)
    try:
        yield running
    finally:
        with anyio.CancelScope(shield=True):
            await running.shutdown()
        sock.close()


# --- python -m wskit run in a subprocess ----------------------------------------------


class _Output:
    """A subprocess stream collected in the background, with a wait for a pattern."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ended = False
        self._changed = anyio.Event()

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def pump(self, stream: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in stream:
                self.data.extend(chunk)
                self._notify()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self.ended = True
            self._notify()

    async def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first match of ``pattern``, or ``None`` if the stream ended without one."""
        while True:
            match = pattern.search(self.text())
            if match is not None or self.ended:
                return match
            await self._changed.wait()


@dataclass
class ServerProcess:
    """A ``python -m wskit run`` subprocess started by :func:`server_process`."""

    process: Process
    url: str
    _stdout: _Output
    _stderr: _Output

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.url.rsplit(":", 1)[1])

    def ws(self, path: str = "/") -> str:
        """The ``ws://`` URL of ``path``."""
        return ws_url(self.url, path)

    def stdout_text(self) -> str:
        """Everything the server wrote to stdout so far."""
        return self._stdout.text()

    def stderr_text(self) -> str:
        """Everything the server wrote to stderr so far."""
        return self._stderr.text()

    async def wait_stderr(self, pattern: str, deadline: float = 10.0) -> re.Match[str] | None:
        """Wait until stderr matches ``pattern`` (a regex); ``None`` if the stream ended."""
        with anyio.fail_after(timeout(deadline)):
            return await self._stderr.wait_for(re.compile(pattern))

    async def wait_stderr_growth(self, before: str, pattern: str, deadline: float = 10.0) -> str:
        """Wait until what stderr added after ``before`` matches ``pattern``; return it all."""
        regex = re.compile(pattern)
        with anyio.fail_after(timeout(deadline)):
            while regex.search(added := self.stderr_text()[len(before) :]) is None:
                if self._stderr.ended:
                    break
                await anyio.sleep(0.05)
        return added

    def send_signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` (SIGTERM, SIGINT, ...) to the server process."""
        self.process.send_signal(signum)

    async def wait(self, deadline: float = 20.0) -> int:
        """Wait for the process to exit (and its output to be read); return the status."""
        with anyio.fail_after(timeout(deadline)):
            status = await self.process.wait()
            await self._stdout.wait_for(re.compile(r"(?!)"))  # until EOF
            await self._stderr.wait_for(re.compile(r"(?!)"))
            return status


@asynccontextmanager
async def server_process(
    app_path: str,
    *,
    worker: str = "asyncio",
    server: str = "hypercorn",
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 20.0,
) -> AsyncIterator[ServerProcess]:
    """Run ``python -m wskit run APP --port 0 --server S --worker W ARGS`` from the repository
    root.

    Yields once the server printed ``wskit listening on URL``. On exit: SIGTERM if still
    running, then SIGKILL after a deadline.
    """
    command = [sys.executable, "-m", "wskit", "run", app_path, "--port", "0"]
    command += ["--server", server, "--worker", worker]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
    )
    process = await anyio.open_process([*command, *args], cwd=REPO_ROOT, env=full_env)
    stdout, stderr = _Output(), _Output()
    try:
        async with anyio.create_task_group() as tg:
            assert process.stdout is not None
            assert process.stderr is not None
            tg.start_soon(stdout.pump, process.stdout)
            tg.start_soon(stderr.pump, process.stderr)
            match = None
            with anyio.move_on_after(timeout(ready_timeout)):
                match = await stdout.wait_for(LISTENING)
            if match is None:
                await _terminate(process)
                raise RuntimeError(
                    f"the server did not start (exit status {process.returncode}):\n"
                    + stderr.text()
                )
            yield ServerProcess(process, match.group(1), stdout, stderr)
            with anyio.CancelScope(shield=True):
                await _terminate(process)
    finally:
        with anyio.CancelScope(shield=True):
            await _terminate(process)
            await process.aclose()


async def _terminate(process: Process) -> None:
    if process.returncode is not None:
        return
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with anyio.move_on_after(timeout(15)):
        await process.wait()
        return
    with suppress(ProcessLookupError):  # pragma: no cover - a hung server
        process.kill()
    await process.wait()


# --- a minimal WebSocket client for both event loops ---------------------------------


class RawClient:
    """A tiny WebSocket client on anyio + wsproto: runs on asyncio *and* trio.

    The ``websockets`` client is asyncio-only; this one lets a test on either anyio
    backend talk to a server in its own event loop. Text/binary messages and the close
    handshake only (no extensions, no fragmentation on send).
    """

    def __init__(self, stream: anyio.abc.ByteStream, connection: Any) -> None:
        self._stream = stream
        self._conn = connection
        self._pending: list[str | bytes] = []
        self._parts: list[str | bytes] = []
        #: The close code and reason the server sent, once it closed.
        self.close_code: int | None = None
        self.close_reason: str | None = None

    async def send(self, data: str | bytes) -> None:
        """Send one text (``str``) or binary (``bytes``) message."""
        from wsproto.events import BytesMessage, TextMessage

        event = TextMessage(data) if isinstance(data, str) else BytesMessage(data)
        await self._stream.send(self._conn.send(event))

    async def receive(self, deadline: float = 10.0) -> str | bytes:
        """The next message; raises ``EOFError`` once the server closed."""
        with anyio.fail_after(timeout(deadline)):
            while not self._pending:
                if self.close_code is not None:
                    raise EOFError(f"closed by the server: {self.close_code}")
                await self._pump()
        return self._pending.pop(0)

    async def wait_closed(self, deadline: float = 10.0) -> tuple[int, str]:
        """Read (and drop messages) until the server closes; return its code and reason."""
        with anyio.fail_after(timeout(deadline)):
            while self.close_code is None:
                await self._pump()
        return self.close_code, self.close_reason or ""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake and wait for the server's answer."""
        from wsproto.events import CloseConnection

        if self.close_code is None:
            await self._stream.send(self._conn.send(CloseConnection(code, reason)))
            with anyio.move_on_after(timeout(5)):
                while self.close_code is None:
                    await self._pump()
        await self._stream.aclose()

    async def _pump(self) -> None:
        from wsproto.events import CloseConnection, Message, Ping

        try:
            data: bytes | None = await self._stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            data = None
        self._conn.receive_data(data)
        for event in self._conn.events():
            if isinstance(event, Message):
                self._parts.append(event.data)
                if event.message_finished:
                    joined = "".join(p for p in self._parts if isinstance(p, str))
                    data_bytes = b"".join(p for p in self._parts if isinstance(p, bytes))
                    self._pending.append(joined if isinstance(event.data, str) else data_bytes)
                    self._parts.clear()
            elif isinstance(event, Ping):
                await self._stream.send(self._conn.send(event.response()))
            elif isinstance(event, CloseConnection):
                self.close_code, self.close_reason = event.code, event.reason
                with suppress(Exception):  # answer the close if the transport is still up
                    await self._stream.send(self._conn.send(event.response()))
        if data is None and self.close_code is None:
            self.close_code, self.close_reason = 1006, ""


@asynccontextmanager
async def raw_ws_connect(
    url: str, *, uds: str | None = None, deadline: float = 10.0
) -> AsyncIterator[RawClient]:
    """Connect a :class:`RawClient` to ``ws://host:port/path`` (through ``uds`` if given).

    Raises:
        ConnectionRefusedError: If the server refused the handshake (``.args[1]`` is the
            HTTP status).
    """
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, RejectConnection, Request

    netloc, _, rest = url.split("://", 1)[1].partition("/")
    host, target = netloc, "/" + rest
    stream: anyio.abc.ByteStream
    with anyio.fail_after(timeout(deadline)):
        if uds is not None:
            stream = await anyio.connect_unix(uds)
        else:
            address, _, port = netloc.rpartition(":")
            stream = await anyio.connect_tcp(address.strip("[]"), int(port))
        conn = WSConnection(ConnectionType.CLIENT)
        await stream.send(conn.send(Request(host=host, target=target)))
        client = RawClient(stream, conn)
        while True:
            conn.receive_data(await stream.receive())
            event = next(conn.events(), None)
            if isinstance(event, AcceptConnection):
                break
            if isinstance(event, RejectConnection):
                await stream.aclose()
                raise ConnectionRefusedError("handshake refused", event.status_code)
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True):
            await client.close()


# --- redis-server ---------------------------------------------------------------------


@contextmanager
def redis_server(*, unix_socket: bool = False, args: Sequence[str] = ()) -> Iterator[str]:
    """Start a throw-away ``redis-server`` and yield its URL; stop it on exit.

    No persistence (``--save "" --appendonly no``). TCP on a free port of 127.0.0.1 by
    default (``redis://127.0.0.1:PORT``), or a unix socket in a temp dir
    (``unix:///tmp/.../redis.sock``). Skips when the binary is missing, fails under CI.
    """
    binary = require_binary("redis-server")
    with tempfile.TemporaryDirectory(prefix="wskit-redis-") as tmp:
        log, command = "", [binary]
        address: str | tuple[str, int]
        for attempt in range(3):  # a free port can be taken between probe and bind
            if unix_socket:
                path = os.path.join(tmp, "redis.sock")
                where = ["--port", "0", "--unixsocket", path, "--unixsocketperm", "700"]
                url, address = f"unix://{path}", path
            else:
                port = free_port()
                where = ["--port", str(port), "--bind", "127.0.0.1"]
                url, address = f"redis://127.0.0.1:{port}", ("127.0.0.1", port)
            log = os.path.join(tmp, f"redis-{attempt}.log")
            command = [
                binary, *where, "--save", "", "--appendonly", "no", "--dir", tmp,
                "--logfile", log, *args,
            ]  # fmt: skip
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd=tmp
            )
            try:
                if _redis_ready(process, address):
                    yield url
                    return
            finally:
                process.terminate()
                try:
                    process.wait(timeout(10))
                except subprocess.TimeoutExpired:  # pragma: no cover
                    process.kill()
                    process.wait()
            if unix_socket or attempt == 2:
                break
        output = Path(log).read_text(errors="replace") if log and os.path.exists(log) else ""
        raise RuntimeError(f"redis-server did not start: {' '.join(command)}\n{output}")


def _redis_ready(process: subprocess.Popen[bytes], address: str | tuple[str, int]) -> bool:
    """Wait for redis to answer PING (it logs before it accepts, so ask it directly)."""
    deadline = time.monotonic() + timeout(10)
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(1.0)
                sock.connect(address)
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            time.sleep(0.02)  # not listening yet
    return False
