"""How fast and how lossy is RedisBackend on a real Redis Cluster, against one plain Redis?

Two questions, one run:

**Throughput and latency.** Three ``RedisBackend`` s, each starting from a different node of a
local cluster (3 masters, 3 replicas, ``cluster-node-timeout`` 1 s, ``sharded=True``), in one
process: one publishes bursts to three topics that live on three different masters, the other
two are subscribed to all three. The same load runs against one plain ``redis-server``
(``PUBLISH``), in interleaved rounds. Deliveries/s counts messages received by the
subscribers; latency is publish to receipt (p50/p99). Lost messages are counted: with nothing
failing there must be none.

**Loss windows.** A publisher sends one message every 2 ms to a topic on one master, a
subscriber on another node reads it, and a fault hits that master: SIGKILL (its replica is
promoted), a migration of the topic's slot, SIGSTOP for 3 s, a restart of the whole cluster.
The loss window is the time between the first and the last message the subscriber missed,
whether its publish was refused (``BackendUnavailable``, counted as "refused") or Redis took it
and never delivered it (counted as "lost"). Median and worst over the runs.

The goals (issue 15) are printed as met/missed: cluster throughput >= 0.8x single Redis;
failover loss window <= 2x ``cluster-node-timeout`` + the reconnect backoff bound; zero
duplicates; zero loss when nothing fails. The three backends share one process and one event
loop here, so the throughput figures compare the two set-ups rather than predict a server's.
"""

from __future__ import annotations

import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

from benchmarks._harness import environment, format_environment, parser, write_document
from tests._redis_cluster import (
    LocalCluster,
    Node,
    command,
    free_ports,
    hash_slot,
    topics_on_distinct_masters,
)
from wskit.exceptions import BackendUnavailable, WouldBlock
from wskit.pubsub.backends.redis import RedisBackend

NODE_TIMEOUT = 1.0
BACKOFF_MAX = 0.5
PREFIX = "bench:"
_stamp = struct.Struct("!dq")


def _backend(url: str, sharded: bool) -> RedisBackend:
    return RedisBackend(
        url, sharded=sharded, prefix=PREFIX, backoff_max=BACKOFF_MAX, publish_timeout=1.0
    )


# -- throughput --------------------------------------------------------------------------------


async def throughput(
    urls: Sequence[str], sharded: bool, topics: list[str], count: int
) -> dict[str, float]:
    """One publisher, two subscribers: ``count`` messages per topic in bursts of 200."""
    publisher, *subscribers = (_backend(url, sharded) for url in urls)
    latencies: list[float] = []
    seen: list[set[tuple[str, int]]] = [set() for _ in subscribers]
    duplicates = 0
    total = count * len(topics)
    async with publisher, subscribers[0], subscribers[1]:
        for backend in (publisher, *subscribers):
            with anyio.fail_after(30):
                await backend.wait_connected()
        for backend in subscribers:
            await backend.subscribe(topics)
        done = anyio.Event()

        async def read(index: int, backend: RedisBackend) -> None:
            nonlocal duplicates
            async for topic, data in backend.messages():
                sent, seq = _stamp.unpack(data)
                latencies.append(time.perf_counter() - sent)
                if seq < 0:  # a burst's closing publish, awaited
                    continue
                key = (topic, seq)
                if key in seen[index]:
                    duplicates += 1
                seen[index].add(key)
                if all(len(s) >= total for s in seen):
                    done.set()

        async with anyio.create_task_group() as tg:
            for index, backend in enumerate(subscribers):
                tg.start_soon(read, index, backend)
            started = time.perf_counter()
            for seq in range(count):
                for topic in topics:
                    while True:
                        try:
                            publisher.publish_nowait(topic, _stamp.pack(time.perf_counter(), seq))
                            break
                        except WouldBlock:
                            await anyio.sleep(0.001)
                if seq % 200 == 199:
                    await publisher.publish(topics[0], _stamp.pack(time.perf_counter(), -seq))
            with anyio.move_on_after(30):
                await done.wait()
            elapsed = time.perf_counter() - started
            tg.cancel_scope.cancel()
    received = sum(len(s) for s in seen)
    latencies.sort()
    return {
        "deliveries_per_s": received / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "lost": float(2 * total - received),
        "duplicates": float(duplicates),
    }


# -- loss windows ------------------------------------------------------------------------------


async def loss_window(
    cluster: LocalCluster, fault: Callable[[Node, int], None], marks: dict[str, float]
) -> dict[str, float]:
    """Publish every 2 ms through a fault on the topic's master; measure what was lost."""
    topic = topics_on_distinct_masters(cluster, PREFIX, 1)[0]
    slot = hash_slot(f"{PREFIX}{{{topic}}}")
    owner = cluster.owner(slot)
    others = [node for node in cluster.nodes if node is not owner]
    publisher, subscriber = _backend(others[0].url, True), _backend(others[1].url, True)
    sent_at: dict[int, float] = {}
    tried_at: dict[int, float] = {}
    refused = 0
    got: list[int] = []
    async with publisher, subscriber:
        for backend in (publisher, subscriber):
            with anyio.fail_after(30):
                await backend.wait_connected()
        await subscriber.subscribe([topic])
        recovered: list[int] = []

        async def read() -> None:
            async for _, data in subscriber.messages():
                got.append(_stamp.unpack(data)[1])

        async def run_fault() -> None:
            await anyio.to_thread.run_sync(fault, owner, slot)
            recovered.append(max(sent_at, default=0))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            seq = 0
            with anyio.fail_after(120):
                while not recovered or sum(1 for s in got if s > recovered[0]) < 100:
                    seq += 1
                    tried_at[seq] = time.monotonic()
                    try:
                        await publisher.publish(topic, _stamp.pack(time.perf_counter(), seq))
                        sent_at[seq] = tried_at[seq]
                    except BackendUnavailable:
                        refused += 1
                    if seq == 100:
                        tg.start_soon(run_fault)
                    await anyio.sleep(0.002)
            tg.cancel_scope.cancel()
    lost = sorted(set(sent_at) - set(got))
    missed = sorted(set(tried_at) - set(got))  # refused or lost: what the subscriber missed
    outcome = {
        "window_s": (tried_at[missed[-1]] - tried_at[missed[0]]) if missed else 0.0,
        "lost": float(len(lost)),
        "refused": float(refused),
        "duplicates": float(len(got) - len(set(got))),
    }
    if "promoted" in marks and missed:
        # Redis's own part: from the SIGKILL to the moment every live node names the new
        # owner (polled); wskit's: from then to the last message the subscriber missed.
        outcome["promotion_s"] = marks["promoted"] - marks["killed"]
        outcome["wskit_s"] = tried_at[missed[-1]] - marks["promoted"]
    return outcome


def faults(
    cluster: LocalCluster, marks: dict[str, float]
) -> dict[str, Callable[[Node, int], None]]:
    """The faults by label; the failover notes when it killed and when the cluster agreed."""

    def kill(owner: Node, slot: int) -> None:
        marks["killed"] = time.monotonic()
        cluster.kill(owner)
        cluster.wait_failover(owner, slot, poll=0.01)
        marks["promoted"] = time.monotonic()
        cluster.restart(owner)
        cluster.wait_healthy()

    def migrate(owner: Node, slot: int) -> None:
        cluster.migrate_slot(slot, next(n for n in cluster.masters() if n is not owner))

    def pause(owner: Node, slot: int) -> None:
        cluster.pause(owner)
        time.sleep(3)
        cluster.resume(owner)
        cluster.wait_healthy()

    def restart_all(owner: Node, slot: int) -> None:
        cluster.restart_all()

    return {
        "master SIGKILL (failover)": kill,
        "slot migrated": migrate,
        "master SIGSTOP 3 s": pause,
        "whole cluster restarted": restart_all,
    }


# -- the run -----------------------------------------------------------------------------------


def _plain_redis(directory: Path) -> tuple[Any, str]:
    port = free_ports(1)[0]
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--logfile", str(directory / "r.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            if command(port, "PING") == "PONG":
                break
        except OSError:
            time.sleep(0.02)
    return process, f"redis://127.0.0.1:{port}"


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__)
    args = p.parse_args(argv)
    quick = bool(args.quick)
    rounds = args.repeat or (1 if quick else 5)
    count = 500 if quick else 3000
    env = environment()
    print(f"# cluster: {__doc__.strip().splitlines()[0]}\n")
    print(format_environment(env))
    print(f"\n{rounds} interleaved rounds, backend {args.backend}{', quick' if quick else ''}\n")
    results: dict[str, list[dict[str, float]]] = {"plain Redis": [], "Redis Cluster": []}
    windows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="wskit-bench-cluster-") as tmp:
        cluster = LocalCluster(Path(tmp), node_timeout=NODE_TIMEOUT)
        plain, plain_url = _plain_redis(Path(tmp))
        try:
            cluster.start()
            topics = topics_on_distinct_masters(cluster, PREFIX)
            urls = [node.url for node in cluster.nodes[:3]]
            for _ in range(rounds):
                results["plain Redis"].append(
                    anyio.run(
                        throughput, [plain_url] * 3, False, topics, count, backend=args.backend
                    )
                )
                results["Redis Cluster"].append(
                    anyio.run(throughput, urls, True, topics, count, backend=args.backend)
                )
            marks: dict[str, float] = {}
            for label, fault in faults(cluster, marks).items():
                for _ in range(rounds):
                    cluster.wait_healthy()
                    marks.clear()
                    outcome = anyio.run(loss_window, cluster, fault, marks, backend=args.backend)
                    windows.setdefault(label, []).append(outcome)
        finally:
            cluster.stop()
            plain.kill()
            plain.wait()
    medians = {
        label: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for label, runs in results.items()
    }
    print("| Set-up | deliveries/s | p50 | p99 | lost | duplicates |")
    print("|:--|--:|--:|--:|--:|--:|")
    for label, m in medians.items():
        print(
            f"| {label} | {m['deliveries_per_s']:,.0f} | {m['p50_ms']:.1f} ms "
            f"| {m['p99_ms']:.1f} ms | {m['lost']:.0f} | {m['duplicates']:.0f} |"
        )
    print(
        "\n| Fault | loss window median | worst | lost (median) | refused (median) | duplicates |"
    )
    print("|:--|--:|--:|--:|--:|--:|")
    for label, runs in windows.items():
        spans = sorted(r["window_s"] for r in runs)
        print(
            f"| {label} | {statistics.median(spans) * 1000:.0f} ms | {spans[-1] * 1000:.0f} ms "
            f"| {statistics.median(r['lost'] for r in runs):.0f} "
            f"| {statistics.median(r['refused'] for r in runs):.0f} "
            f"| {sum(r['duplicates'] for r in runs):.0f} |"
        )
    ratio = (
        medians["Redis Cluster"]["deliveries_per_s"] / medians["plain Redis"]["deliveries_per_s"]
    )
    bound = 2 * NODE_TIMEOUT + BACKOFF_MAX
    failovers = windows["master SIGKILL (failover)"]
    failover = max(r["window_s"] for r in failovers)
    promotions = sorted(r["promotion_s"] for r in failovers if "promotion_s" in r)
    shares = sorted(r["wskit_s"] for r in failovers if "wskit_s" in r)
    if promotions:
        print(
            f"\nFailover, split ({len(promotions)} runs; SIGKILL -> every live node names the "
            f"promoted replica, polled every 10 ms):\n"
            f"- Redis's own promotion: median {statistics.median(promotions) * 1000:.0f} ms, "
            f"worst {promotions[-1] * 1000:.0f} ms (node timeout {NODE_TIMEOUT:g} s, then an "
            "election delayed 0.5 s + 0-0.5 s + rank by design)\n"
            f"- wskit's share (agreed -> delivery resumed): median "
            f"{statistics.median(shares) * 1000:.0f} ms, worst {shares[-1] * 1000:.0f} ms "
            f"(goal's backoff bound {BACKOFF_MAX * 1000:.0f} ms)"
        )
    duplicates = sum(r["duplicates"] for runs in results.values() for r in runs) + sum(
        r["duplicates"] for runs in windows.values() for r in runs
    )
    lost_healthy = sum(r["lost"] for runs in results.values() for r in runs)
    goals = [
        (f"cluster throughput {ratio:.2f}x single Redis (goal >= 0.8x)", ratio >= 0.8),
        (
            f"worst failover loss window {failover * 1000:.0f} ms (goal <= 2 x "
            f"{NODE_TIMEOUT:g} s node timeout + {BACKOFF_MAX:g} s backoff = {bound * 1000:.0f} ms)",
            failover <= bound,
        ),
        *(
            [
                (
                    f"wskit's worst share of a failover window {shares[-1] * 1000:.0f} ms, after "
                    f"Redis agreed on the promoted replica (goal <= {BACKOFF_MAX * 1000:.0f} ms "
                    "backoff bound)",
                    shares[-1] <= BACKOFF_MAX,
                )
            ]
            if shares
            else []
        ),
        (f"{duplicates:.0f} duplicates (goal 0)", duplicates == 0),
        (f"{lost_healthy:.0f} lost with nothing failing (goal 0)", lost_healthy == 0),
    ]
    notes = "\n".join(f"- {'met' if ok else 'MISSED'}: {text}" for text, ok in goals)
    print(f"\nGoals:\n{notes}")
    if args.json is not None:
        rows = []
        base = 1 / medians["plain Redis"]["deliveries_per_s"]
        for label, m in medians.items():
            per = 1 / m["deliveries_per_s"]
            rows.append(
                {
                    "label": f"{label} (3 backends, 3 topics)",
                    "group": "deliveries across Redis",
                    "baseline": label == "plain Redis",
                    "ops_per_call": 1,
                    "calls_per_timing": count,
                    "median_s": per,
                    "min_s": per,
                    "ops_per_s": m["deliveries_per_s"],
                    "vs_baseline": base / per,
                    "times_s": [],
                }
            )
        write_document(
            args.json,
            {
                "name": "cluster",
                "question": __doc__.strip().splitlines()[0],
                "unit": "delivery",
                "environment": env,
                "settings": {
                    "quick": quick,
                    "repeat": rounds,
                    "backend": args.backend,
                    "clock": "wall",
                    "node_timeout": NODE_TIMEOUT,
                    "backoff_max": BACKOFF_MAX,
                },  # fmt: skip
                "results": rows,
                "notes": "Goals:\n\n" + notes,
                "throughput": results,
                "windows": windows,
            },
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main(sys.argv[1:]))
