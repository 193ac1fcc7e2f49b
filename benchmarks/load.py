"""Does one server process hold 5,000 WebSockets and deliver every broadcast, in order?

The server (``benchmarks/_load_app.py``) runs in its own process under ``python -m wskit run``,
on every server wskit offers that is installed (hypercorn, uvicorn, granian: ``--servers``),
one after the other and again for each repetition, so their figures come from one run;
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
command to the last delivery), p50/p99/max latency, the server's CPU time per delivery
(``/proc/<pid>/stat``, every server process) and its resident memory per connection
(``VmRSS`` from ``/proc/<pid>/status`` before and after the clients connect).

``--redis`` runs two server processes on one ``redis-server`` (started here, loopback only):
half of the clients on each, the publisher on the first, so half of the deliveries cross
Redis. Everything is bounded: connection counts, message counts, a deadline per phase and one
for the whole run; every process started here is stopped before exiting.

The summary compares the servers (medians over the runs) and prints issue 13's targets as
met/missed: uvicorn's server CPU per burst delivery <= 0.55x hypercorn's, nothing lost, and its
burst p99 latency <= 1.5x hypercorn's (see :mod:`benchmarks._load_compare`).

Usage::

    python -m benchmarks.load                  # 5,000 connections, one server process each
    python -m benchmarks.load --redis          # ... on two server processes through Redis
    python -m benchmarks.load --quick          # 200 connections, a few seconds (CI smoke)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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

from ._harness import environment, format_environment, parser, write_document
from ._load_app import Command, raise_fd_limit
from ._load_client import client_main
from ._load_compare import SERVER_NAMES, compare, installed_servers

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(rb"wskit listening on (\S+)")
QUESTION = (__doc__ or "").strip().splitlines()[0]


@dataclass
class Settings:
    """One run's parameters (see ``--help``)."""

    connections: int = 5000
    messages: int = 50
    rate: float = 2.0
    size: int = 64
    clients: int = 2
    redis: bool = False
    server: str = "hypercorn"
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
    server_cpu: float = 0.0
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
            "server_cpu_s": round(self.server_cpu, 3),
            "server_cpu_us_per_delivery": (
                round(self.server_cpu / self.received * 1e6, 2) if self.received else None
            ),
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
            f"**{self.settings.server}, {mode}** ({self.settings.worker} worker): "
            f"{self.held:,} of "
            f"{self.settings.connections:,} connections held, opened in "
            f"{self.connect_seconds:.1f} s; server RSS {self.rss_per_connection_kib:.1f} KiB "
            f"per connection ({sum(self.rss_before_kib) / 1024:.0f} MiB before, "
            f"{sum(self.rss_after_kib) / 1024:.0f} MiB after)\n",
            "| Phase | Messages | Deliveries | Lost | Out of order | Deliveries/s "
            "| p50 | p99 | max | Server CPU per delivery |",
            "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for p in self.phases:
            s = p.summary()
            lat = s["latency_ms"]
            lines.append(
                f"| {p.name} | {p.messages:,} | {p.received:,} | {p.lost:,} | {p.disorder:,} "
                f"| {s['deliveries_per_s'] or 0:,} | {lat['p50']:.1f} ms | {lat['p99']:.1f} ms "
                f"| {lat['max'] or 0:.1f} ms | {s['server_cpu_us_per_delivery'] or 0:.1f} µs |"
            )
        if self.error:
            lines.append(f"\nError: {self.error}")
        lines.append(f"\nAll checks passed: {'yes' if self.ok else 'NO'}")
        return "\n".join(lines)


# -- processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process ``pid`` has used, in seconds.

    Counted in clock ticks (10 ms on Linux): meaningful over a full run's 250,000 deliveries,
    coarse over a ``--quick`` run's 4,000.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid``, in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """``python -m wskit run benchmarks._load_app:app --server S`` in a subprocess."""

    def __init__(self, server: str, worker: str, env: dict[str, str]) -> None:
        self.server = server
        self.worker = worker
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self.stderr = bytearray()
        self._pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wskit", "run", "benchmarks._load_app:app",
            "--port", "0", "--server", self.server, "--worker", self.worker,
            "--log-level", "warning",
            "--drain-timeout", "5", "--graceful-timeout", "1",
            cwd=ROOT, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = self.process.stdout, self.process.stderr
        if stdout is None or stderr is None:  # pragma: no cover - both are pipes
            raise RuntimeError("the server's output is not piped")
        self._pumps.append(asyncio.create_task(self._pump(stderr, self.stderr)))
        out = bytearray()
        async with asyncio.timeout(30):
            while (match := LISTENING.search(out)) is None:
                line = await stdout.readline()
                if not line:
                    raise RuntimeError(f"the server did not start:\n{self.stderr.decode()}")
                out += line
        self.url = match.group(1).decode().replace("http://", "ws://", 1)
        self._pumps.append(asyncio.create_task(self._pump(stdout, bytearray())))

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


# -- the client processes (their code: benchmarks/_load_client.py) ---------------------------


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
        servers = [Server(settings.server, settings.worker, env)]
        if settings.redis:
            env["WSKIT_LOAD_REDIS"] = stack.enter_context(redis_server())
            env["WSKIT_LOAD_PREFIX"] = f"load-{uuid.uuid4().hex[:8]}:"
            servers.append(Server(settings.server, settings.worker, env))
        processes: list[multiprocessing.process.BaseProcess] = []
        try:
            async with asyncio.timeout(settings.deadline):
                await _drive(settings, report, servers, processes)
        except Exception as exc:
            report.error = f"{type(exc).__name__}: {exc}"
        finally:
            for process in processes:
                if report.error is not None:
                    process.terminate()  # it may wait for a phase that will never come
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
            cpu = sum(cpu_seconds(s.pid) for s in servers)
            began = time.monotonic_ns()
            command = Command(name, messages, rate, settings.size)
            await control.send(msgspec.json.encode(command).decode())  # a text frame: JSON
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
            phase.server_cpu = sum(cpu_seconds(s.pid) for s in servers) - cpu
            published = await asyncio.wait_for(control.recv(), 60)
            assert str(published).startswith("published"), published
            phase.seconds = (last - began) / 1e9
            phase.latencies_ms.sort()
            report.phases.append(phase)
    held = [await _recv(pipe, 120) for pipe in pipes]
    report.held = min(report.held, sum(message[1] for message in held))


# -- command line -----------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> tuple[Settings, list[str], int, Path | None]:
    """Parse the command line (the harness's common options are accepted too).

    Returns:
        The settings, the servers to run (in order), the repetitions and the JSON path.
    """
    p = parser(__doc__)  # the options every benchmark takes (-n, --quick, --json, ...)
    p.prog = "python -m benchmarks.load"
    p.add_argument(
        "--servers", default=None,
        help="comma-separated servers (default: every installed one of hypercorn, uvicorn, "
        "granian)",
    )  # fmt: skip
    p.add_argument(
        "--worker", choices=("asyncio", "uvloop", "trio"), default=None,
        help="hypercorn's worker (default: --backend); uvicorn and granian run on uvloop",
    )  # fmt: skip
    p.add_argument("--connections", type=int, default=None, help="clients (default 5,000)")
    p.add_argument("--messages", type=int, default=None, help="messages per phase (50)")
    p.add_argument("--rate", type=float, default=None, help="paced phase, messages/s (2)")
    p.add_argument("--size", type=int, default=64, help="padding bytes per message (64)")
    p.add_argument("--clients", type=int, default=None, help="client processes (2)")
    p.add_argument("--redis", action="store_true", help="two server processes on Redis")
    p.add_argument("--deadline", type=float, default=600.0, help="bound on the whole run (s)")
    args = p.parse_args(argv)
    quick = bool(args.quick)
    servers = args.servers.split(",") if args.servers else installed_servers()
    unknown = set(servers) - set(SERVER_NAMES)
    if unknown or not servers:
        p.error(f"--servers: choose among {', '.join(SERVER_NAMES)}")
    settings = Settings(
        connections=args.connections or (200 if quick else 5000),
        messages=args.messages or (20 if quick else 50),
        rate=args.rate or (40.0 if quick else 2.0),
        size=args.size,
        clients=args.clients or (1 if quick else 2),
        redis=args.redis,
        worker=args.worker or args.backend,
        deadline=args.deadline,
        quick=quick,
    )
    if not 1 <= settings.connections <= 20_000 or not 1 <= settings.messages <= 100_000:
        p.error("--connections must be 1..20000 and --messages 1..100000")
    if not 1 <= settings.clients <= 8 or settings.rate <= 0 or settings.size < 0:
        p.error("--clients must be 1..8, --rate positive, --size >= 0")
    repeat = 1 if args.repeat is None else args.repeat
    if not 1 <= repeat <= 10:
        p.error("-n must be 1..10")
    return settings, servers, repeat, args.json


def for_server(settings: Settings, server: str) -> Settings:
    """``settings`` for one server: hypercorn keeps its worker, the others run on uvloop."""
    worker = settings.worker if server == "hypercorn" else "uvloop"
    return dataclasses.replace(settings, server=server, worker=worker)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the load benchmark; exit status 1 if any check failed."""
    settings, servers, repeat, json_path = parse(argv)
    env = environment()
    print(f"# load: {QUESTION}\n")
    print(format_environment(env))
    mode = "redis, 2 servers" if settings.redis else "memory, 1 server"
    print(
        f"\n{settings.connections:,} connections ({settings.clients} client processes), "
        f"{mode}, on {', '.join(servers)}; phases: {settings.messages} messages paced at "
        f"{settings.rate:g}/s, then {settings.messages} in a burst; {settings.size} bytes of "
        "padding; the machine may be shared: compare within this run\n",
        flush=True,
    )
    reports: dict[str, list[Report]] = {server: [] for server in servers}
    for number in range(repeat):
        if repeat > 1:
            print(f"## run {number + 1} of {repeat}\n", flush=True)
        shift = number % len(servers)
        for server in servers[shift:] + servers[:shift]:  # interleaved: rotated each run
            report = asyncio.run(run(for_server(settings, server)))
            reports[server].append(report)
            print(report.table() + "\n", flush=True)
    table = "\n\n".join(r.table() for runs in reports.values() for r in runs)
    summary = compare(reports)
    print(summary)
    table += "\n\n" + summary
    ok = all(r.ok for runs in reports.values() for r in runs)
    if json_path is not None:
        first = next(iter(reports.values()))
        document = {
            "name": "load",
            "question": QUESTION,
            "unit": "delivery",
            "environment": env,
            "settings": {
                "quick": settings.quick,
                "repeat": repeat,
                "backend": settings.worker,
                "servers": servers,
            },
            "results": [],
            "notes": table,
            "load": first[-1].summary(),
            "runs": [r.summary() for runs in reports.values() for r in runs],
            "servers": {server: [r.summary() for r in runs] for server, runs in reports.items()},
        }
        write_document(json_path, document)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
