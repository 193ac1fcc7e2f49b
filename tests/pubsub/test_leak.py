"""10,000 connections subscribe and leave (half closed by the app, half by a transport
error): the hub forgets every one, and the memory it took comes back (tracemalloc)."""

from __future__ import annotations

import gc
import tracemalloc

from tests._asgi_pair import accepted
from wskit.pubsub import Hub

from ._wait import eventually

CONNECTIONS = 10_000
TOPICS = 100


def _pubsub_bytes(snapshot: tracemalloc.Snapshot) -> int:
    traces = snapshot.filter_traces([tracemalloc.Filter(True, "*wskit/pubsub/*")])
    return sum(stat.size for stat in traces.statistics("filename"))


async def test_ten_thousand_connections_come_and_go() -> None:
    async with Hub() as hub:
        # warm up: a first round creates the caches and interned names that stay
        _, warm = await accepted()
        await hub.subscribe(warm, "warm")
        await hub.publish("warm", "x")
        await warm.close()
        await hub.flush()
        sockets = [await accepted() for _ in range(CONNECTIONS)]  # not the hub's memory
        gc.collect()
        tracemalloc.start()
        try:
            before = _pubsub_bytes(tracemalloc.take_snapshot())
            for index, pair in enumerate(sockets):
                await hub.subscribe(pair[1], f"room:{index % TOPICS}")
                await hub.subscribe(pair[1], "everyone")
            stats = hub.statistics()
            assert (stats.connections, stats.topics) == (CONNECTIONS, TOPICS + 1)
            during = _pubsub_bytes(tracemalloc.take_snapshot())
            for index, pair in enumerate(sockets):
                if index % 2:
                    pair[0].fail_send = ConnectionResetError()  # the next send finds it gone
                else:
                    await pair[1].close()
            await hub.publish("everyone", "bye")
            await hub.flush()
            await eventually(lambda: hub.backend.statistics().subscriptions == 0, 10)
            stats = hub.statistics()
            assert (stats.connections, stats.topics, stats.queued, stats.writers) == (0, 0, 0, 0)
            assert all(pair[1].closed for pair in sockets)
            assert sum(pair[1].close_code == 1006 for pair in sockets) == CONNECTIONS // 2
            assert hub.subscribers("everyone") == []
            del sockets, pair
            gc.collect()
            after = _pubsub_bytes(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        per_connection = (during - before) / CONNECTIONS
        assert per_connection < 2048, per_connection  # ~600 bytes: see docs/topics/pubsub.md
        assert after - before < 64 * 1024, (before, during, after)
