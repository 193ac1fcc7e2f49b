"""One stalled subscriber among 100 never delays the other 99, and its outbox stays bounded.

100 in-memory subscribers, one of them a connection whose send never completes; 1,000
publishes. The 99 get all 1,000 messages in order; the stalled one is handled by its overflow
policy (drop oldest, drop newest, or evicted with 1013); no outbox ever holds more than
``max_queue`` messages. Run with real ``WebSocket`` objects (the hub's direct port) and with
protocol-only fakes (``send_frame``).
"""

from __future__ import annotations

import anyio
import pytest

from tests._asgi_pair import ASGIPair, accepted
from wskit.pubsub import Hub, OverflowPolicy, Subscriber

from ._fakes import FakeConnection

MAX_QUEUE = 16
MESSAGES = 1000


async def _subscribers(
    kind: str,
) -> tuple[list[Subscriber], list[ASGIPair | FakeConnection], object]:
    """99 healthy subscribers, then one that never completes a send."""
    conns: list[Subscriber] = []
    records: list[ASGIPair | FakeConnection] = []
    for _ in range(99):
        if kind == "websocket":
            peer, ws = await accepted()
            conns.append(ws)
            records.append(peer)
        else:
            fake = FakeConnection()
            conns.append(fake)
            records.append(fake)
    if kind == "websocket":
        stalled_peer, stalled = await accepted()
        stalled_peer.gate = anyio.Event()  # never set: the server never takes the message
        conns.append(stalled)
        return conns, records, stalled
    stalled_fake = FakeConnection(stall=True)
    conns.append(stalled_fake)
    return conns, records, stalled_fake


@pytest.mark.parametrize("kind", ["websocket", "fake"])
@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest", "close"])
async def test_one_stalled_subscriber_among_100(kind: str, policy: OverflowPolicy) -> None:
    async with Hub(max_queue=MAX_QUEUE, overflow=policy, send_timeout=None) as hub:
        conns, records, stalled = await _subscribers(kind)
        for conn in conns:
            await hub.subscribe(conn, "feed")
        largest = 0
        for i in range(MESSAGES):
            await hub.publish("feed", i)
            if i % 50 == 0:
                await hub.flush()
            largest = max(largest, hub.statistics().queued)
            assert largest <= MAX_QUEUE
        await hub.flush()
        expected = [str(i) for i in range(MESSAGES)]
        for record in records:
            assert await record.wait_frames(MESSAGES) == expected
        stats = hub.statistics()
        assert stats.delivered == 99 * MESSAGES
        if policy == "close":
            assert stats.evicted == 1
            assert stalled not in hub.subscribers("feed")
            assert stats.dropped == 0
            if isinstance(stalled, FakeConnection):
                assert await stalled.wait_closed() == (1013, "slow consumer")
        else:
            # one message in flight, MAX_QUEUE queued, the rest dropped
            assert stats.dropped == MESSAGES - 1 - MAX_QUEUE
            assert stats.queued == MAX_QUEUE
            assert stats.evicted == 0
            assert len(hub.subscribers("feed")) == 100
