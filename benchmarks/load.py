"""Does one hypercorn process hold 5,000 WebSockets and deliver every broadcast, in order?

The server (``benchmarks/_load_app.py``) runs in its own process under ``python -m wskit run``;
the clients are ``websockets`` asyncio connections spread over one or more client processes.
Every client subscribes to one Hub topic. The driver then asks the server to publish, in two
phases, sequence-numbered messages that carry their publish time (``time.monotonic_ns()``,
one clock for every process of the machine):

* ``paced``: ``--rate`` messages per second, the latency a live feed sees;
* ``burst``: as fast as the hub takes them, the throughput ceiling (latency then includes the
  queueing of the whole burst).

Every client checks that it got **every** message of every phase, in order, exactly once; a
missing, duplicated or out-of-order message fails the run (exit status 1). Reported: the
connections held, deliveries per second (deliveries divided by the time from the publish
command to the last delivery), p50/p99/max latency, and the server's resident memory per
connection (``VmRSS`` from ``/proc/<pid>/status`` before and after the clients connect).

``--redis`` runs two server processes on one ``redis-server`` (started here, loopback only):
half of the clients on each, the publisher on the first, so half of the deliveries cross
Redis. Everything is bounded: connection counts, message counts, a deadline per phase and one
for the whole run; every process started here is stopped before exiting.

Usage::

    python -m benchmarks.load                  # 5,000 connections, one server process
    python -m benchmarks.load --redis          # ... on two server processes through Redis
    python -m benchmarks.load --quick          # 200 connections, a few seconds (CI smoke)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from ._harness import environment, format_environment
from ._load_app import Command, raise_fd_limit

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(rb"wskit listening on (\S+)")
QUESTION = (__doc__ or "").strip().splitlines()[0]


@dataclass
class Settings:
    """One run's parameters (see ``--help``)."""

    connections: int = 5000
    messages: int = 100
    rate: float = 20.0
    size: int = 64
    clients: int = 2
    redis: bool = False
    worker: str = "asyncio"
    deadline: float = 600.0
    quick: bool = False

    @property
    def phases(self) -> list[tuple[str, int, float]]:
        """``(name, messages, rate)`` of each phase, in order."""
        return [("paced", self.messages, self.rate), ("burst", self.messages, 0.0)]

    @property
    def phase_timeout(self) -> float:
        """How long clients wait for one phase before reporting what is missing."""
        return self.messages / self.rate + 60.0


@dataclass
class PhaseResult:
    """One phase, summed over every client process."""

    name: str
    messages: int
    expected: int
    received: int = 0
    disorder: int = 0
    timed_out: bool = False
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def ok(self) -> bool:
        return self.received == self.expected and self.disorder == 0 and not self.timed_out

    def percentile(self, q: float) -> float:
        values = self.latencies_ms
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]

    def summary(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "messages": self.messages,
            "deliveries_expected": self.expected,
            "deliveries": self.received,
            "lost": self.lost,
            "out_of_order_or_duplicate": self.disorder,
            "timed_out": self.timed_out,
            "seconds": round(self.seconds, 3),
            "deliveries_per_s": round(self.received / self.seconds) if self.seconds else None,
            "latency_ms": {
                "p50": round(self.percentile(0.50), 2),
                "p99": round(self.percentile(0.99), 2),
                "max": round(self.latencies_ms[-1], 2) if self.latencies_ms else None,
            },
        }


@dataclass
class Report:
    """What a run measured."""

    settings: Settings
    held: int = 0
    rss_before_kib: list[int] = field(default_factory=list)
    rss_after_kib: list[int] = field(default_factory=list)
    connect_seconds: float = 0.0
    phases: list[PhaseResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.held == self.settings.connections
            and len(self.phases) == len(self.settings.phases)
            and all(p.ok for p in self.phases)
        )

    @property
    def rss_per_connection_kib(self) -> float:
        grown = sum(self.rss_after_kib) - sum(self.rss_before_kib)
        return grown / self.settings.connections if self.settings.connections else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "settings": asdict(self.settings),
            "connections_held": self.held,
            "connect_seconds": round(self.connect_seconds, 2),
            "server_rss_kib": {"before": self.rss_before_kib, "after": self.rss_after_kib},
            "server_rss_per_connection_kib": round(self.rss_per_connection_kib, 1),
            "phases": [p.summary() for p in self.phases],
        }

    def table(self) -> str:
        mode = "Redis, 2 server processes" if self.settings.redis else "memory, 1 server process"
        lines = [
            f"**{mode}** ({self.settings.worker} worker): {self.held:,} of "
            f"{self.settings.connections:,} connections held, opened in "
            f"{self.connect_seconds:.1f} s; server RSS {self.rss_per_connection_kib:.1f} KiB "
            f"per connection ({sum(self.rss_before_kib) / 1024:.0f} MiB before, "
            f"{sum(self.rss_after_kib) / 1024:.0f} MiB after)\n",
            "| Phase | Messages | Deliveries | Lost | Out of order | Deliveries/s "
            "| p50 | p99 | max |",
            "|:--|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for p in self.phases:
            s = p.summary()
            lat = s["latency_ms"]
            lines.append(
                f"| {p.name} | {p.messages:,} | {p.received:,} | {p.lost:,} | {p.disorder:,} "
                f"| {s['deliveries_per_s'] or 0:,} | {lat['p50']:.1f} ms | {lat['p99']:.1f} ms "
                f"| {lat['max'] or 0:.1f} ms |"
            )
        if self.error:
            lines.append(f"\nError: {self.error}")
        lines.append(f"\nAll checks passed: {'yes' if self.ok else 'NO'}")
        return "\n".join(lines)


# -- processes ------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """``python -m wskit run benchmarks._load_app:app`` in a subprocess."""

    def __init__(self, worker: str, env: dict[str, str]) -> None:
        self.worker = worker
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self.stderr = bytearray()
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wskit", "run", "benchmarks._load_app:app",
            "--port", "0", "--worker", self.worker, "--log-level", "warning",
            "--drain-timeout", "5", "--graceful-timeout", "1",
            cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None and self.process.stderr is not None
        self._pumps.append(asyncio.create_task(self._pump(self.process.stderr, self.stderr)))
        out = bytearray()
        async with asyncio.timeout(30):
            while (match := LISTENING.search(out)) is None:
                line = await self.process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the server did not start:\n{self.stderr.decode()}")
                out += line
        self.url = match.group(1).decode().replace("http://", "ws://", 1)
        self._pumps.append(asyncio.create_task(self._pump(self.process.stdout, bytearray())))

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, sink: bytearray) -> None:
        while chunk := await stream.read(65536):
            sink.extend(chunk[-65536:])
            del sink[:-65536]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
        for pump in self._pumps:
            pump.cancel()


@contextlib.contextmanager
def redis_server() -> Any:
    """A throw-away ``redis-server`` on a free loopback port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--redis needs the redis-server binary on PATH")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="wskit-load-redis-") as tmp:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp, "--maxclients", "1000",
             "--client-output-buffer-limit", "pubsub 0 0 0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                        probe.sendall(b"PING\r\n")
                        if probe.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


# -- the client processes -------------------------------------------------------------------


def client_main(pipe: Connection, urls: list[str], count: int, settings: Settings) -> None:
    """A client process: ``count`` connections over ``urls``; reports through ``pipe``."""
    raise_fd_limit()
    try:
        asyncio.run(_client(pipe, urls, count, settings))
    except BaseException as exc:  # report, never hang the driver
        pipe.send(("error", repr(exc)))
        raise


async def _client(pipe: Connection, urls: list[str], count: int, settings: Settings) -> None:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    phases = {name: messages for name, messages, _ in settings.phases}
    received = dict.fromkeys(phases, 0)
    disorder = dict.fromkeys(phases, 0)
    last_at = dict.fromkeys(phases, 0)
    latencies = {name: array("f") for name in phases}
    done = {name: asyncio.Event() for name in phases}
    remaining = {name: messages * count for name, messages in phases.items()}
    closed_early = 0
    opening = asyncio.Semaphore(64)
    conns: list[ClientConnection] = []

    async def open_one(index: int) -> None:
        async with opening:
            ws = await connect(
                urls[index % len(urls)], compression=None, ping_interval=None,
                open_timeout=120, close_timeout=10, max_queue=64, proxy=None,
            )  # fmt: skip
            if await ws.recv() != "ready":
                raise RuntimeError("the server did not say ready")
            conns.append(ws)

    async def read(ws: ClientConnection) -> None:
        nonlocal closed_early
        last: dict[str, int] = {}
        try:
            async for message in ws:
                now = time.monotonic_ns()
                phase, seq_text, stamp, _ = str(message).split(" ", 3)
                seq = int(seq_text)
                if seq != last.get(phase, -1) + 1:
                    disorder[phase] += 1
                last[phase] = seq
                latencies[phase].append((now - int(stamp)) / 1e6)
                received[phase] += 1
                last_at[phase] = now
                remaining[phase] -= 1
                if remaining[phase] == 0:
                    done[phase].set()
        except ConnectionClosed:
            pass
        if not ws.close_code:  # pragma: no cover - the server dropped us
            closed_early += 1

    async with asyncio.TaskGroup() as tg:
        for index in range(count):
            tg.create_task(open_one(index))
    pipe.send(("connected", len(conns)))
    readers = [asyncio.create_task(read(ws)) for ws in conns]
    for name in phases:
        timed_out = False
        try:
            async with asyncio.timeout(settings.phase_timeout):
                await done[name].wait()
        except TimeoutError:
            timed_out = True
        pipe.send(
            ("phase", name, received[name], disorder[name], timed_out, last_at[name],
             latencies[name].tobytes())
        )  # fmt: skip
    held = len(conns) - closed_early
    async with asyncio.TaskGroup() as tg:
        for ws in conns:
            tg.create_task(ws.close())
    await asyncio.gather(*readers, return_exceptions=True)
    pipe.send(("closed", held))


async def _recv(pipe: Connection, timeout: float) -> tuple[Any, ...]:
    """The next report of a client process, within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, pipe.poll, timeout):
        raise TimeoutError("a client process did not report in time")
    message: tuple[Any, ...] = pipe.recv()
    if message[0] == "error":
        raise RuntimeError(f"a client process failed: {message[1]}")
    return message


# -- the driver -----------------------------------------------------------------------------


async def run(settings: Settings) -> Report:
    """Run the whole benchmark once and return what it measured."""
    report = Report(settings)
    raise_fd_limit()
    with contextlib.ExitStack() as stack:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        servers = [Server(settings.worker, env)]
        if settings.redis:
            env["WSKIT_LOAD_REDIS"] = stack.enter_context(redis_server())
            env["WSKIT_LOAD_PREFIX"] = f"load-{uuid.uuid4().hex[:8]}:"
            servers.append(Server(settings.worker, env))
        processes: list[multiprocessing.process.BaseProcess] = []
        try:
            async with asyncio.timeout(settings.deadline):
                await _drive(settings, report, servers, processes)
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
        finally:
            for process in processes:
                process.join(timeout=15)
                if process.is_alive():
                    process.kill()
            for server in servers:
                await server.stop()
    return report


async def _drive(
    settings: Settings,
    report: Report,
    servers: list[Server],
    processes: list[multiprocessing.process.BaseProcess],
) -> None:
    from websockets.asyncio.client import connect

    for server in servers:
        await server.start()
    await asyncio.sleep(0.5)
    report.rss_before_kib = [rss_kib(s.pid) for s in servers]
    urls = [s.url + "/sub" for s in servers]

    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    share, extra = divmod(settings.connections, settings.clients)
    for index in range(settings.clients):
        ours, theirs = context.Pipe()
        count = share + (1 if index < extra else 0)
        process = context.Process(
            target=client_main, args=(theirs, urls, count, settings), daemon=True
        )
        process.start()
        processes.append(process)
        pipes.append(ours)

    start = time.monotonic()
    connected = [await _recv(pipe, 300) for pipe in pipes]
    report.connect_seconds = time.monotonic() - start
    report.held = sum(message[1] for message in connected)
    await asyncio.sleep(1.0)  # let the server settle before measuring
    report.rss_after_kib = [rss_kib(s.pid) for s in servers]

    async with connect(servers[0].url + "/control", proxy=None, ping_interval=None) as control:
        for name, messages, rate in settings.phases:
            phase = PhaseResult(name, messages, messages * settings.connections)
            began = time.monotonic_ns()
            await control.send(msgspec.json.encode(Command(name, messages, rate, settings.size)))
            last = began
            for pipe in pipes:
                _, _, got, disorder, timed_out, last_at, raw = await _recv(
                    pipe, settings.phase_timeout + 30
                )
                phase.received += got
                phase.disorder += disorder
                phase.timed_out |= timed_out
                last = max(last, last_at)
                values = array("f")
                values.frombytes(raw)
                phase.latencies_ms.extend(values)
            published = await asyncio.wait_for(control.recv(), 60)
            assert str(published).startswith("published"), published
            phase.seconds = (last - began) / 1e9
            phase.latencies_ms.sort()
            report.phases.append(phase)
    held = [await _recv(pipe, 120) for pipe in pipes]
    report.held = min(report.held, sum(message[1] for message in held))


# -- command line -----------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    """Parse the command line (the harness's common options are accepted too)."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=QUESTION)
    p.add_argument("--quick", action="store_true", help="200 connections, a few seconds")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results here")
    p.add_argument("--backend", choices=("asyncio", "trio", "uvloop"), default="asyncio",
                   help="the server's event loop (hypercorn worker)")  # fmt: skip
    p.add_argument("-n", "--repeat", type=int, default=None, help="ignored (one run)")
    p.add_argument("--min-time", type=float, default=None, help="ignored")
    p.add_argument("-k", dest="select", default=None, help="ignored")
    p.add_argument("--connections", type=int, default=None, help="clients (default 5,000)")
    p.add_argument("--messages", type=int, default=None, help="messages per phase (100)")
    p.add_argument("--rate", type=float, default=None, help="paced phase, messages/s (20)")
    p.add_argument("--size", type=int, default=64, help="padding bytes per message (64)")
    p.add_argument("--clients", type=int, default=None, help="client processes (2)")
    p.add_argument("--redis", action="store_true", help="two server processes on Redis")
    p.add_argument("--deadline", type=float, default=600.0, help="bound on the whole run (s)")
    args = p.parse_args(argv)
    quick = bool(args.quick)
    settings = Settings(
        connections=args.connections or (200 if quick else 5000),
        messages=args.messages or (20 if quick else 100),
        rate=args.rate or (40.0 if quick else 20.0),
        size=args.size,
        clients=args.clients or (1 if quick else 2),
        redis=args.redis,
        worker=args.backend,
        deadline=args.deadline,
        quick=quick,
    )
    if not 1 <= settings.connections <= 20_000 or not 1 <= settings.messages <= 100_000:
        p.error("--connections must be 1..20000 and --messages 1..100000")
    if not 1 <= settings.clients <= 8 or settings.rate <= 0 or settings.size < 0:
        p.error("--clients must be 1..8, --rate positive, --size >= 0")
    return settings, args.json


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load benchmark; exit status 1 if any check failed."""
    settings, json_path = parse(argv)
    env = environment()
    print(f"# load: {QUESTION}\n")
    print(format_environment(env))
    mode = "redis, 2 servers" if settings.redis else "memory, 1 server"
    print(
        f"\n{settings.connections:,} connections ({settings.clients} client processes), "
        f"{mode}, {settings.worker} worker; phases: {settings.messages} messages paced at "
        f"{settings.rate:g}/s, then {settings.messages} in a burst; {settings.size} bytes of "
        "padding\n",
        flush=True,
    )
    report = asyncio.run(run(settings))
    table = report.table()
    print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "name": "load",
            "question": QUESTION,
            "unit": "delivery",
            "environment": env,
            "settings": {"quick": settings.quick, "repeat": 1, "backend": settings.worker},
            "results": [],
            "notes": table,
            "load": report.summary(),
        }
        json_path.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nwrote {json_path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
