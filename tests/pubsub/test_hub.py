"""The Hub's API with fake connections: lifecycle, subscriptions, typed topics, patterns, codecs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec
import pytest

from wskit.codecs import MSGPACK, JSONCodec
from wskit.exceptions import (
    BackendError,
    BackendUnavailable,
    MessageTooBig,
    WebSocketDisconnected,
    WouldBlock,
)
from wskit.pubsub import Hub, HubStatistics, MemoryBackend, MemoryBroker

from ._fakes import FakeConnection, binary
from ._wait import eventually


class Point(msgspec.Struct):
    x: int
    y: int


class CountingCodec(JSONCodec):
    """JSON that counts how many times it encodes."""

    __slots__ = ()
    calls = 0

    def encode_frame(self, value: object) -> str | bytes:
        type(self).calls += 1
        return super().encode_frame(value)


class BrokenCodec(JSONCodec):
    __slots__ = ()
    name = "broken"

    def encode_frame(self, value: object) -> str | bytes:
        raise TypeError("cannot encode")


# -- lifecycle ---------------------------------------------------------------------------------


async def test_not_running_and_restart() -> None:
    hub = Hub()
    conn = FakeConnection()
    assert "stopped" in repr(hub)
    calls: list[Callable[[], Awaitable[None]]] = [
        lambda: hub.subscribe(conn, "t"),
        lambda: hub.publish("t", 1),
        lambda: hub.broadcast(1),
        hub.flush,
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="not running"):
            await call()
    with pytest.raises(RuntimeError, match="not running"):
        hub.publish_nowait("t", 1)
    with pytest.raises(RuntimeError, match="not running"):
        hub.add(conn)
    await hub.aclose()  # nothing to close
    async with hub as same:
        assert same is hub
        assert hub.running
        assert "running" in repr(hub)
        with pytest.raises(RuntimeError, match="already running"):
            await hub.start()
        await hub.subscribe(conn, "t")
    assert hub.statistics().connections == 0  # closing forgets every connection
    await hub.start()  # a hub can run again
    try:
        await hub.subscribe(conn, "t")
        await hub.publish("t", "again")
        assert await conn.wait_frames(1) == ["again"]
    finally:
        await hub.aclose()


async def test_backend_started_by_the_user_is_left_running() -> None:
    backend = MemoryBackend()
    async with backend:
        async with Hub(backend) as hub:
            assert hub.backend is backend
            assert hub.is_process_local
        assert backend.running


async def test_a_backend_that_fails_to_start() -> None:
    class Failing(MemoryBackend):
        def messages(self) -> Any:
            raise RuntimeError("boom")

    hub = Hub(Failing())
    with pytest.raises(RuntimeError, match="boom"):
        await hub.start()
    assert not hub.running
    assert not hub.backend.running


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_queue": -1}, "max_queue"),
        ({"send_timeout": 0}, "send_timeout"),
        ({"history": -1}, "history"),
        ({"overflow": "explode"}, "overflow"),
    ],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Hub(**options)


# -- subscriptions ----------------------------------------------------------------------------


async def test_subscribe_validation() -> None:
    class NoPatterns(MemoryBackend):
        supports_patterns = False

    class Name(str):
        pass

    async with Hub() as hub, Hub(NoPatterns()) as plain:
        conn = FakeConnection()
        with pytest.raises(ValueError, match="empty"):
            await hub.subscribe(conn, "")
        with pytest.raises(TypeError, match="str"):
            await hub.subscribe(conn, 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="overflow"):
            await hub.subscribe(conn, "t", overflow="nope")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="only"):
            await hub.subscribe(conn, "room.[ab]", pattern=True)
        with pytest.raises(ValueError, match="patterns"):
            await plain.subscribe(conn, "room.*", pattern=True)
        await hub.subscribe(conn, Name("named"))
        assert hub.topics(conn) == ["named"]
        assert type(hub.topics(conn)[0]) is str


async def test_subscribe_a_closed_connection() -> None:
    async with Hub() as hub:
        conn = FakeConnection()
        conn.end()

        def closed_at_once(callback: Any) -> None:
            callback(conn)

        conn.add_close_callback = closed_at_once  # type: ignore[method-assign]
        with pytest.raises(WebSocketDisconnected):
            await hub.subscribe(conn, "t")
        assert hub.statistics().connections == 0


async def test_topics_subscribers_unsubscribe() -> None:
    async with Hub() as hub:
        a, b = FakeConnection(name="a"), FakeConnection(name="b")
        await hub.subscribe(a, "room.1")
        await hub.subscribe(a, "room.*", pattern=True)
        await hub.subscribe(b, "room.2")
        assert hub.topics(a) == ["room.1", "room.*"]
        assert hub.subscribers("room.1") == [a]
        assert hub.subscribers("room.2") == [b, a]
        assert hub.subscribers("nothing") == []
        assert hub.topics(FakeConnection()) == []
        await hub.unsubscribe(FakeConnection(), "room.1")  # unknown connection: nothing
        await hub.unsubscribe(a, "not subscribed")
        await hub.unsubscribe(a, "room.*")
        assert hub.subscribers("room.2") == [b]
        stats = hub.statistics()
        assert (stats.connections, stats.topics, stats.patterns) == (2, 2, 0)
        assert hub.backend.statistics().subscriptions == 2
        await hub.unsubscribe(a, "room.1")
        assert hub.statistics().topics == 1
        assert hub.backend.statistics().subscriptions == 1
        assert hub.statistics().connections == 2  # known until it closes (broadcast)


async def test_closing_ends_every_subscription() -> None:
    async with Hub() as hub:
        conn, other = FakeConnection(), FakeConnection()
        await hub.subscribe(conn, "a")
        await hub.subscribe(conn, "b.*", pattern=True)
        await hub.subscribe(other, "a")
        conn.end()
        assert hub.topics(conn) == []
        assert hub.subscribers("a") == [other]
        await hub.flush()
        await eventually(lambda: hub.backend.statistics().subscriptions == 1)
        assert hub.statistics().patterns == 0


async def test_resubscribe_changes_the_policy() -> None:
    async with Hub(max_queue=1, send_timeout=None) as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate)
        await hub.subscribe(conn, "t")
        await hub.subscribe(conn, "t", overflow="drop_newest")
        for i in range(4):
            await hub.publish("t", i)
        await hub.flush()
        gate.set()
        assert await conn.wait_frames(2) == ["0", "1"]  # in flight, then the kept one


async def test_add_remove_and_broadcast() -> None:
    async with Hub() as hub:
        listener, subscriber = FakeConnection(), FakeConnection(MSGPACK)
        hub.add(listener)
        hub.add(listener)  # known already
        await hub.subscribe(subscriber, "t")
        await hub.broadcast({"all": True})
        assert await listener.wait_frames(1) == ['{"all":true}']
        assert msgspec.msgpack.decode(binary((await subscriber.wait_frames(1))[0])) == {"all": True}
        hub.remove(listener)
        hub.remove(FakeConnection())
        await hub.broadcast("again")
        await hub.flush()
        assert listener.frames == ['{"all":true}']
        assert subscriber.frames[-1] == "again"


async def test_subscribers_gone_before_the_fan_out() -> None:
    async with Hub() as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        hub.publish_nowait("t", "queued")  # the leader has not run yet...
        conn.end()  # ...and the only subscriber leaves
        await hub.flush()
        assert conn.frames == []


async def test_publish_without_subscribers_and_flush() -> None:
    async with Hub() as hub:
        await hub.publish("nobody", {"x": 1})
        hub.publish_nowait("nobody", b"raw")
        await hub.flush()
        stats = hub.statistics()
        assert isinstance(stats, HubStatistics)
        assert (stats.published, stats.delivered, stats.pending) == (2, 0, 0)


# -- encoding ---------------------------------------------------------------------------------


async def test_encoded_once_per_codec() -> None:
    CountingCodec.calls = 0
    codec = CountingCodec()
    async with Hub(codec=MSGPACK) as hub:
        conns = [FakeConnection(codec) for _ in range(10)] + [FakeConnection(MSGPACK)]
        for conn in conns:
            await hub.subscribe(conn, "t")
        await hub.publish("t", Point(1, 2))
        await hub.flush()
        assert CountingCodec.calls == 1
        assert {conn.frames[0] for conn in conns[:10]} == {'{"x":1,"y":2}'}
        assert msgspec.msgpack.decode(binary(conns[10].frames[0]), type=Point) == Point(1, 2)


async def test_encoding_errors(caplog: pytest.LogCaptureFixture) -> None:
    async with Hub() as hub:
        good, broken = FakeConnection(), FakeConnection(BrokenCodec())
        await hub.subscribe(good, "t")
        await hub.subscribe(broken, "t")
        with pytest.raises(TypeError):
            await hub.publish("t", object())
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await hub.publish("t", {"ok": 1})
            await hub.flush()
        assert good.frames == ['{"ok":1}']
        assert broken.frames == []
        assert "cannot encode a message of topic 't'" in caplog.text


async def test_max_payload() -> None:
    async with Hub(MemoryBackend(max_payload=64)) as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        with pytest.raises(MessageTooBig):
            await hub.publish("t", "x" * 100)
        with pytest.raises(MessageTooBig):
            hub.publish_nowait("t", "x" * 100)
        await hub.publish("t", "small")
        assert await conn.wait_frames(1) == ["small"]


# -- flow control -----------------------------------------------------------------------------


async def test_publish_nowait_would_block_and_publish_waits() -> None:
    async with Hub(max_pending=2) as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        hub.publish_nowait("t", "0")
        hub.publish_nowait("t", "1")
        with pytest.raises(WouldBlock):
            hub.publish_nowait("t", "2")
        await hub.publish("t", "2")  # waits for room
        await hub.publish("t", "3")
        assert await conn.wait_frames(4) == ["0", "1", "2", "3"]


async def test_backend_unavailable_still_delivers_locally() -> None:
    class Down(MemoryBackend):
        def publish_nowait(self, topic: str, data: bytes, *, history: int = 0) -> None:
            raise BackendUnavailable("down")

        async def publish(self, topic: str, data: bytes, *, history: int = 0) -> None:
            raise BackendUnavailable("down")

    async with Hub(Down()) as hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        with pytest.raises(BackendUnavailable):
            hub.publish_nowait("t", "a")
        with pytest.raises(BackendUnavailable):
            await hub.publish("t", "b")
        assert await conn.wait_frames(2) == ["a", "b"]


async def test_backend_refusing_a_subscription(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(MemoryBackend):
        async def subscribe(self, topics: Any, *, patterns: bool = False) -> None:
            raise BackendError("no")

    async with Hub(Refusing()) as hub:
        conn = FakeConnection()
        with caplog.at_level(logging.WARNING, "wskit.pubsub"):
            await hub.subscribe(conn, "t")
        assert "refused subscribing" in caplog.text
        await hub.publish("t", "local works")
        assert await conn.wait_frames(1) == ["local works"]


async def test_history_needs_a_size() -> None:
    async with Hub() as hub:
        with pytest.raises(RuntimeError, match="history"):
            await hub.history("t")


# -- typed topics and patterns ----------------------------------------------------------------


async def test_typed_topics() -> None:
    async with Hub() as hub:
        points = hub.topic("points", type=Point)
        assert "Point" in repr(points)
        assert hub.topic("points").type is Point
        with pytest.raises(ValueError, match="already registered"):
            hub.register_topic("points", int)
        hub.register_topic("points", Point)  # the same type again is fine
        numbers = hub.register_topic("numbers", list[int])
        conn = FakeConnection()
        await points.subscribe(conn)
        await numbers.subscribe(conn)
        assert points.subscribers() == [conn]
        with pytest.raises(TypeError, match="takes Point"):
            await points.publish({"x": 1, "y": 2})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="numbers"):
            await hub.publish("numbers", [1, "two"])
        points.publish_nowait(Point(1, 2))
        await numbers.publish([1, 2])
        assert await conn.wait_frames(2) == ['{"x":1,"y":2}', "[1,2]"]
        await points.unsubscribe(conn)
        assert hub.topics(conn) == ["numbers"]
        untyped = hub.topic("free")
        assert untyped.type is object
        assert "object" in repr(untyped)


async def test_patterns_deliver_once_and_follow_changes() -> None:
    async with Hub() as hub:
        conn, other = FakeConnection(), FakeConnection()
        await hub.subscribe(conn, "room.1")
        await hub.publish("room.1", "exact")  # caches the recipient list
        await hub.subscribe(conn, "room.*", pattern=True)
        await hub.subscribe(other, "room.?", pattern=True, overflow="drop_newest")
        await hub.publish("room.1", "both")  # exact + pattern: once
        await hub.publish("room.22", "pattern only")
        await hub.publish("hall", "nobody")
        assert await conn.wait_frames(3) == ["exact", "both", "pattern only"]
        assert other.frames == ["both"]


async def test_pattern_subscriptions_share_and_follow_policies() -> None:
    async with Hub(max_queue=1, send_timeout=None) as hub:
        gate = anyio.Event()
        slow, quick, other = FakeConnection(gate=gate), FakeConnection(), FakeConnection()
        await hub.subscribe(slow, "room.*", pattern=True, overflow="drop_newest")
        await hub.subscribe(quick, "room.*", pattern=True)  # the same pattern, again
        await hub.subscribe(other, "room.*", pattern=True)
        await hub.unsubscribe(other, "room.*")  # the pattern stays: two subscribers left
        assert hub.statistics().patterns == 1
        for i in range(4):
            await hub.publish("room.1", i)
        await hub.flush()
        gate.set()
        assert await slow.wait_frames(2) == ["0", "1"]  # drop_newest, from its pattern
        assert await quick.wait_frames(4) == ["0", "1", "2", "3"]


async def test_policies_of_broadcasts_and_second_patterns() -> None:
    async with Hub(max_queue=1, overflow="drop_newest", send_timeout=None) as hub:
        gate = anyio.Event()
        conn = FakeConnection(gate=gate)
        await hub.subscribe(conn, "hall.*", pattern=True, overflow="drop_oldest")
        await hub.subscribe(conn, "room.*", pattern=True, overflow="drop_oldest")
        for i in range(3):
            await hub.broadcast(f"b{i}")  # no topic: the hub's policy, drop_newest
        await hub.flush()
        outbox = hub._subscriptions.lookup(conn)
        assert "busy queued=1 dropped=1" in repr(outbox)
        for i in range(3):
            await hub.publish("room.1", f"r{i}")  # the second pattern's policy
        await hub.flush()
        gate.set()
        assert await conn.wait_frames(2) == ["b0", "r2"]


async def test_broadcast_reuses_the_recipient_list() -> None:
    async with Hub() as hub:
        conn = FakeConnection()
        hub.add(conn)
        await hub.broadcast("one")
        await hub.broadcast("two")
        assert await conn.wait_frames(2) == ["one", "two"]
        assert hub.send_timeout == 5.0


async def test_closing_drops_what_waits_for_the_fan_out() -> None:
    hub = Hub()
    async with hub:
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        for i in range(3):
            hub.publish_nowait("t", i)  # the leader has not run yet
        assert hub.statistics().pending == 3
    assert conn.frames == []


class CustomCodec(JSONCodec):
    __slots__ = ()
    name = "custom"


async def test_transcoding_between_processes(caplog: pytest.LogCaptureFixture) -> None:
    broker = MemoryBroker()
    msgpack_hub = Hub(MemoryBackend(broker), codec=MSGPACK)
    custom_hub = Hub(MemoryBackend(broker), codec=CustomCodec())
    json_hub = Hub(MemoryBackend(broker))
    async with msgpack_hub, custom_hub, json_hub:
        plain, custom = FakeConnection(), FakeConnection(CustomCodec())
        await json_hub.subscribe(plain, "t")
        await json_hub.subscribe(custom, "t")
        await msgpack_hub.publish("t", {"from": "msgpack"})  # decoded by the built-in codec
        await custom_hub.publish("t", {"from": "custom"})  # decoded by a local connection's
        assert await plain.wait_frames(2) == ['{"from":"msgpack"}', '{"from":"custom"}']
        assert await custom.wait_frames(2) == ['{"from":"msgpack"}', '{"from":"custom"}']
        json_hub.remove(custom)
        with caplog.at_level(logging.ERROR, "wskit.pubsub"):
            await custom_hub.publish("t", {"from": "nobody knows"})
            await custom_hub.publish("t", "sentinel")
            assert await plain.wait_frames(3) == [
                '{"from":"msgpack"}',
                '{"from":"custom"}',
                "sentinel",
            ]
        assert "no codec named 'custom'" in caplog.text


async def test_history_skips_foreign_entries_and_buffers_overflow() -> None:
    broker = MemoryBroker()
    async with Hub(MemoryBackend(broker), history=5) as hub:
        raw = MemoryBackend(broker)
        async with raw:
            await raw.publish("t", b"not an envelope", history=5)
        await hub.publish("t", "kept")
        assert [entry.frame for entry in await hub.history("t")] == ["kept"]
    small = MemoryBackend(max_buffer=1)
    sender = MemoryBackend(small.broker)
    async with small, sender:
        await small.subscribe(["t"])
        sender.publish_nowait("t", b"1")
        sender.publish_nowait("t", b"2")
        assert small.statistics().dropped == 1


async def test_subscription_changes_that_cancel_out() -> None:
    async with Hub() as hub:
        first, second = FakeConnection(), FakeConnection()
        await hub.subscribe(first, "t")
        first.end()  # marks "t" for an unsubscribe...
        await hub.subscribe(second, "t")  # ...which this cancels before it is sent
        assert hub.backend.statistics().subscriptions == 1


def test_lazy_exports() -> None:
    import wskit.pubsub as pubsub
    import wskit.pubsub.backends as backends

    assert pubsub.RedisBackend is backends.RedisBackend
    with pytest.raises(AttributeError):
        _ = pubsub.Nothing
    with pytest.raises(AttributeError):
        _ = backends.Nothing
