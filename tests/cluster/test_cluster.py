"""wskit on a real Redis Cluster: three processes on three nodes, topics on three masters.

Every test starts three ``wskit run`` processes, each given a different node as its URL, and
talks to them with the ``websockets`` client. The faults (a master killed, a slot migrated, a
node paused, the whole cluster restarted) run while a client publishes every 5 ms; the tests
assert what must hold whatever the timing (local delivery never stops; remote delivery is in
order, without duplicates, loses nothing before the fault, and resumes by itself) and print
the measured loss window (``pytest -s``). The benchmark ``bench_cluster`` measures the windows
over several runs and compares them with the goals.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import connect

from tests._redis_cluster import LocalCluster, Node, hash_slot, topics_on_distinct_masters

from ._traffic import receive, receive_json, run_through, start_processes, subscribe

pytestmark = [pytest.mark.redis, pytest.mark.integration]

WORKERS = pytest.mark.parametrize("worker", ["asyncio", "trio"])
_prefixes = itertools.count()


def _prefix() -> str:
    return f"c{os.getpid()}-{next(_prefixes)}:"


@WORKERS
async def test_three_processes_topics_on_three_masters(worker: str, cluster: LocalCluster) -> None:
    prefix = _prefix()
    topics = topics_on_distinct_masters(cluster, prefix)
    view = cluster.view()
    channels = [f"{prefix}{{{topic}}}" for topic in topics]
    assert len({view.slots[hash_slot(channel)] for channel in channels}) == 3
    for channel in channels:  # a topic's history stream shares its channel's slot
        assert hash_slot(f"{channel}:history") == hash_slot(channel)
    count = 200
    async with AsyncExitStack() as stack:
        urls = [node.url for node in cluster.nodes[:3]]
        processes = await start_processes(stack, urls, prefix, worker)
        # every process has a subscriber on every topic; topic i is published from process i
        clients = {
            (topic, index): await subscribe(stack, process, topic)
            for topic in topics
            for index, process in enumerate(processes)
        }
        for index, topic in enumerate(topics):
            publisher = clients[topic, index]
            for seq in range(1, count + 1):
                await publisher.send(str(seq))
        for (_, _), conn in clients.items():
            got = [(await receive(conn))["seq"] for _ in range(count)]
            assert got == list(range(1, count + 1))  # all, in order, no duplicates
        for index, topic in enumerate(topics):  # history read through another process
            reader = processes[(index + 1) % 3]
            async with connect(reader.ws(f"/history/{topic}")) as conn:
                assert await receive_json(conn) == list(range(1, count + 1))
        for process in processes:
            async with connect(process.ws("/stats")) as conn:
                stats = await receive(conn)
            assert stats["connected"]
            assert stats["dropped"] == 0
            assert stats["subscriptions"] == 3


async def _fault_run(
    worker: str,
    cluster: LocalCluster,
    label: str,
    fault_for: Callable[[Node, int], None],
    *,
    victim_url: bool,
) -> None:
    """Three processes, one topic on one master; ``fault_for(owner, slot)`` is the fault."""
    prefix = _prefix()
    topic = topics_on_distinct_masters(cluster, prefix, 1)[0]
    slot = hash_slot(f"{prefix}{{{topic}}}")
    owner = cluster.owner(slot)
    others = [node for node in cluster.nodes if node is not owner]
    # the publisher's process starts from the master that fails (it must find the others)
    urls = [owner.url if victim_url else others[0].url, others[1].url, others[2].url]
    async with AsyncExitStack() as stack:
        processes = await start_processes(stack, urls, prefix, worker)
        publisher = await subscribe(stack, processes[0], topic)
        remotes = {
            "near": await subscribe(stack, processes[0], topic),
            "far": await subscribe(stack, processes[1], topic),
            "farther": await subscribe(stack, processes[2], topic),
        }
        outcome = await run_through(publisher, remotes, lambda: fault_for(owner, slot))
        print(outcome.report(f"{worker}] [{label}", list(remotes)))
        outcome.check("local", ["far", "farther"], warmup=100)
        # the process's own other subscriber gets exactly what its own hub published
        assert outcome.received["near"] == outcome.received["local"]
        for process in processes:  # no process wedged: each answers and is linked again
            async with connect(process.ws("/stats")) as conn:
                stats = await receive(conn)
            assert stats["connected"]
            assert stats["subscriptions"] == 1


@WORKERS
async def test_master_killed_replica_promoted(worker: str, cluster: LocalCluster) -> None:
    promotion: list[float] = []

    def kill(owner: Node, slot: int) -> None:
        killed = time.monotonic()
        cluster.kill(owner)
        cluster.wait_failover(owner, slot, poll=0.01)
        promotion.append(time.monotonic() - killed)

    await _fault_run(worker, cluster, "master SIGKILL", kill, victim_url=True)
    # printed, never asserted: Redis's own part of the window above
    print(f"[{worker}] Redis's promotion (SIGKILL -> all live nodes agree): {promotion[0]:.2f} s")


@WORKERS
async def test_slot_migrated_under_load(worker: str, cluster: LocalCluster) -> None:
    def migrate(owner: Node, slot: int) -> None:
        target = next(node for node in cluster.masters() if node is not owner)
        cluster.migrate_slot(slot, target)

    await _fault_run(worker, cluster, "slot migrated", migrate, victim_url=False)


@WORKERS
async def test_master_paused_then_resumed(worker: str, cluster: LocalCluster) -> None:
    def pause(owner: Node, slot: int) -> None:
        cluster.pause(owner)
        time.sleep(3)
        cluster.resume(owner)
        cluster.wait_healthy()

    await _fault_run(worker, cluster, "master SIGSTOP 3 s", pause, victim_url=True)


@WORKERS
async def test_whole_cluster_restarted(worker: str, cluster: LocalCluster) -> None:
    def restart_all(owner: Node, slot: int) -> None:
        cluster.restart_all()

    await _fault_run(worker, cluster, "whole cluster restarted", restart_all, victim_url=False)
