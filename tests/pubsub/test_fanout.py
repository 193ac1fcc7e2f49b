"""The fan-out engine: hand-offs, writers, overflow policies, deadlines, failures."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from tests._asgi_pair import ASGIPair, Message, accepted
from wskit.codecs import JSON
from wskit.connection import Limits, Port
from wskit.exceptions import MessageTooBig, WebSocketDisconnect
from wskit.pubsub import Hub, OverflowPolicy
from wskit.pubsub._fanout import HandOff

from ._fakes import FakeConnection
from ._wait import eventually


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
                await anyio.lowlevel.checkpoint()
                self.record(frame)


async def test_sends_bound_to_their_task_survive_hand_offs() -> None:
    lock = anyio.Lock()

    async def server_send(message: Message) -> None:
        async with lock:
            with anyio.CancelScope():
                await anyio.lowlevel.checkpoint()

    async with Hub() as hub:
        fakes = [TaskBound() for _ in range(5)]
        sockets = [await accepted(send=server_send) for _ in range(5)]
        for conn in fakes:
            await hub.subscribe(conn, "t")
        for _, ws in sockets:
            await hub.subscribe(ws, "t")
        for i in range(50):
            await hub.publish("t", i)
        await hub.flush()
        for conn in fakes:
            assert await conn.wait_frames(50) == [str(i) for i in range(50)]
        await eventually(lambda: hub.statistics().delivered >= 500)
        assert hub.statistics().failed == 0


class Jittery(FakeConnection):
    """Sometimes completes at once, sometimes yields, sometimes sleeps a little."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.random = random.Random(seed)

    async def send_frame(self, frame: str | bytes, /) -> None:
        roll = self.random.random()
        if roll < 0.2:
            await anyio.lowlevel.checkpoint()
        elif roll < 0.22:
            await anyio.sleep(0.001)
        self.record(frame)


async def test_per_topic_order_under_hand_offs() -> None:
    rnd = random.Random(7)

    async def jitter_send(message: Message) -> None:
        if rnd.random() < 0.2:
            await anyio.lowlevel.checkpoint()
        peer_frames.append(message)

    peer_frames: list[Message] = []
    async with Hub(max_queue=1000) as hub:
        fakes = [Jittery(seed) for seed in range(20)]
        for conn in fakes:
            await hub.subscribe(conn, "a")
            await hub.subscribe(conn, "b")
        _, ws = await accepted(send=jitter_send)
        await hub.subscribe(ws, "a")
        for i in range(200):
            await hub.publish("a", f"a{i}")
            await hub.publish("b", f"b{i}")
        for conn in fakes:
            frames = [str(f) for f in await conn.wait_frames(400)]
            assert [f for f in frames if f[0] == "a"] == [f"a{i}" for i in range(200)]
            assert [f for f in frames if f[0] == "b"] == [f"b{i}" for i in range(200)]
        await eventually(lambda: len(peer_frames) >= 201)
        sent = [m["text"] for m in peer_frames if m["type"] == "websocket.send"]
        assert sent == [f"a{i}" for i in range(200)]
        stats = hub.statistics()
        assert stats.dropped == 0
        assert stats.writers == 0


async def test_no_queue_at_all() -> None:
    async with Hub(max_queue=0, overflow="drop_oldest", send_timeout=None) as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate)
        await hub.subscribe(conn, "t")
        for i in range(3):
            await hub.publish("t", i)
        await hub.flush()
        gate.set()
        assert await conn.wait_frames(1) == ["0"]  # the one in flight, nothing queued
        assert hub.statistics().dropped == 2


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
        await eventually(lambda: hub.statistics().writers == 0)
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
        await eventually(lambda: hub.statistics().writers == 0)


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
        peer, ws = await accepted()
        await hub.subscribe(conn, "t")
        await hub.subscribe(ws, "t")
        await hub.publish("t", "x")
        await hub.flush()
        gate.set()
        await eventually(lambda: hub.statistics().writers == 0)
        assert hub.subscribers("t") == [ws]
        assert hub.statistics().delivered == 1


# -- real WebSocket objects through the direct port -------------------------------------------


async def test_direct_port_shares_one_message() -> None:
    seen: list[Message] = []

    async def server_send(message: Message) -> None:  # keeps the message itself, not a copy
        if message["type"] == "websocket.send":
            seen.append(message)

    async with Hub() as hub:
        sockets = [await accepted(send=server_send) for _ in range(3)]
        for _, ws in sockets:
            await hub.subscribe(ws, "t")
        await hub.publish("t", {"a": 1})
        await hub.flush()
        messages = seen
        assert len(messages) == 3
        assert messages[0] == {"type": "websocket.send", "text": '{"a":1}'}
        assert all(message is messages[0] for message in messages)
        assert hub.statistics().delivered == 3


async def test_direct_port_transport_error_ends_the_connection() -> None:
    async with Hub() as hub:
        peer, ws = await accepted()
        _, other = await accepted()
        await hub.subscribe(ws, "t")
        await hub.subscribe(other, "t")
        peer.fail_send = ConnectionResetError()
        await hub.publish("t", "x")
        await hub.flush()
        assert ws.closed
        assert ws.close_code == 1006
        assert hub.subscribers("t") == [other]


async def test_connections_with_deadlines_go_through_send_frame() -> None:
    async with Hub() as hub:
        peer, ws = await accepted(limits=Limits(send_timeout=5))
        await hub.subscribe(ws, "t")
        await hub.publish("t", "via send_frame")
        assert await peer.wait_frames(1) == ["via send_frame"]


async def test_nothing_is_sent_once_the_application_closes() -> None:
    async with Hub(send_timeout=None) as hub:
        peer, ws = await accepted()
        other_peer, other = await accepted()
        await hub.subscribe(ws, "t")
        await hub.subscribe(other, "t")
        await hub.publish("t", "before")  # caches the recipient list
        await hub.flush()
        peer.gate = anyio.Event()  # the close frame will take a while
        async with anyio.create_task_group() as tg:
            tg.start_soon(ws.close)
            await anyio.lowlevel.checkpoint()
            assert not ws.closed  # closing, not closed: callbacks have not run
            await hub.publish("t", "during")
            await hub.flush()
            peer.gate.set()
        assert peer.types == ["websocket.accept", "websocket.send", "websocket.close"]
        assert await other_peer.wait_frames(2) == ["before", "during"]
        assert hub.subscribers("t") == [other]


async def test_limits_set_after_subscribing_take_the_checked_path() -> None:
    async with Hub() as hub:
        peer, ws = await accepted()
        await hub.subscribe(ws, "t")
        await hub.publish("t", "direct")  # caches ws among the direct sends
        ws.limits = Limits(send_timeout=5)  # its fast path shuts: the hub regroups it
        await hub.publish("t", "checked")
        assert await peer.wait_frames(2) == ["direct", "checked"]
        ws.limits = Limits()
        await hub.publish("t", "direct again")
        assert await peer.wait_frames(3) == ["direct", "checked", "direct again"]


async def test_forgotten_connections_are_not_watched() -> None:
    async with Hub() as hub:
        _, ws = await accepted()
        await hub.subscribe(ws, "t")
        port = Port.of(ws)
        assert port is not None
        watching = port.watchers
        hub.remove(ws)
        assert len(watching) == 1
        assert port.watchers == ()
        ws.limits = Limits(send_timeout=5)  # nothing to tell the hub any more


async def test_too_big_for_one_connection() -> None:
    async with Hub() as hub:
        small_peer, small = await accepted(limits=Limits(max_send_size=40))
        big_peer, big = await accepted()
        await hub.subscribe(small, "t")
        await hub.subscribe(big, "t")
        await hub.publish("t", "x" * 100)
        await hub.publish("t", "ok")
        assert await big_peer.wait_frames(2) == ["x" * 100, "ok"]
        assert await small_peer.wait_frames(1) == ["ok"]
        assert hub.statistics().dropped == 1


async def test_a_blocked_direct_send_becomes_a_writer() -> None:
    async with Hub(max_queue=3, send_timeout=None) as hub:
        peer, ws = await accepted()
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
        original = hub._subscriptions.resolve
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
        peer, ws = await accepted(codec=JSON)
        await hub.subscribe(ws, "t")
        await hub.publish("t", b"\x01")
        assert await peer.wait_frames(1) == [b"\x01"]


# -- the less travelled paths of the engine ----------------------------------------------------


async def test_publishers_waiting_for_room_together() -> None:
    async with Hub(max_pending=1) as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")

        async def publish(prefix: str) -> None:
            for i in range(5):
                await hub.publish("t", f"{prefix}{i}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(publish, "a")
            tg.start_soon(publish, "b")
        frames = [str(f) for f in await conn.wait_frames(10)]
        assert [f for f in frames if f[0] == "a"] == [f"a{i}" for i in range(5)]


async def test_a_bug_after_a_hand_off_keeps_the_hub_alive(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Hub(send_timeout=None) as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate, error=WebSocketDisconnect(1006))
        other = FakeConnection()
        await hub.subscribe(conn, "t")
        await hub.subscribe(other, "t")
        failed = hub._dispatcher._failed

        def buggy(outbox: Any, exc: Exception, handoff: HandOff | None = None) -> None:
            if outbox.conn is conn:
                raise RuntimeError("bug in a failure handler")
            failed(outbox, exc, handoff)  # pragma: no cover - only conn fails here

        monkeypatch.setattr(hub._dispatcher, "_failed", buggy)
        await hub.publish("t", "x")
        await hub.flush()
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            gate.set()
            await eventually(lambda: hub.statistics().writers == 0)
        assert "fan-out failed" in caplog.text
        await hub.publish("t", "still working")
        assert await other.wait_frames(2) == ["x", "still working"]


class Stubborn(FakeConnection):
    """Ignores cancellation: returns from a stalled send when cancelled (bad manners)."""

    async def send_frame(self, frame: str | bytes, /) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return


async def test_a_send_that_swallows_its_deadline() -> None:
    # Two mechanisms enforce the deadline: the writer's cancel scope (which this send swallows:
    # it returns as if it had sent) and the watchdog (which evicts a send still overdue). Which
    # acts first depends on scheduling, so either outcome is allowed; what must hold is that
    # the writer ends, the hub's records agree with each other, and the hub goes on working.
    async with Hub(send_timeout=0.05) as hub:
        conn, other = Stubborn(), FakeConnection()
        await hub.subscribe(conn, "t")
        await hub.subscribe(other, "t")
        await hub.publish("t", "x")
        await hub.flush()
        await eventually(lambda: hub.statistics().writers == 0)
        evicted = hub.statistics().evicted
        assert evicted in (0, 1)
        assert hub.subscribers("t") == ([conn, other] if evicted == 0 else [other])
        await hub.publish("t", "y")
        assert await other.wait_frames(2) == ["x", "y"]


async def test_the_rest_of_a_hand_off_is_checked_one_by_one() -> None:
    """After a hand-off the new leader re-checks each remaining connection: in between, one
    closed, one got a default send deadline, one's transport broke, one became busy."""
    async with Hub(send_timeout=None) as hub:
        server0: list[Callable[[Message], Awaitable[None]]] = []

        async def send0(message: Message) -> None:  # ws0's server: peer0's, then first_send
            await server0[-1](message)

        peer0 = ASGIPair()
        server0.append(peer0.send)
        socks = [await accepted(peer0, send=send0)] + [await accepted() for _ in range(5)]
        for _, ws in socks:
            await hub.subscribe(ws, "t")
        gone, later = FakeConnection(), FakeConnection()  # not WebSockets: the slow list
        await hub.subscribe(gone, "t")
        await hub.subscribe(later, "t")
        (peer0, ws0), (_, ws1), (peer2, ws2), (peer3, ws3), (peer4, ws4), (peer5, ws5) = socks
        gate, gate4 = anyio.Event(), anyio.Event()
        peer5.gate = anyio.Event()

        async def first_send(message: Message) -> None:
            # runs in the leader's first step, before it yields: change the others' state
            Port.transport_lost(ws1)  # closed
            ws2.limits = Limits(send_timeout=5)  # no longer on the direct path
            peer3.fail_send = ConnectionResetError()  # its transport is gone
            gone.end()  # a fake connection that left
            outbox4 = hub._subscriptions.lookup(ws4)
            assert outbox4 is not None
            peer4.gate = gate4
            outbox4.append({"type": "websocket.send", "text": "earlier"})
            hub._dispatcher._start_writer(outbox4)  # busy: "x" is queued behind "earlier"
            await gate.wait()
            await peer0.send(message)

        server0.append(first_send)
        await hub.publish("t", "x")
        await hub.flush()
        assert await peer2.wait_frames(1) == ["x"]  # through send_frame, from a writer
        gate4.set()
        assert await peer4.wait_frames(2) == ["earlier", "x"]  # queued behind its writer
        assert ws3.closed and not ws1.sent if hasattr(ws1, "sent") else ws3.closed
        peer5.gate.set()
        assert await peer5.wait_frames(1) == ["x"]  # its send blocked: a second hand-off
        gate.set()
        assert await peer0.wait_frames(1) == ["x"]
        assert hub.subscribers("t") == [ws0, ws2, ws4, ws5, later]
        assert later.frames == ["x"]
        assert gone.frames == []


async def test_a_blocked_direct_send_that_fails() -> None:
    async with Hub(send_timeout=None) as hub:
        peer, ws = await accepted()
        other_peer, other = await accepted()
        await hub.subscribe(ws, "t")
        await hub.subscribe(other, "t")
        peer.gate = anyio.Event()
        peer.fail_send = ConnectionResetError()
        await hub.publish("t", "x")
        await hub.flush()
        peer.gate.set()
        await eventually(lambda: ws.closed)
        assert hub.subscribers("t") == [other]
        assert hub.statistics().delivered == 1


async def test_limits_changed_after_subscribing() -> None:
    async with Hub() as hub:
        peer, ws = await accepted()
        await hub.subscribe(ws, "t")
        await hub.publish("t", "direct")
        await hub.flush()
        ws.limits = Limits(send_timeout=5)  # the cached recipient list still says "direct"
        await hub.publish("t", "through send_frame")
        assert await peer.wait_frames(2) == ["direct", "through send_frame"]


async def test_evicted_before_its_writer_started() -> None:
    class CloseFails(FakeConnection):
        async def close(self, code: int = 1000, reason: str | None = None) -> None:
            await super().close(code, reason)
            raise RuntimeError("already gone")

    async with Hub(max_queue=0, overflow="close") as hub:
        peer, ws = await accepted()
        await hub.subscribe(ws, "t")
        await hub.publish("t", "cache the recipients")
        await hub.flush()
        ws.limits = Limits(send_timeout=5)  # diverted to a writer on the next publish
        peer.gate = anyio.Event()
        hub.publish_nowait("t", "a")  # diverted: a writer task is started...
        hub.publish_nowait("t", "b")  # ...but before it runs, the outbox overflows
        await hub.flush()
        await eventually(lambda: ws.close_code is not None)
        assert hub.statistics().evicted == 1
        conn = CloseFails(stall=True)
        await hub.subscribe(conn, "u")
        await hub.publish("u", "1")
        await hub.publish("u", "2")
        assert await conn.wait_closed() == (1013, "slow consumer")


class FirstThenStall(FakeConnection):
    """Takes its first message after a gate, then never completes another send."""

    async def send_frame(self, frame: str | bytes, /) -> None:
        if self.frames:
            await anyio.sleep_forever()
        await super().send_frame(frame)


async def test_a_writer_stalls_on_a_queued_message() -> None:
    async with Hub(send_timeout=0.2) as hub:
        gate = anyio.Event()
        conn = FirstThenStall(gate=gate)
        await hub.subscribe(conn, "t")
        await hub.publish("t", "1")
        await hub.publish("t", "2")  # queued behind the blocked first send
        await hub.flush()
        gate.set()
        assert await conn.wait_closed() == (1013, "slow consumer")
        assert conn.frames == ["1"]


async def test_a_writer_send_that_fails() -> None:
    class FirstThenFail(FakeConnection):
        async def send_frame(self, frame: str | bytes, /) -> None:
            await super().send_frame(frame)
            self.error = RuntimeError("broken after the first")

    async with Hub(send_timeout=None) as hub:
        gate = anyio.Event()
        conn = FirstThenFail(gate=gate)
        await hub.subscribe(conn, "t")
        await hub.publish("t", "1")
        await hub.publish("t", "2")
        await hub.flush()
        gate.set()
        await eventually(lambda: hub.statistics().connections == 0)
        assert conn.frames == ["1"]
        assert hub.statistics().failed == 1


class Shielded(FakeConnection):
    """A send the server shields from cancellation (as hypercorn's trio worker does)."""

    async def send_frame(self, frame: str | bytes, /) -> None:
        assert self.gate is not None
        with anyio.CancelScope(shield=True):
            await self.gate.wait()
        self.record(frame)


async def test_an_overdue_send_that_cannot_be_cancelled_is_evicted() -> None:
    gate = anyio.Event()
    async with Hub(send_timeout=0.05) as hub:
        try:
            stuck, ok = Shielded(gate=gate), FakeConnection()
            await hub.subscribe(stuck, "t")
            await hub.subscribe(ok, "t")
            await hub.publish("t", "1")  # its send blocks, deaf to the deadline...
            assert await stuck.wait_closed() == (1013, "slow consumer")  # ...the watchdog acts
            assert hub.subscribers("t") == [ok]
            assert await ok.wait_frames(1) == ["1"]
        finally:
            gate.set()  # let the shielded send end, so the hub can stop


async def test_a_publish_finds_a_send_overdue() -> None:
    gate = anyio.Event()
    async with Hub(send_timeout=60) as hub:
        try:
            stuck = Shielded(gate=gate)
            await hub.subscribe(stuck, "t")
            await hub.publish("t", "1")
            outbox = hub._subscriptions.lookup(stuck)
            assert outbox is not None
            outbox.since -= 61  # as if its send had started a minute ago
            await hub.publish("t", "2")
            assert await stuck.wait_closed() == (1013, "slow consumer")
        finally:
            gate.set()
