"""How much does the Hub cost per delivery when one message fans out to many connections?

**In memory.** ``N`` connections (1,000 and 10,000) share nothing but the message. Each
connection's ASGI ``send`` appends to its own small ``deque``: a server that never makes a
sender wait, so the numbers are the pure per-delivery cost of each layer. One operation is one
delivery (one ``websocket.send`` handed to one connection's ``send``). Contenders:

* **raw ASGI loop** (the baseline): ``for send in sends: await send(message)`` over one
  pre-built message dict: the floor any fan-out pays;
* **Hub** (``wskit.pubsub.Hub`` with ``wskit.WebSocket`` subscribers): ``publish_nowait`` of
  the chat message (a dict, JSON-encoded once by the hub) then ``await hub.flush()``, which
  returns when every connection has it. This includes waking the hub's leader task and the
  flush: two trips through the event loop per publish;
* **Hub, bursts of 10**: ten publishes, then one flush (a steady stream of messages);
* **Hub, protocol subscribers**: subscribers that only implement the hub's ``Subscriber``
  protocol (``send_frame``), so each delivery pays a coroutine frame more;
* **wskit send_frame loop**: ``await ws.send_frame(text)`` per connection, no hub;
* **Starlette send_text loop**: ``starlette.websockets.WebSocket.send_text`` per connection;
* **naive send_json loop**: Starlette's ``send_json(dict)`` per connection, which encodes the
  message again for every connection (stdlib ``json``).

Timings are interleaved (every round times every contender, in rotating order), the garbage
collector is off while a timing runs, and the tables give the median and minimum over rounds.
"vs. baseline" is a throughput ratio: ``0.80x`` is 80 % of the raw loop's deliveries per
second, i.e. a cost of 1.25x per delivery, the target of issue 5.

**Memory.** wskit-owned bytes per subscribed idle connection, from ``tracemalloc``: the hub's
share (``wskit/pubsub``) and the ``WebSocket`` object itself.

**Across Redis.** Two hubs on two ``RedisBackend`` connections to a ``redis-server`` this
script starts on 127.0.0.1 (loopback, in one process: the path crosses Redis exactly as between
processes). The receiving hub has ``S`` (100) protocol subscribers. Reported: deliveries per
second for a burst, and publish-to-receive latency (p50/p99) at a paced rate. The same figures
for Litestar's channels plugin on its Redis pub/sub backend (``redis`` client package), if
installed. ``--no-redis`` skips this part.

Tight loops flatter everyone: a real server's ``send`` costs microseconds, which shrinks every
ratio toward 1.00x.
"""

from __future__ import annotations

import gc
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
from starlette.websockets import WebSocket as StarletteWebSocket

from benchmarks._data import chat_dicts
from benchmarks._harness import (
    Case,
    Result,
    environment,
    format_environment,
    format_table,
    parser,
    rows,
    write_document,
)
from wskit.codecs import JSON
from wskit.connection import WebSocket
from wskit.exceptions import WouldBlock
from wskit.pubsub import Hub
from wskit.pubsub.backends.redis import RedisBackend

if TYPE_CHECKING:
    from wskit._types import ASGIApp

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Fanout = Callable[[], Awaitable[None]]
TARGET = 1.25  # the Hub's cost per delivery, at most this many times the raw loop's

CHAT = chat_dicts(1)[0]
TEXT = JSON.encode(CHAT).decode()
SCOPE: Message = {"type": "websocket", "path": "/", "headers": [], "query_string": b""}


# -- in-memory connections ----------------------------------------------------------------


def _sends(n: int) -> list[Send]:
    """One in-memory ASGI ``send`` per connection: append to a bounded deque, never wait."""
    sends: list[Send] = []
    for _ in range(n):
        sink: deque[Message] = deque(maxlen=64)

        async def send(message: Message, _append: Callable[[Message], None] = sink.append) -> None:
            _append(message)

        sends.append(send)
    return sends


async def _receive() -> Message:
    return {"type": "websocket.connect"}


class ProtocolSubscriber:
    """A connection that only has what the hub's ``Subscriber`` protocol asks for."""

    codec = JSON

    def __init__(self, send: Send) -> None:
        self._send = send

    async def send_frame(self, frame: str | bytes, /) -> None:
        if isinstance(frame, str):
            await self._send({"type": "websocket.send", "text": frame})
        else:
            await self._send({"type": "websocket.send", "bytes": frame})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Nothing to close."""

    def add_close_callback(self, callback: Callable[[object], object], /) -> None:
        """It never closes."""


async def _contenders(
    n: int, hub: Hub, fake_hub: Hub
) -> list[tuple[str, Callable[[], Awaitable[None]], int]]:
    sends = _sends(n)
    wss = []
    starlettes = []
    for send in sends:
        ws = WebSocket(dict(SCOPE), _receive, send)
        await ws.accept()
        await hub.subscribe(ws, "feed")
        wss.append(ws)
        sws = StarletteWebSocket(dict(SCOPE), _receive, send)
        await sws.accept()
        starlettes.append(sws)
        await fake_hub.subscribe(ProtocolSubscriber(send), "feed")
    message = {"type": "websocket.send", "text": TEXT}

    async def raw() -> None:
        for send in sends:
            await send(message)

    async def via_hub() -> None:
        hub.publish_nowait("feed", CHAT)
        await hub.flush()

    async def burst() -> None:
        for _ in range(10):
            hub.publish_nowait("feed", CHAT)
        await hub.flush()

    async def via_fake_hub() -> None:
        fake_hub.publish_nowait("feed", CHAT)
        await fake_hub.flush()

    async def send_frame_loop() -> None:
        for ws in wss:
            await ws.send_frame(TEXT)

    async def starlette_loop() -> None:
        for sws in starlettes:
            await sws.send_text(TEXT)

    async def naive_json_loop() -> None:
        for sws in starlettes:
            await sws.send_json(CHAT)

    return [
        ("raw ASGI loop", raw, 1),
        ("Hub", via_hub, 1),
        ("Hub, bursts of 10", burst, 10),
        ("Hub, protocol subscribers", via_fake_hub, 1),
        ("wskit send_frame loop", send_frame_loop, 1),
        ("Starlette send_text loop", starlette_loop, 1),
        ("naive send_json loop", naive_json_loop, 1),
    ]


async def _time(fn: Callable[[], Awaitable[None]], reps: int) -> float:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(reps):
            await fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


async def in_memory(sizes: Sequence[int], repeat: int, min_time: float) -> list[Result]:
    """Interleaved rounds of every contender, for each size."""
    results: list[Result] = []
    for n in sizes:
        async with Hub(max_queue=16) as hub, Hub(max_queue=16) as fake_hub:
            contenders = await _contenders(n, hub, fake_hub)
            current: list[tuple[Result, Fanout]] = []
            for label, fn, per_call in contenders:
                reps = 1
                while await _time(fn, reps) < min_time and reps < 1_000_000:
                    reps *= 2
                case = Case(label, fn, ops=n * per_call, group=f"N = {n:,} connections",
                            baseline=label == "raw ASGI loop", number=reps)  # fmt: skip
                current.append((Result(case, reps), fn))
            for round_ in range(repeat):
                print(f"  N={n}: round {round_ + 1}/{repeat}", end="\r", file=sys.stderr)
                shift = round_ % len(current)
                for result, fn in current[shift:] + current[:shift]:
                    total = await _time(fn, result.number)
                    result.times.append(total / (result.number * result.case.ops))
            results.extend(result for result, _ in current)
            stats = hub.statistics()
            assert (stats.dropped, stats.failed, stats.evicted) == (0, 0, 0), stats
    print(" " * 40, end="\r", file=sys.stderr)
    return results


async def memory_per_connection(n: int = 2_000) -> dict[str, float]:
    """wskit-owned bytes per subscribed idle connection (tracemalloc)."""
    async with Hub() as hub:
        sends = _sends(n)
        gc.collect()
        tracemalloc.start()
        try:
            first = tracemalloc.take_snapshot()
            wss = []
            for send in sends:
                ws = WebSocket(dict(SCOPE), _receive, send)
                await ws.accept()
                wss.append(ws)
            gc.collect()
            second = tracemalloc.take_snapshot()
            for ws in wss:
                await hub.subscribe(ws, "feed")
            await hub.publish("feed", CHAT)
            await hub.flush()
            gc.collect()
            third = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()

    def owned(snapshot: tracemalloc.Snapshot, pattern: str) -> int:
        traces = snapshot.filter_traces([tracemalloc.Filter(True, pattern)])
        return sum(stat.size for stat in traces.statistics("filename"))

    hub_bytes = owned(third, "*wskit/pubsub/*") - owned(second, "*wskit/pubsub/*")
    websocket_bytes = owned(second, "*wskit/*") - owned(first, "*wskit/*")
    return {
        "hub_bytes_per_connection": hub_bytes / n,
        "websocket_bytes_per_connection": websocket_bytes / n,
    }


# -- across Redis -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Redis:
    """A throw-away redis-server on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="wskit-bench-redis-")
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir.name],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


class _Counter(ProtocolSubscriber):
    """Counts deliveries; the first one of the group records latencies from the payload."""

    def __init__(self, state: dict[str, Any], timer: bool) -> None:
        self.state = state
        self.timer = timer

    async def send_frame(self, frame: str | bytes, /) -> None:
        self.state["count"] += 1
        if self.timer:
            sent = float(str(frame).split(":", 1)[1])
            self.state["latencies"].append(time.perf_counter() - sent)
        if self.state["count"] >= self.state["expected"]:
            self.state["done"].set()


async def wskit_redis(url: str, subscribers: int, burst: int, paced: int) -> dict[str, float]:
    """Deliveries per second and publish-to-receive latency through Redis, hub to hub."""
    one, two = RedisBackend(url, prefix="bench1:"), RedisBackend(url, prefix="bench1:")
    async with Hub(one) as sender, Hub(two, max_queue=burst) as receiver:
        with anyio.fail_after(10):
            await one.wait_connected()
            await two.wait_connected()
        state: dict[str, Any] = {"count": 0, "latencies": [], "expected": 0}
        for i in range(subscribers):
            await receiver.subscribe(_Counter(state, timer=i == 0), "feed")

        async def run(count: int, pace: float) -> float:
            state.update(count=0, latencies=[], expected=count * subscribers, done=anyio.Event())
            start = time.perf_counter()
            for seq in range(count):
                payload = f"{seq}:{time.perf_counter()!r}"
                if pace:
                    await sender.publish("feed", payload)
                    await anyio.sleep(pace)
                    continue
                try:  # a burst: queued and pipelined, as Litestar's publish does
                    sender.publish_nowait("feed", payload)
                except WouldBlock:
                    await sender.publish("feed", payload)
            with anyio.fail_after(60):
                await state["done"].wait()
            return time.perf_counter() - start

        elapsed = await run(burst, 0)
        throughput = burst * subscribers / elapsed
        await run(paced, 0.001)
        return {"deliveries_per_s": throughput, "messages_per_s": burst / elapsed,
                **_percentiles(state["latencies"])}  # fmt: skip


async def litestar_redis(url: str, subscribers: int, burst: int, paced: int) -> dict[str, float]:
    """The same through Litestar's ChannelsPlugin on RedisChannelsPubSubBackend."""
    from litestar import Litestar
    from litestar.channels import ChannelsPlugin
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend
    from redis.asyncio import Redis

    from wskit.testing import TestClient

    def plugin() -> tuple[ChannelsPlugin, Any]:
        client = Redis.from_url(url)
        backend = RedisChannelsPubSubBackend(redis=client)
        return ChannelsPlugin(backend=backend, channels=["feed"]), client

    sender, sender_client = plugin()
    receiver, receiver_client = plugin()
    state: dict[str, Any] = {"count": 0, "latencies": [], "expected": 0, "done": anyio.Event()}

    async def on_event_for(timer: bool) -> Callable[[bytes], Awaitable[None]]:
        async def on_event(data: bytes) -> None:
            state["count"] += 1
            if timer:
                sent = float(data.decode().split(":", 1)[1])
                state["latencies"].append(time.perf_counter() - sent)
            if state["count"] >= state["expected"]:
                state["done"].set()

        return on_event

    async with (
        TestClient(cast("ASGIApp", Litestar(plugins=[sender]))),
        TestClient(cast("ASGIApp", Litestar(plugins=[receiver]))),
    ):
        subs = [await receiver.subscribe("feed") for _ in range(subscribers)]
        async with anyio.create_task_group() as tg:
            for index, sub in enumerate(subs):
                handler = await on_event_for(index == 0)
                tg.start_soon(_consume, sub, handler)
            await anyio.sleep(0.5)  # the backend's SUBSCRIBE goes out from a task of its own

            async def run(count: int, pace: float) -> float:
                state.update(count=0, latencies=[], expected=count * subscribers,
                             done=anyio.Event())  # fmt: skip
                start = time.perf_counter()
                for seq in range(count):
                    sender.publish(f"{seq}:{time.perf_counter()!r}", "feed")
                    await anyio.sleep(pace)
                with anyio.fail_after(60):
                    await state["done"].wait()
                return time.perf_counter() - start

            elapsed = await run(burst, 0)
            throughput = burst * subscribers / elapsed
            await run(paced, 0.001)
            tg.cancel_scope.cancel()
        for sub in subs:
            await receiver.unsubscribe(sub)
    await sender_client.aclose()
    await receiver_client.aclose()
    return {"deliveries_per_s": throughput, "messages_per_s": burst / elapsed,
            **_percentiles(state["latencies"])}  # fmt: skip


async def _consume(sub: Any, handler: Callable[[bytes], Awaitable[None]]) -> None:
    async for event in sub.iter_events():
        await handler(event)


def across_redis(quick: bool) -> dict[str, Any]:
    """Run the Redis figures; returns ``{contender: figures}`` or a reason it could not run."""
    subscribers, burst, paced = (100, 500, 200) if quick else (100, 5_000, 2_000)
    try:
        server = _Redis()
    except (FileNotFoundError, RuntimeError) as exc:
        return {"skipped": str(exc)}
    out: dict[str, Any] = {"subscribers": subscribers, "burst": burst, "paced": paced}
    try:
        out["wskit Hub + RedisBackend (coredis)"] = anyio.run(
            wskit_redis, server.url, subscribers, burst, paced
        )
        try:
            out["Litestar channels + Redis pub/sub"] = anyio.run(
                litestar_redis, server.url, subscribers, burst, paced
            )
        except ImportError as exc:
            out["Litestar channels + Redis pub/sub"] = {"skipped": f"not installed: {exc.name}"}
    finally:
        server.stop()
    return out


# -- report -------------------------------------------------------------------------------


def targets(results: Sequence[Result]) -> str:
    lines = []
    for result in results:
        if result.case.label in ("Hub", "Hub, bursts of 10"):
            base = next(r for r in results if r.case.group == result.case.group and r.case.baseline)
            cost = result.median / base.median
            verdict = "met" if cost <= TARGET else "MISSED"
            lines.append(f"target {result.case.group}, {result.case.label}: {cost:.2f}x the raw "
                         f"loop's cost per delivery (<= {TARGET:.2f}x: {verdict})")  # fmt: skip
    return "\n".join(lines)


def format_redis(figures: dict[str, Any]) -> str:
    if "skipped" in figures:
        return f"Across Redis: skipped ({figures['skipped']})"
    lines = [
        f"**Across Redis** ({figures['subscribers']} subscribers on the receiving side; burst of "
        f"{figures['burst']} messages; latency over {figures['paced']} messages, 1 ms apart)\n",
        "| Contender | deliveries/s (burst) | messages/s | p50 latency | p99 latency |",
        "|:--|--:|--:|--:|--:|",
    ]
    for name, value in figures.items():
        if not isinstance(value, dict):
            continue
        if "skipped" in value:
            lines.append(f"| {name} | skipped: {value['skipped']} | | | |")
            continue
        lines.append(
            f"| {name} | {value['deliveries_per_s']:,.0f} | {value['messages_per_s']:,.0f} "
            f"| {value['p50_ms']:.2f} ms | {value['p99_ms']:.2f} ms |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    p = parser(__doc__)
    p.add_argument("--no-redis", action="store_true", help="skip the figures across Redis")
    args = p.parse_args(argv)
    quick = bool(args.quick)
    repeat = args.repeat or (3 if quick else 7)
    min_time = args.min_time or (0.02 if quick else 0.2)
    sizes = (1_000,) if quick else (1_000, 10_000)
    env = environment()
    print(f"# broadcast: {__doc__.strip().splitlines()[0]}\n")
    print(format_environment(env))
    print(f"\n{repeat} interleaved rounds, backend {args.backend}{', quick' if quick else ''}\n")
    results = anyio.run(in_memory, sizes, repeat, min_time, backend=args.backend)
    table_rows = rows(results)
    print(format_table(table_rows, "delivery"))
    notes = targets(results)
    print(f"\n{notes}")
    memory = anyio.run(memory_per_connection, backend=args.backend)
    print(
        f"\nwskit-owned memory per subscribed idle connection: "
        f"{memory['hub_bytes_per_connection']:,.0f} bytes in the hub, "
        f"{memory['websocket_bytes_per_connection']:,.0f} bytes for the WebSocket object"
    )
    redis_figures: dict[str, Any] = {"skipped": "--no-redis"}
    if not args.no_redis:
        redis_figures = across_redis(quick)
    print(f"\n{format_redis(redis_figures)}")
    if args.json is not None:
        document = {
            "name": "broadcast",
            "question": __doc__.strip().splitlines()[0],
            "unit": "delivery",
            "environment": env,
            "settings": {
                "quick": quick,
                "repeat": repeat,
                "min_time": min_time,
                "backend": args.backend,
                "clock": "wall",
            },  # fmt: skip
            "results": table_rows,
            "notes": notes,
            "memory": memory,
            "redis": redis_figures,
        }
        write_document(args.json, document)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv[1:]))
