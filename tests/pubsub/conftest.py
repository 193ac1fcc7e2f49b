"""Fixtures of the pub/sub tests: a backend factory over every backend, real redis-servers.

``backend_kind`` parametrizes the contract tests over ``memory`` (always), ``redis`` (a real
``redis-server`` started here on a free port) and ``redis-sharded`` (a one-node Redis Cluster,
for ``SSUBSCRIBE``/``SPUBLISH``). Without the binary the Redis variants skip, except under
``CI=true`` where they fail. :class:`RedisProcess` can be killed and restarted on the same
address, for the restart tests.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests._services import free_port, require_binary, timeout
from wskit.pubsub import Backend, MemoryBackend, MemoryBroker
from wskit.pubsub.backends.redis import RedisBackend

_prefixes = itertools.count()


def _die_with_us() -> None:  # pragma: no cover - runs in the child, between fork and exec
    """Linux: SIGTERM the server if the test process dies without stopping it (a killed run)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _command(sock: socket.socket, *args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    sock.sendall(b"".join(parts))
    return sock.recv(65536)


class RedisProcess:
    """A throw-away ``redis-server`` that tests can kill and start again on the same port.

    Args:
        directory: Where the server keeps its log (and ``nodes.conf`` in cluster mode).
        cluster: Run a one-node Redis Cluster owning all 16384 slots.
        unix: Listen on a unix socket instead of TCP.
    """

    def __init__(self, directory: Path, *, cluster: bool = False, unix: bool = False) -> None:
        self.binary = require_binary("redis-server")
        self.directory = directory
        self.cluster = cluster
        self.port = free_port()
        self.bus_port = free_port()  # the cluster bus (default port + 10000 may not exist)
        self.socket_path = str(directory / "redis.sock") if unix else None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return f"unix://{self.socket_path}"
        return f"redis://127.0.0.1:{self.port}"

    def _address(self) -> tuple[int, Any]:
        if self.socket_path is not None:
            return socket.AF_UNIX, self.socket_path
        return socket.AF_INET, ("127.0.0.1", self.port)

    def start(self) -> None:
        """Start the server and wait until it answers (and, as a cluster, is ``ok``)."""
        where = ["--port", str(self.port), "--bind", "127.0.0.1"]
        if self.socket_path is not None:
            where = ["--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        extra = []
        if self.cluster:
            extra = [
                "--cluster-enabled", "yes", "--cluster-port", str(self.bus_port),
                "--cluster-config-file", f"nodes-{self.port}.conf",
            ]  # fmt: skip
        self.starts += 1
        log = self.directory / f"redis-{self.starts}.log"
        command = [
            self.binary, *where, "--save", "", "--appendonly", "no",
            "--dir", str(self.directory), "--logfile", str(log), *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, preexec_fn=_die_with_us
        )
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        family, address = self._address()
        deadline = time.monotonic() + timeout(15)
        assigned = False
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise RuntimeError(f"redis-server exited: {text}")
            try:
                with socket.socket(family, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1.0)
                    sock.connect(address)
                    if not _command(sock, "PING").startswith(b"+PONG"):
                        raise OSError("not ready")
                    if not self.cluster:
                        return
                    if not assigned:
                        reply = _command(sock, "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
                        assigned = reply.startswith(b"+OK") or b"busy" in reply.lower()
                    if b"cluster_state:ok" in _command(sock, "CLUSTER", "INFO"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server at {self.url} did not become ready")

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout(10))
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout(10))
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def running_redis(*, cluster: bool = False, unix: bool = False) -> Iterator[RedisProcess]:
    """A started :class:`RedisProcess` in a temporary directory, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="wskit-redis-") as tmp:
        server = RedisProcess(Path(tmp), cluster=cluster, unix=unix)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A dedicated redis-server for one test (it may kill and restart it)."""
    with running_redis() as server:
        yield server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[Callable[[bool], str]]:
    """``redis_url(sharded)``: the URL of a redis-server shared by the contract tests.

    One plain server (unix socket) and one one-node Redis Cluster owning all slots (for sharded
    pub/sub), each started on first use and stopped at the end of the session; prefixes keep
    the tests apart.
    """
    servers: dict[bool, RedisProcess] = {}
    with contextlib.ExitStack() as stack:

        def url(sharded: bool) -> str:
            if sharded not in servers:
                servers[sharded] = stack.enter_context(
                    running_redis(cluster=sharded, unix=not sharded)
                )
            return servers[sharded].url

        yield url


def unique_prefix() -> str:
    """A channel prefix no other test uses."""
    return f"t{os.getpid()}-{next(_prefixes)}:"


BackendFactory = Callable[..., Backend]


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-sharded", marks=pytest.mark.redis),
    ]
)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make_backend(backend_kind: str, redis_url: Callable[[bool], str]) -> BackendFactory:
    """Build backends that reach each other (one broker, or one Redis and one prefix)."""
    if backend_kind == "memory":
        broker = MemoryBroker()

        def memory(**options: Any) -> Backend:
            return MemoryBackend(broker, **options)

        return memory
    sharded = backend_kind == "redis-sharded"
    url = redis_url(sharded)
    prefix = unique_prefix()

    def redis(**options: Any) -> Backend:
        return RedisBackend(url, prefix=prefix, sharded=sharded, **options)

    return redis


async def wait_connected(*backends: Backend, seconds: float = 10.0) -> None:
    """Wait until every backend's link is up."""
    with anyio.fail_after(timeout(seconds)):
        for backend in backends:
            if isinstance(backend, RedisBackend):
                await backend.wait_connected()
