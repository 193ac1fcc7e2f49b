"""One contract, every backend: memory, Redis, and sharded Redis (a one-node cluster).

Two backends (or two hubs) that share a broker stand for two processes sharing Redis. The same
assertions run against each, so a backend cannot drift from the others.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import msgspec
import pytest

from tests._services import timeout
from wskit.codecs import MSGPACK
from wskit.exceptions import BackendUnavailable, MessageTooBig
from wskit.pubsub import Backend, Hub
from wskit.pubsub._wire import decode_envelope

from ._fakes import FakeConnection, binary
from .conftest import BackendFactory, wait_connected


async def _next(stream: AsyncIterator[tuple[str, bytes]]) -> tuple[str, bytes]:
    with anyio.fail_after(timeout(5)):
        return await anext(stream)


class Chat(msgspec.Struct):
    user: str
    text: str


# -- the backend protocol, bytes in and bytes out -----------------------------------------


async def test_roundtrip_in_order_and_only_subscribed_topics(make_backend: BackendFactory) -> None:
    async with make_backend() as receiver, make_backend() as sender:
        await wait_connected(receiver, sender)
        stream = receiver.messages()
        await receiver.subscribe(["a"])
        await sender.publish("b", b"not for you")
        for i in range(50):
            await sender.publish("a", b"%d" % i)
        received = [await _next(stream) for _ in range(50)]
        assert received == [("a", b"%d" % i) for i in range(50)]
        assert receiver.statistics().received >= 50
        assert sender.statistics().published >= 51


async def test_publish_nowait_and_unsubscribe(make_backend: BackendFactory) -> None:
    async with make_backend() as receiver, make_backend() as sender:
        await wait_connected(receiver, sender)
        stream = receiver.messages()
        await receiver.subscribe(["a", "b"])
        sender.publish_nowait("a", b"1")
        assert await _next(stream) == ("a", b"1")
        await receiver.unsubscribe(["a"])
        await receiver.unsubscribe(["never subscribed"])
        await sender.publish("a", b"gone")
        await sender.publish("b", b"sentinel")
        assert await _next(stream) == ("b", b"sentinel")
        assert receiver.statistics().subscriptions == 1


async def test_max_payload_is_refused(make_backend: BackendFactory) -> None:
    async with make_backend(max_payload=100) as backend:
        await wait_connected(backend)
        with pytest.raises(MessageTooBig) as info:
            await backend.publish("a", b"x" * 101)
        assert (info.value.size, info.value.limit) == (101, 100)
        with pytest.raises(MessageTooBig):
            backend.publish_nowait("a", b"x" * 101)
        await backend.publish("a", b"x" * 100)


async def test_patterns_or_a_clear_refusal(make_backend: BackendFactory) -> None:
    async with make_backend() as receiver, make_backend() as sender:
        await wait_connected(receiver, sender)
        if not receiver.supports_patterns:
            with pytest.raises(ValueError, match="patterns"):
                await receiver.subscribe(["room.*"], patterns=True)
            return
        stream = receiver.messages()
        await receiver.subscribe(["room.*", "room.?"], patterns=True)
        await receiver.subscribe(["room.1"])
        await sender.publish("other.1", b"no")
        await sender.publish("room.1", b"once")  # exact + two patterns: one copy
        await sender.publish("room.22", b"pattern")
        assert await _next(stream) == ("room.1", b"once")
        assert await _next(stream) == ("room.22", b"pattern")
        await receiver.unsubscribe(["room.*"], patterns=True)
        await sender.publish("room.33", b"no")
        await sender.publish("room.1", b"sentinel")
        assert await _next(stream) == ("room.1", b"sentinel")


async def test_history_keeps_the_last_messages(make_backend: BackendFactory) -> None:
    async with make_backend() as backend:
        await wait_connected(backend)
        for i in range(5):
            await backend.publish("h", b"%d" % i, history=3)
        await backend.publish("h", b"no history")
        items = await backend.history("h")
        datas = [data for _, data in items]
        # Redis trims with MAXLEN ~ (whole nodes): at least the last 3, in order.
        assert datas[-3:] == [b"2", b"3", b"4"]
        ids = [ident for ident, _ in items]
        after = await backend.history("h", after=ids[-2])
        assert [data for _, data in after] == [b"4"]
        assert len(await backend.history("h", limit=1)) == 1
        assert await backend.history("nothing here") == []


def _running(backend: Backend) -> bool:
    return backend.running  # a call: mypy does not narrow it across the block below


async def test_not_running(make_backend: BackendFactory) -> None:
    backend = make_backend()
    assert not _running(backend)
    with pytest.raises(BackendUnavailable):
        await backend.publish("a", b"1")
    with pytest.raises(RuntimeError, match="not running"):
        backend.messages()
    async with backend:
        assert backend.running
        backend.messages()
        with pytest.raises(RuntimeError, match="one reader"):
            backend.messages()
        with pytest.raises(RuntimeError, match="already running"):
            await backend.start()
    assert not _running(backend)
    await backend.close()  # idempotent


# -- two hubs: what an application sees --------------------------------------------------


async def _hubs(make_backend: BackendFactory, **options: object) -> tuple[Hub, Hub]:
    return Hub(make_backend(), **options), Hub(make_backend(), **options)  # type: ignore[arg-type]


async def test_local_and_remote_delivery_in_order(make_backend: BackendFactory) -> None:
    one, two = await _hubs(make_backend)
    async with one, two:
        await wait_connected(one.backend, two.backend)
        here, there = FakeConnection(name="here"), FakeConnection(name="there")
        await one.subscribe(here, "room")
        await two.subscribe(there, "room")
        for i in range(100):
            await one.publish("room", {"i": i})
        expected = [f'{{"i":{i}}}' for i in range(100)]
        assert await here.wait_frames(100) == expected
        assert await there.wait_frames(100) == expected
        await one.flush()
        assert len(here.frames) == 100  # its own echo is not delivered twice
        assert two.statistics().received == 100
        assert one.statistics().received == 0


async def test_codecs_and_raw_frames_across_processes(make_backend: BackendFactory) -> None:
    one, two = await _hubs(make_backend)
    async with one, two:
        await wait_connected(one.backend, two.backend)
        json_conn, msgpack_conn = FakeConnection(), FakeConnection(MSGPACK)
        await two.subscribe(json_conn, "t")
        await two.subscribe(msgpack_conn, "t")
        await one.publish("t", {"a": 1})
        await one.publish("t", "text as is")
        await one.publish("t", b"\x00bytes")
        assert await json_conn.wait_frames(3) == ['{"a":1}', "text as is", b"\x00bytes"]
        frames = await msgpack_conn.wait_frames(3)
        assert msgspec.msgpack.decode(binary(frames[0])) == {"a": 1}
        assert frames[1:] == ["text as is", b"\x00bytes"]


async def test_typed_topic_decodes_remote_messages(make_backend: BackendFactory) -> None:
    one, two = await _hubs(make_backend)
    async with one, two:
        await wait_connected(one.backend, two.backend)
        sender = one.topic("chat", type=Chat)
        receiver = two.topic("chat", type=Chat)
        conn = FakeConnection(MSGPACK)
        await receiver.subscribe(conn)
        await sender.publish(Chat("ann", "hi"))
        (frame,) = await conn.wait_frames(1)
        assert msgspec.msgpack.decode(binary(frame), type=Chat) == Chat("ann", "hi")


async def test_unsubscribe_stops_remote_delivery(make_backend: BackendFactory) -> None:
    one, two = await _hubs(make_backend)
    async with one, two:
        await wait_connected(one.backend, two.backend)
        conn = FakeConnection()
        await two.subscribe(conn, "a")
        await two.subscribe(conn, "b")
        await two.unsubscribe(conn, "a")
        assert two.backend.statistics().subscriptions == 1
        await one.publish("a", "no")
        await one.publish("b", "sentinel")
        assert await conn.wait_frames(1) == ["sentinel"]


async def test_history_through_the_hub(make_backend: BackendFactory) -> None:
    one, two = await _hubs(make_backend, history=10)
    async with one, two:
        await wait_connected(one.backend, two.backend)
        chat = one.topic("room", type=Chat)
        await chat.publish(Chat("ann", "1"))
        with pytest.raises(TypeError, match="takes Chat"):
            await one.publish("room", "not a Chat")
        await one.publish("room", Chat("bob", "2"))
        await one.publish("raw", b"\x01")
        entries = await two.history("room")
        frames = [entry.frame for entry in entries[-2:]]
        assert frames == ['{"user":"ann","text":"1"}', '{"user":"bob","text":"2"}']
        assert entries[-2].value(Chat) == Chat("ann", "1")
        later = await two.history("room", after=entries[-2].id)
        assert [entry.value(Chat) for entry in later] == [Chat("bob", "2")]
        assert [(e.frame, e.value()) for e in await two.history("raw")] == [(b"\x01", b"\x01")]
        assert await two.topic("room", type=Chat).history(after=entries[-2].id) == [
            (later[0].id, Chat("bob", "2"))
        ]


async def test_malformed_bytes_are_counted_and_dropped(make_backend: BackendFactory) -> None:
    hub = Hub(make_backend())
    raw: Backend = make_backend()
    async with hub, raw:
        await wait_connected(hub.backend, raw)
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        await raw.publish("t", b"\xc1 not msgpack")
        await raw.publish("t", msgspec.msgpack.encode([99, b"o" * 16, 1, 0, "", b"future"]))
        one = Hub(make_backend())
        async with one:
            await wait_connected(one.backend)
            await one.publish("t", "ok")
            assert await conn.wait_frames(1) == ["ok"]
        assert hub.statistics().malformed == 2
        assert decode_envelope(b"\xc1") is None


async def test_copies_and_late_arrivals_are_dropped(make_backend: BackendFactory) -> None:
    """A broker that hands a message over twice (a cluster client retrying a pipeline the
    cluster refused in part) or late: per publishing hub and topic, only newer ones pass."""
    hub, one = Hub(make_backend()), Hub(make_backend())
    raw: Backend = make_backend()
    async with hub, one, raw:
        await wait_connected(hub.backend, one.backend, raw)
        conn = FakeConnection()
        await hub.subscribe(conn, "t")
        stream = raw.messages()
        await raw.subscribe(["t"])
        await one.publish("t", "a")
        await one.publish("t", "b")
        assert await conn.wait_frames(2) == ["a", "b"]
        first, second = (await _next(stream))[1], (await _next(stream))[1]
        await raw.publish("t", second)  # a copy
        await raw.publish("t", first)  # a late arrival
        await one.publish("t", "c")
        assert await conn.wait_frames(3) == ["a", "b", "c"]
        assert hub.statistics().duplicates == 2
