"""The fan-out engine: hand-offs, writers, overflow policies, deadlines, failures."""

from __future__ import annotations

import logging
import random
from typing import Any

import anyio
import pytest

from wskit.codecs import JSON
from wskit.connection import Limits
from wskit.exceptions import MessageTooBig, WebSocketDisconnect
from wskit.pubsub import Hub, OverflowPolicy

from ._asgi import Message, Peer, open_ws
from ._fakes import FakeConnection


class TaskBound(FakeConnection):
    """A send that ties itself to the task running it before it suspends.

    ``anyio.Lock`` records its owner and a cancel scope its host task, as hypercorn's trio worker
    does with a ``trio.Lock`` in every send. Moving such a half-run coroutine to another task
    fails ("cancel scope stack corrupted", "not holding this lock"); the hub never does that.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lock = anyio.Lock()

    async def send_frame(self, frame: str | bytes, /) -> None:
        async with self.lock:
            with anyio.fail_after(5):
                await anyio.sleep(0)
                self.record(frame)


async def test_sends_bound_to_their_task_survive_hand_offs() -> None:
    lock = anyio.Lock()

    async def server_send(message: Message) -> None:
        async with lock:
            with anyio.CancelScope():
                await anyio.sleep(0)

    async with Hub() as hub:
        fakes = [TaskBound() for _ in range(5)]
        sockets = [await open_ws(send=server_send) for _ in range(5)]
        for conn in fakes:
            await hub.subscribe(conn, "t")
        for ws, _ in sockets:
            await hub.subscribe(ws, "t")
        for i in range(50):
            await hub.publish("t", i)
        await hub.flush()
        for conn in fakes:
            assert await conn.wait_frames(50) == [str(i) for i in range(50)]
        with anyio.fail_after(5):
            while hub.statistics().delivered < 500:
                await anyio.sleep(0.001)
        assert hub.statistics().failed == 0


class Jittery(FakeConnection):
    """Sometimes completes at once, sometimes yields, sometimes sleeps a little."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.random = random.Random(seed)

    async def send_frame(self, frame: str | bytes, /) -> None:
        roll = self.random.random()
        if roll < 0.2:
            await anyio.sleep(0)
        elif roll < 0.22:
            await anyio.sleep(0.001)
        self.record(frame)


async def test_per_topic_order_under_hand_offs() -> None:
    rnd = random.Random(7)

    async def jitter_send(message: Message) -> None:
        if rnd.random() < 0.2:
            await anyio.sleep(0)
        peer_frames.append(message)

    peer_frames: list[Message] = []
    async with Hub(max_queue=1000) as hub:
        fakes = [Jittery(seed) for seed in range(20)]
        for conn in fakes:
            await hub.subscribe(conn, "a")
            await hub.subscribe(conn, "b")
        ws, _ = await open_ws(send=jitter_send)
        await hub.subscribe(ws, "a")
        for i in range(200):
            await hub.publish("a", f"a{i}")
            await hub.publish("b", f"b{i}")
        for conn in fakes:
            frames = [str(f) for f in await conn.wait_frames(400)]
            assert [f for f in frames if f[0] == "a"] == [f"a{i}" for i in range(200)]
            assert [f for f in frames if f[0] == "b"] == [f"b{i}" for i in range(200)]
        with anyio.fail_after(5):
            while len(peer_frames) < 201:  # the accept, then 200 messages
                await anyio.sleep(0.001)
        sent = [m["text"] for m in peer_frames if m["type"] == "websocket.send"]
        assert sent == [f"a{i}" for i in range(200)]
        stats = hub.statistics()
        assert stats.dropped == 0 and stats.writers == 0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("drop_oldest", ["0", "16", "17", "18", "19"]),
        ("drop_newest", ["0", "1", "2", "3", "4"]),
    ],
)
async def test_drop_policies(policy: OverflowPolicy, expected: list[str]) -> None:
    async with Hub(max_queue=4, overflow=policy, send_timeout=None) as hub:
        gate = anyio.Event()
        slow, fast = FakeConnection(gate=gate), FakeConnection()
        await hub.subscribe(slow, "t")
        await hub.subscribe(fast, "t")
        for i in range(20):
            await hub.publish("t", i)
            await hub.flush()
            assert hub.statistics().queued <= 4
        assert await fast.wait_frames(20) == [str(i) for i in range(20)]
        assert hub.statistics().dropped == 15
        gate.set()
        assert await slow.wait_frames(5) == expected
        await hub.flush()
        with anyio.fail_after(5):
            while hub.statistics().writers:
                await anyio.sleep(0.001)
        await hub.publish("t", "direct again")
        assert (await slow.wait_frames(6))[-1] == "direct again"


async def test_close_policy_evicts_with_1013() -> None:
    async with Hub(max_queue=2, overflow="close", send_timeout=None) as hub:
        slow, fast = FakeConnection(stall=True), FakeConnection()
        await hub.subscribe(slow, "t")
        await hub.subscribe(fast, "t")
        for i in range(10):
            await hub.publish("t", i)
        assert await slow.wait_closed() == (1013, "slow consumer")
        assert await fast.wait_frames(10) == [str(i) for i in range(10)]
        stats = hub.statistics()
        assert (stats.evicted, stats.connections) == (1, 1)
        with anyio.fail_after(5):
            while hub.statistics().writers:
                await anyio.sleep(0.001)


async def test_per_subscription_policy_and_queued_eviction() -> None:
    async with Hub(max_queue=0, send_timeout=None) as hub:
        slow = FakeConnection(stall=True)
        hub.add(slow)
        await hub.subscribe(slow, "t", overflow="close")
        await hub.publish("t", "in flight")
        await hub.publish("t", "one too many")
        assert await slow.wait_closed() == (1013, "slow consumer")


async def test_send_deadline_evicts_a_stalled_connection() -> None:
    async with Hub(send_timeout=0.05) as hub:
        stalled, ok = FakeConnection(stall=True), FakeConnection()
        await hub.subscribe(stalled, "t")
        await hub.subscribe(ok, "t")
        await hub.publish("t", "x")
        await hub.publish("t", "y")  # queued behind the stalled send
        assert await stalled.wait_closed() == (1013, "slow consumer")
        assert await ok.wait_frames(2) == ["x", "y"]
        assert hub.statistics().evicted == 1


async def test_send_deadline_on_a_queued_message() -> None:
    async with Hub(send_timeout=0.2) as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate)
        await hub.subscribe(conn, "t")
        await hub.publish("t", "first")
        await hub.publish("t", "second")
        await hub.flush()
        gate.set()  # the first send completes...
        await conn.wait_frames(2)
        conn.gate = anyio.Event()  # ...then the writer's next send stalls
        await hub.publish("t", "third")
        await hub.publish("t", "fourth")
        assert await conn.wait_closed() == (1013, "slow consumer")


async def test_failures(caplog: pytest.LogCaptureFixture) -> None:
    async with Hub() as hub:
        broken = FakeConnection(error=RuntimeError("bug"), name="broken")
        gone = FakeConnection(error=WebSocketDisconnect(1006), name="gone")
        too_big = FakeConnection(error=MessageTooBig(10, 5, "outbound"), name="big")
        lost = FakeConnection(error=ConnectionResetError(), name="lost")
        for conn in (broken, gone, too_big, lost):
            await hub.subscribe(conn, "t")
        with caplog.at_level(logging.WARNING, "wskit.pubsub"):
            await hub.publish("t", "x")
            await hub.flush()
        assert "no longer receives messages" in caplog.text
        assert hub.subscribers("t") == [too_big]
        stats = hub.statistics()
        assert (stats.failed, stats.dropped, stats.delivered) == (1, 1, 0)


async def test_a_blocked_send_that_then_fails_is_not_counted() -> None:
    async with Hub() as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate, error=WebSocketDisconnect(1001))
        ws, peer = await open_ws()
        await hub.subscribe(conn, "t")
        await hub.subscribe(ws, "t")
        await hub.publish("t", "x")
        await hub.flush()
        gate.set()
        with anyio.fail_after(5):
            while hub.statistics().writers:
                await anyio.sleep(0.001)
        assert hub.subscribers("t") == [ws]
        assert hub.statistics().delivered == 1


# -- real WebSocket objects through the direct port -------------------------------------------


async def test_direct_port_shares_one_message() -> None:
    async with Hub() as hub:
        sockets = [await open_ws() for _ in range(3)]
        for ws, _ in sockets:
            await hub.subscribe(ws, "t")
        await hub.publish("t", {"a": 1})
        await hub.flush()
        messages = [peer.sent[0] for _, peer in sockets]
        assert messages[0] == {"type": "websocket.send", "text": '{"a":1}'}
        assert all(message is messages[0] for message in messages)
        assert hub.statistics().delivered == 3


async def test_direct_port_transport_error_ends_the_connection() -> None:
    async with Hub() as hub:
        ws, peer = await open_ws()
        other, _ = await open_ws()
        await hub.subscribe(ws, "t")
        await hub.subscribe(other, "t")
        peer.error = ConnectionResetError()
        await hub.publish("t", "x")
        await hub.flush()
        assert ws.closed and ws.close_code == 1006
        assert hub.subscribers("t") == [other]


async def test_connections_with_deadlines_go_through_send_frame() -> None:
    async with Hub() as hub:
        ws, peer = await open_ws(limits=Limits(send_timeout=5))
        await hub.subscribe(ws, "t")
        await hub.publish("t", "via send_frame")
        assert await peer.wait_frames(1) == ["via send_frame"]


async def test_nothing_is_sent_once_the_application_closes() -> None:
    async with Hub(send_timeout=None) as hub:
        ws, peer = await open_ws()
        other, other_peer = await open_ws()
        await hub.subscribe(ws, "t")
        await hub.subscribe(other, "t")
        await hub.publish("t", "before")  # caches the recipient list
        await hub.flush()
        peer.gate = anyio.Event()  # the close frame will take a while
        async with anyio.create_task_group() as tg:
            tg.start_soon(ws.close)
            await anyio.sleep(0)
            assert not ws.closed  # closing, not closed: callbacks have not run
            await hub.publish("t", "during")
            await hub.flush()
            peer.gate.set()
        assert [m["type"] for m in peer.sent] == ["websocket.send", "websocket.close"]
        assert await other_peer.wait_frames(2) == ["before", "during"]
        assert hub.subscribers("t") == [other]


async def test_too_big_for_one_connection() -> None:
    async with Hub() as hub:
        small, small_peer = await open_ws(limits=Limits(max_send_size=40))
        big, big_peer = await open_ws()
        await hub.subscribe(small, "t")
        await hub.subscribe(big, "t")
        await hub.publish("t", "x" * 100)
        await hub.publish("t", "ok")
        assert await big_peer.wait_frames(2) == ["x" * 100, "ok"]
        assert await small_peer.wait_frames(1) == ["ok"]
        assert hub.statistics().dropped == 1


async def test_a_blocked_direct_send_becomes_a_writer() -> None:
    async with Hub(max_queue=3, send_timeout=None) as hub:
        ws, peer = await open_ws()
        await hub.subscribe(ws, "t")
        peer.gate = anyio.Event()
        for i in range(5):
            await hub.publish("t", i)
        await hub.flush()
        stats = hub.statistics()
        assert (stats.writers, stats.queued, stats.dropped) == (1, 3, 1)
        peer.gate.set()
        assert await peer.wait_frames(4) == ["0", "2", "3", "4"]


async def test_the_hub_closes_with_writers_in_flight() -> None:
    hub = Hub(send_timeout=None)
    async with hub:
        stalled = [FakeConnection(stall=True) for _ in range(3)]
        for conn in stalled:
            await hub.subscribe(conn, "t")
        await hub.publish("t", "x")
        await hub.publish("t", "y")
        await hub.flush()
        assert hub.statistics().writers == 3
    assert not hub.running


async def test_a_resolver_bug_loses_one_message(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Hub() as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        original = hub._resolve
        calls = 0

        def flaky(job: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("bug")
            return original(job)

        monkeypatch.setattr(hub._dispatcher, "_resolve", flaky)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await hub.publish("t", "lost")
            await hub.publish("t", "kept")
            await hub.flush()
        assert conn.frames == ["kept"]
        assert "fan-out failed" in caplog.text


async def test_codec_of_each_connection_is_respected() -> None:
    async with Hub() as hub:
        ws, peer = await open_ws(codec=JSON)
        await hub.subscribe(ws, "t")
        await hub.publish("t", b"\x01")
        assert await peer.wait_frames(1) == [b"\x01"]
