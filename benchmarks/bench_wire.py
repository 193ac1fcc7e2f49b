"""How much server CPU does one typed WebSocket round trip cost over a real socket?

Three contenders serve the same typed echo (a five-field ~150-byte chat message, see
``benchmarks/_data.py``): raw ASGI + msgspec (the baseline), wskit (``App`` routing,
``receive(Chat)`` + ``send_data``) and Starlette + pydantic v2. Each runs under hypercorn
(``python -m wskit run``, hypercorn's asyncio worker) and under uvicorn, every server in its
own SUBPROCESS on 127.0.0.1, all six started once and kept alive.

A minimal blocking client (raw socket, pre-built masked frames, no compression) makes
``N`` lockstep round trips on one connection (after a warm-up) and checks every echo. The
metric is the *server process'* CPU time, ``utime + stime`` from ``/proc/<pid>/stat``,
divided by ``N``: the client's own cost and the scheduler's latency are not counted. With
10 ms clock ticks, ``N`` is chosen so that one measurement takes about 2 s of server CPU.

Every repetition measures all six servers in a rotated order (interleaved); the table
shows the median over the repetitions (>= 9; 3 with ``--quick``), the minimum, the ratio
of the median to raw ASGI's under the same server (CPU cost: lower is better; ``1.10x``
means 10 % more server CPU per round trip) and the wall-clock time per round trip.
The target of issue 3: wskit <= 1.10x raw ASGI's server CPU per round trip.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from benchmarks._data import Chat, chat_json
from benchmarks._harness import environment, format_environment, write_document

ROOT = Path(__file__).resolve().parent.parent
APPS = {"raw ASGI + msgspec": "raw", "wskit": "wskit", "Starlette + pydantic": "starlette"}
BASELINE = "raw ASGI + msgspec"
SERVERS = ("hypercorn", "uvicorn")
TARGET = 1.10
_TICK = os.sysconf("SC_CLK_TCK")
_DISTINCT = 1000


# --- the servers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(server: str, app: str, port: int) -> list[str]:
    """The command line that serves ``benchmarks._wire_apps:<app>`` on ``port``."""
    target = f"benchmarks._wire_apps:{app}"
    if server == "hypercorn":
        return [sys.executable, "-m", "wskit", "run", target, "--port", str(port),
                "--log-level", "warning"]  # fmt: skip
    return [sys.executable, "-m", "uvicorn", target, "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--lifespan", "on"]  # fmt: skip


@dataclass
class Server:
    """One server subprocess serving one contender."""

    server: str
    label: str
    process: subprocess.Popen[bytes]
    port: int
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """``utime + stime`` of the server process, in seconds."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


def _wait_listening(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start in {deadline} s")


@contextmanager
def servers() -> Iterator[list[Server]]:
    """Start the six servers; stop them (SIGTERM, then SIGKILL) on exit."""
    started: list[Server] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for server in SERVERS:
            for label, app in APPS.items():
                port = _free_port()
                process = subprocess.Popen(
                    server_command(server, app, port),
                    cwd=ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
                started.append(Server(server, label, process, port))
        for entry in started:
            _wait_listening(entry.port, entry.process, 30.0)
        yield started
    finally:
        for entry in started:
            entry.process.terminate()
        for entry in started:
            try:
                entry.process.wait(15)
            except subprocess.TimeoutExpired:
                entry.process.kill()
                entry.process.wait()


# --- a minimal client ---------------------------------------------------------------------


def _frame(text: str) -> bytes:
    """A masked text frame; the all-zero mask key leaves the payload as is (RFC 6455 5.3)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:  # pragma: no cover - our messages are small
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return header + b"\x00\x00\x00\x00" + payload


class Client:
    """A blocking WebSocket client that does lockstep text round trips, and nothing else."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake failed: {head!r}")

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def round_trip(self, frame: bytes) -> bytes:
        """Send one pre-built frame and return the payload of the server's answer."""
        self.sock.sendall(frame)
        first, second = self._read(2)
        if first & 0x0F != 0x1:
            raise RuntimeError(f"expected a text frame, got opcode {first & 0x0F}")
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:  # pragma: no cover
            size = struct.unpack("!Q", self._read(8))[0]
        return self._read(size)

    def close(self) -> None:
        """Send a close frame (1000) and drop the connection."""
        with ExitStack() as stack:
            stack.callback(self.sock.close)
            self.sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")


def measure(entry: Server, frames: Sequence[bytes], expected: Sequence[Chat], n: int) -> None:
    """One measurement: ``n`` round trips after a warm-up; appends CPU and wall per trip."""
    decode = msgspec.json.Decoder(Chat).decode
    client = Client(entry.port)
    try:
        for index in range(200):  # warm-up: connection set-up and caches
            client.round_trip(frames[index % len(frames)])
        cpu0, wall0 = entry.cpu_seconds(), time.perf_counter()
        for index in range(n):
            reply = client.round_trip(frames[index % len(frames)])
            if index % 97 == 0 and decode(reply) != expected[index % len(frames)]:
                raise AssertionError(f"{entry.server}/{entry.label}: wrong echo {reply!r}")
        wall = time.perf_counter() - wall0
        cpu = entry.cpu_seconds() - cpu0
    finally:
        client.close()
    entry.cpu.append(cpu / n)
    entry.wall.append(wall / n)


# --- the run ------------------------------------------------------------------------------


def calibrate(
    entry: Server, frames: Sequence[bytes], expected: Sequence[Chat], target_cpu: float
) -> int:
    """Round trips per measurement so that the baseline burns about ``target_cpu`` seconds."""
    probe = 2000
    measure(entry, frames, expected, probe)
    per_trip = max(entry.cpu.pop(), 1e-6)
    entry.wall.pop()
    return max(probe, int(target_cpu / per_trip))


def rows(entries: Sequence[Server]) -> list[dict[str, Any]]:
    """One row per server and contender (the keys ``benchmarks._harness`` tables read)."""
    out = []
    for server in SERVERS:
        members = [e for e in entries if e.server == server]
        base = statistics.median(next(e for e in members if e.label == BASELINE).cpu)
        for entry in members:
            median = statistics.median(entry.cpu)
            out.append(
                {
                    "label": entry.label,
                    "group": server,
                    "baseline": entry.label == BASELINE,
                    "median_s": median,
                    "min_s": min(entry.cpu),
                    "ops_per_s": 1.0 / median if median else float("inf"),
                    "vs_baseline": base / median if median else float("inf"),
                    "cpu_ratio": median / base if base else float("inf"),
                    "wall_median_s": statistics.median(entry.wall),
                    "times_s": list(entry.cpu),
                }
            )
    return out


def table(table_rows: Sequence[dict[str, Any]]) -> str:
    """Markdown tables, one per server, cheapest first."""
    blocks = []
    for server in SERVERS:
        lines = [
            f"**{server}**\n",
            "| Contender | server CPU /rt (median) | min | vs. raw ASGI (CPU) | wall /rt |",
            "|:-----|-----:|-----:|-----:|-----:|",
        ]
        members = sorted(
            (r for r in table_rows if r["group"] == server), key=lambda r: r["median_s"]
        )
        for row in members:
            lines.append(
                f"| {row['label']} | {row['median_s'] * 1e6:.1f} µs | {row['min_s'] * 1e6:.1f} µs "
                f"| {row['cpu_ratio']:.2f}x | {row['wall_median_s'] * 1e6:.1f} µs |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def verdict(table_rows: Sequence[dict[str, Any]]) -> str:
    """The target check, one line per server."""
    lines = []
    for row in table_rows:
        if row["label"] == "wskit":
            ok = "meets" if row["cpu_ratio"] <= TARGET else "MISSES"
            lines.append(
                f"{row['group']}: wskit uses {row['cpu_ratio']:.2f}x raw ASGI's server CPU per "
                f"round trip ({ok} the <= {TARGET:.2f}x target)"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("-n", "--repeat", type=int, default=None, help="repetitions (default 9)")
    p.add_argument("--quick", action="store_true", help="a smoke run (3 short repetitions)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH")
    p.add_argument("--cpu", type=float, default=None, help="server CPU s per measurement")
    p.add_argument("--backend", default="asyncio", help=argparse.SUPPRESS)  # harness compat
    p.add_argument("--clock", default="cpu", help=argparse.SUPPRESS)  # always server CPU
    args = p.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 9)
    target_cpu = args.cpu or (0.2 if args.quick else 2.0)
    env = environment()
    question = (__doc__ or "").strip().splitlines()[0]
    print(f"# wire: {question}\n\n{format_environment(env)}\n")
    texts = chat_json(_DISTINCT)
    frames = [_frame(text) for text in texts]
    with servers() as entries:
        expected = [msgspec.json.decode(t, type=Chat) for t in texts]
        n = calibrate(entries[0], frames, expected, target_cpu)
        print(f"{len(entries)} servers, {repeat} interleaved repetitions of {n} round trips\n")
        for round_ in range(repeat):
            print(f"  repetition {round_ + 1}/{repeat}", end="\r", file=sys.stderr, flush=True)
            shift = round_ % len(entries)
            for entry in entries[shift:] + entries[:shift]:
                measure(entry, frames, expected, n)
        print(" " * 30, end="\r", file=sys.stderr, flush=True)
    table_rows = rows(entries)
    print(table(table_rows))
    notes = verdict(table_rows)
    print(f"\n{notes}")
    if args.json is not None:
        document = {
            "name": "wire",
            "question": question,
            "unit": "rt",
            "environment": env,
            "settings": {
                "quick": args.quick,
                "repeat": repeat,
                "round_trips": n,
                "backend": "asyncio",
                "metric": "server CPU s per round trip",
            },  # fmt: skip
            "results": table_rows,
            "notes": notes,
        }
        write_document(args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
