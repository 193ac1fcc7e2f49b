"""Slow-consumer evictions are logged, not only counted, and a burst is one record (issue 12).

An operator whose clients are being closed with 1013 must see it in the log at the default
level, with who and why; a thousand clients stalling at once must not be a thousand records.
"""

from __future__ import annotations

import logging

import anyio
import pytest

from tests._asgi_pair import accepted
from wskit.pubsub import Hub, Subscriber
from wskit.pubsub._fanout import EvictionLog

from ._fakes import FakeConnection


async def test_a_burst_of_evictions_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    async with Hub(max_queue=1, overflow="close", send_timeout=None) as hub:
        peer, ws = await accepted()
        peer.gate = anyio.Event()  # the server never takes a message: a stalled client
        stalled: list[Subscriber] = [ws, *(FakeConnection(stall=True) for _ in range(5))]
        for conn in stalled:
            await hub.subscribe(conn, "feed")
        for i in range(4):  # one in flight, one queued, then the outboxes overflow
            await hub.publish("feed", i)
            await hub.flush()
        assert hub.statistics().evicted == len(stalled)
    records = [r for r in caplog.records if r.name == "wskit.pubsub"]
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.levelno == logging.WARNING
    assert "1013" in record.getMessage()
    assert "outbox is full" in record.getMessage()


def test_one_record_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit")
    now = [100.0]
    log = EvictionLog(interval=10.0, clock=lambda: now[0])
    for step in range(25):  # one eviction a second for 25 seconds
        now[0] = 100.0 + step
        log.evicted(FakeConnection(name=str(step)), "its send took longer than send_timeout")
    messages = [r.getMessage() for r in caplog.records if r.name == "wskit.pubsub"]
    assert len(messages) == 3  # at 0, 10 and 20 seconds
    assert "more since the last record" not in messages[0]
    assert "(9 more since the last record)" in messages[1]
    assert "(9 more since the last record)" in messages[2]
    assert "<FakeConnection 20 " in messages[2]  # who
