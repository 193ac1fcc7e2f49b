"""How much server CPU does one typed WebSocket round trip cost over a real socket, per server?

Three contenders serve the same typed echo (a five-field ~150-byte chat message, see
``benchmarks/_data.py``): raw ASGI + msgspec (the baseline), wskit (``App`` routing,
``receive(Chat)`` + ``send_data``) and Starlette + pydantic v2. Each runs under every server
``wskit run --server`` offers that is installed: hypercorn (its asyncio worker, wskit's
default), uvicorn (websockets' sans-I/O protocol on uvloop) and granian (on uvloop), every
server in its own SUBPROCESS on 127.0.0.1, all started once and kept alive. Two more wskit
servers (hypercorn and uvicorn with ``--per-message-deflate``) measure what compression costs.

A minimal blocking client (raw socket, pre-built masked frames, permessage-deflate only for the
compressed rows) makes ``N`` lockstep round trips on one connection (after a warm-up) and
checks every echo. The metric is the *server process'* CPU time, ``utime + stime`` from
``/proc/<pid>/stat``, divided by ``N``: the client's own cost and the scheduler's latency are
not counted. With 10 ms clock ticks, ``N`` is chosen so that one measurement takes about 2 s of
server CPU on hypercorn.

Every repetition measures every server in a rotated order (interleaved); the tables show the
median over the repetitions (>= 9; 3 with ``--quick``), the minimum, the ratio of the median
to the group's baseline (CPU cost: lower is better; ``1.10x`` means 10 % more server CPU per
round trip) and the wall-clock time per round trip. The targets (issue 13), as ratios within
the run: wskit <= 1.05x raw ASGI on every server; wskit on uvicorn <= 0.45x wskit on hypercorn.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
import zlib
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
#: The servers, as ``wskit run`` flags, and the package each needs.
SERVERS: dict[str, tuple[list[str], str]] = {
    "hypercorn": (["--server", "hypercorn", "--worker", "asyncio"], "hypercorn"),
    "uvicorn": (["--server", "uvicorn", "--worker", "uvloop"], "uvicorn"),
    "granian": (["--server", "granian", "--worker", "uvloop"], "granian"),
}
#: The servers whose permessage-deflate is measured (granian has none).
DEFLATE_SERVERS = ("hypercorn", "uvicorn")
DEFLATE_OFF, DEFLATE_ON = "wskit, no compression", "wskit, permessage-deflate"
TARGET_OVERHEAD = 1.05
TARGET_UVICORN = 0.45
_TICK = os.sysconf("SC_CLK_TCK")
_DISTINCT = 1000


def installed_servers() -> list[str]:
    """The servers whose package is installed, in :data:`SERVERS` order."""
    return [name for name, (_, package) in SERVERS.items() if importlib.util.find_spec(package)]


# --- the servers ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(server: str, app: str, port: int, *extra: str) -> list[str]:
    """The command line that serves ``benchmarks._wire_apps:<app>`` on ``port``."""
    return [
        sys.executable, "-m", "wskit", "run", f"benchmarks._wire_apps:{app}",
        "--port", str(port), "--log-level", "warning", *SERVERS[server][0], *extra,
    ]  # fmt: skip


@dataclass
class Server:
    """One server subprocess serving one contender, measured by one kind of client."""

    group: str
    label: str
    server: str
    process: subprocess.Popen[bytes]
    port: int
    deflate: bool = False
    baseline: bool = False
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
def servers(names: Sequence[str]) -> Iterator[list[Server]]:
    """Start every contender on every server in ``names``; stop them all on exit."""
    started: list[Server] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(group: str, label: str, server: str, app: str, *extra: str, **kw: Any) -> Server:
        port = _free_port()
        process = subprocess.Popen(
            server_command(server, app, port, *extra),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        entry = Server(group, label, server, process, port, **kw)
        started.append(entry)
        return entry

    try:
        for server in names:
            for label, app in APPS.items():
                start(server, label, server, app, baseline=label == BASELINE)
        for server in (name for name in DEFLATE_SERVERS if name in names):
            group = f"{server}, compression"
            start(group, DEFLATE_OFF, server, "wskit", baseline=True)
            start(group, DEFLATE_ON, server, "wskit", "--per-message-deflate", deflate=True)
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


def _frame(payload: bytes, *, compressed: bool = False) -> bytes:
    """A masked text frame; the all-zero mask key leaves the payload as is (RFC 6455 5.3)."""
    first = 0xC1 if compressed else 0x81  # RSV1 marks a compressed message (RFC 7692 6)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", first, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, size)
    else:  # pragma: no cover - our messages are small
        header = struct.pack("!BBQ", first, 0x80 | 127, size)
    return header + b"\x00\x00\x00\x00" + payload


class Client:
    """A blocking WebSocket client that does lockstep text round trips, and nothing else.

    With ``deflate`` it negotiates permessage-deflate (RFC 7692, context takeover both ways)
    and compresses each message itself; the server's CPU is what is measured, not this.
    """

    def __init__(self, port: int, *, deflate: bool = False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        extension = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
        self.sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{extension}\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"handshake failed: {head!r}")
        self.deflate = deflate
        if deflate:
            if b"permessage-deflate" not in head.lower():
                raise RuntimeError("the server did not negotiate permessage-deflate")
            self.compressor = zlib.compressobj(wbits=-15)
            self.decompressor = zlib.decompressobj(wbits=-15)

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

    def frame(self, text: str) -> bytes:
        """The frame of one message (for deflate, built at send time: context takeover)."""
        if not self.deflate:
            return _frame(text.encode())
        data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        return _frame(data[:-4], compressed=True)  # minus the 00 00 ff ff tail (RFC 7692 7.2.1)

    def round_trip(self, frame: bytes) -> bytes:
        """Send one frame and return the payload of the server's answer."""
        self.sock.sendall(frame)
        first, second = self._read(2)
        if first & 0x0F != 0x1:
            raise RuntimeError(f"expected a text frame, got opcode {first & 0x0F}")
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:  # pragma: no cover
            size = struct.unpack("!Q", self._read(8))[0]
        payload = self._read(size)
        if first & 0x40:  # compressed
            payload = self.decompressor.decompress(payload + b"\x00\x00\xff\xff")
        return payload

    def close(self) -> None:
        """Send a close frame (1000) and drop the connection."""
        with ExitStack() as stack:
            stack.callback(self.sock.close)
            self.sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")


def measure(entry: Server, texts: Sequence[str], expected: Sequence[Chat], n: int) -> None:
    """One measurement: ``n`` round trips after a warm-up; appends CPU and wall per trip."""
    decode = msgspec.json.Decoder(Chat).decode
    client = Client(entry.port, deflate=entry.deflate)
    frames = None if entry.deflate else [client.frame(text) for text in texts]
    try:
        for index in range(200):  # warm-up: connection set-up and caches
            text = texts[index % len(texts)]
            client.round_trip(client.frame(text) if frames is None else frames[index % len(texts)])
        cpu0, wall0 = entry.cpu_seconds(), time.perf_counter()
        for index in range(n):
            at = index % len(texts)
            reply = client.round_trip(client.frame(texts[at]) if frames is None else frames[at])
            if index % 97 == 0 and decode(reply) != expected[at]:
                raise AssertionError(f"{entry.group}/{entry.label}: wrong echo {reply!r}")
        wall = time.perf_counter() - wall0
        cpu = entry.cpu_seconds() - cpu0
    finally:
        client.close()
    entry.cpu.append(cpu / n)
    entry.wall.append(wall / n)


# --- the run ------------------------------------------------------------------------------


def calibrate(
    entry: Server, texts: Sequence[str], expected: Sequence[Chat], target_cpu: float
) -> int:
    """Round trips per measurement so that the baseline burns about ``target_cpu`` seconds."""
    probe = 2000
    measure(entry, texts, expected, probe)
    per_trip = max(entry.cpu.pop(), 1e-6)
    entry.wall.pop()
    return max(probe, int(target_cpu / per_trip))


def rows(entries: Sequence[Server]) -> list[dict[str, Any]]:
    """One row per server and contender (the keys ``benchmarks._harness`` tables read)."""
    out = []
    groups = list(dict.fromkeys(entry.group for entry in entries))
    for group in groups:
        members = [e for e in entries if e.group == group]
        base = statistics.median(next(e for e in members if e.baseline).cpu)
        for entry in members:
            median = statistics.median(entry.cpu)
            out.append(
                {
                    "label": entry.label,
                    "group": group,
                    "server": entry.server,
                    "baseline": entry.baseline,
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
    """Markdown tables, one per group, cheapest first."""
    blocks = []
    for group in dict.fromkeys(row["group"] for row in table_rows):
        lines = [
            f"**{group}**\n",
            "| Contender | server CPU /rt (median) | min | vs. baseline (CPU) | wall /rt |",
            "|:-----|-----:|-----:|-----:|-----:|",
        ]
        members = sorted(
            (r for r in table_rows if r["group"] == group), key=lambda r: r["median_s"]
        )
        for row in members:
            lines.append(
                f"| {row['label']} | {row['median_s'] * 1e6:.1f} µs | {row['min_s'] * 1e6:.1f} µs "
                f"| {row['cpu_ratio']:.2f}x | {row['wall_median_s'] * 1e6:.1f} µs |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _ok(met: bool) -> str:
    return "met" if met else "MISSED"


def verdict(table_rows: Sequence[dict[str, Any]]) -> str:
    """The targets, met or missed, and the servers side by side."""

    def cpu(group: str, label: str) -> float | None:
        for row in table_rows:
            if row["group"] == group and row["label"] == label:
                return float(row["median_s"])
        return None

    lines = []
    for row in table_rows:
        if row["label"] == "wskit" and row["group"] in SERVERS:
            ratio = row["cpu_ratio"]
            lines.append(
                f"{row['group']}: wskit uses {ratio:.2f}x raw ASGI's server CPU per round trip "
                f"(target <= {TARGET_OVERHEAD:.2f}x: {_ok(ratio <= TARGET_OVERHEAD)})"
            )
    hypercorn = cpu("hypercorn", "wskit")
    for server in ("uvicorn", "granian"):
        other = cpu(server, "wskit")
        raw, raw_other = cpu("hypercorn", BASELINE), cpu(server, BASELINE)
        if hypercorn is None or other is None or raw is None or raw_other is None:
            continue
        ratio = other / hypercorn
        line = (
            f"{server} vs hypercorn, server CPU per round trip: wskit {ratio:.2f}x, "
            f"raw ASGI {raw_other / raw:.2f}x"
        )
        if server == "uvicorn":
            line += f" (target <= {TARGET_UVICORN:.2f}x: {_ok(ratio <= TARGET_UVICORN)})"
        lines.append(line)
    for server in DEFLATE_SERVERS:
        off, on = (
            cpu(f"{server}, compression", DEFLATE_OFF),
            cpu(f"{server}, compression", DEFLATE_ON),
        )
        if off is not None and on is not None:
            lines.append(
                f"{server}: permessage-deflate costs {on / off:.2f}x the server CPU of an "
                f"uncompressed ~150-byte round trip ({(on - off) * 1e6:+.1f} µs)"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("-n", "--repeat", type=int, default=None, help="repetitions (default 9)")
    p.add_argument("--quick", action="store_true", help="a smoke run (3 short repetitions)")
    p.add_argument("--json", type=Path, default=None, metavar="PATH")
    p.add_argument("--cpu", type=float, default=None, help="server CPU s per measurement")
    p.add_argument(
        "--servers", default=None, help="comma-separated servers (default: every installed one)"
    )
    p.add_argument("--backend", default="asyncio", help=argparse.SUPPRESS)  # harness compat
    p.add_argument("--clock", default="cpu", help=argparse.SUPPRESS)  # always server CPU
    args = p.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 9)
    target_cpu = args.cpu or (0.2 if args.quick else 2.0)
    names = args.servers.split(",") if args.servers else installed_servers()
    unknown = set(names) - set(SERVERS)
    if unknown:
        p.error(f"unknown servers: {', '.join(sorted(unknown))}")
    env = environment()
    question = (__doc__ or "").strip().splitlines()[0]
    print(f"# wire: {question}\n\n{format_environment(env)}\n")
    texts = chat_json(_DISTINCT)
    with servers(names) as entries:
        expected = [msgspec.json.decode(t, type=Chat) for t in texts]
        n = calibrate(entries[0], texts, expected, target_cpu)
        print(
            f"{len(entries)} servers ({', '.join(names)}), {repeat} interleaved repetitions "
            f"of {n} round trips; the machine may be shared: read the ratios\n"
        )
        for round_ in range(repeat):
            print(f"  repetition {round_ + 1}/{repeat}", end="\r", file=sys.stderr, flush=True)
            shift = round_ % len(entries)
            for entry in entries[shift:] + entries[:shift]:
                measure(entry, texts, expected, n)
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
                "servers": names,
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
