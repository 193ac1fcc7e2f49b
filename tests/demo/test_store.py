"""The demo's room stores: the same behaviour in memory and in Redis (a real redis-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from tests._services import redis_server
from wskit.demo.protocol import ChatMessage, Member, Presence
from wskit.demo.store import MAX_ROOMS_WITH_HISTORY, MemoryStore, RedisStore, RoomStore
from wskit.exceptions import BackendUnavailable

ALICE = Member(sid="n1-1", name="alice")
BOB = Member(sid="n2-1", name="bob")


def message(room: str, n: int) -> ChatMessage:
    return ChatMessage(room=room, id=f"n1-1-{n}", sid="n1-1", name="alice", text=f"m{n}", ts=n)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    if request.param == "memory":
        yield MemoryStore(history=3)
        return
    import coredis

    url: str = request.getfixturevalue("redis_url")
    async with coredis.Redis.from_url(url, decode_responses=True) as client:
        await client.flushall()
        yield RedisStore(client, history=3, presence_ttl=30)


async def test_presence_follows_joins_and_leaves(store: RoomStore) -> None:
    first = await store.join("lobby", ALICE)
    second = await store.join("lobby", BOB)
    assert first.members == [ALICE]
    assert sorted(m.name for m in second.members) == ["alice", "bob"]
    assert second.version > first.version
    left = await store.leave("lobby", ALICE)
    assert left.members == [BOB]
    assert left.version > second.version
    now = await store.presence("lobby")
    assert now.members == [BOB]
    assert now.version == left.version
    assert (await store.presence("elsewhere")).members == []


async def test_leaving_twice_is_harmless(store: RoomStore) -> None:
    await store.join("lobby", ALICE)
    await store.leave("lobby", ALICE)
    again = await store.leave("lobby", ALICE)
    assert again.members == []


async def test_history_keeps_the_last_messages_oldest_first(store: RoomStore) -> None:
    assert await store.history("lobby") == []
    for n in range(5):
        await store.add_message(message("lobby", n))
    await store.add_message(message("other", 9))
    assert [m.text for m in await store.history("lobby")] == ["m2", "m3", "m4"]
    assert [m.text for m in await store.history("other")] == ["m9"]


async def test_refresh_is_accepted(store: RoomStore) -> None:
    await store.join("lobby", ALICE)
    await store.refresh([("lobby", ALICE)])
    await store.refresh([])
    assert (await store.presence("lobby")).members == [ALICE]


async def test_no_history_when_disabled() -> None:
    store = MemoryStore(history=0)
    await store.add_message(message("lobby", 1))
    assert await store.history("lobby") == []
    with pytest.raises(ValueError, match="history"):
        MemoryStore(history=-1)


async def test_memory_store_bounds_rooms_with_history() -> None:
    store = MemoryStore(history=1)
    for n in range(MAX_ROOMS_WITH_HISTORY + 5):
        await store.add_message(message(f"r{n}", n))
    await store.add_message(message("r5", 1))  # recently used: kept
    await store.add_message(message("new", 1))
    assert await store.history("r0") == []
    assert [m.text for m in await store.history("r5")] == ["m1"]


async def test_redis_members_of_a_dead_process_expire(redis_url: str) -> None:
    import coredis

    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        await client.flushall()
        store = RedisStore(client, presence_ttl=0.3)
        await store.join("lobby", ALICE)  # a process that will never refresh alice
        await store.join("lobby", BOB)
        for _ in range(3):
            await anyio.sleep(0.15)
            await store.refresh([("lobby", BOB)])  # a live process refreshing bob
        assert (await store.presence("lobby")).members == [BOB]


class _BrokenClient:
    """Stands in for a coredis client whose server is gone (or hangs)."""

    def __init__(self, hang: bool) -> None:
        self.hang = hang

    async def _fail(self) -> None:
        from coredis.exceptions import ConnectionError

        if self.hang:
            await anyio.sleep_forever()
        raise ConnectionError("Connection refused")

    def pipeline(self, transaction: bool = True) -> _BrokenClient:
        return self

    async def __aenter__(self) -> None:
        await self._fail()

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def lrange(self, key: str, start: int, stop: int) -> list[str]:
        await self._fail()
        return []


@pytest.mark.parametrize("hang", [False, True], ids=["refused", "hangs"])
async def test_redis_failures_are_a_typed_error(hang: bool) -> None:
    store = RedisStore(_BrokenClient(hang), history=2, timeout=0.05)  # type: ignore[arg-type]
    calls = [
        store.join("lobby", ALICE),
        store.leave("lobby", ALICE),
        store.presence("lobby"),
        store.add_message(message("lobby", 1)),
        store.history("lobby"),
        store.refresh([("lobby", ALICE)]),
    ]
    for call in calls:
        with pytest.raises(BackendUnavailable) as info:
            await call
        assert info.value.__cause__ is not None


def test_redis_store_checks_its_options() -> None:
    with pytest.raises(ValueError, match="presence_ttl"):
        RedisStore(_BrokenClient(False), presence_ttl=0)  # type: ignore[arg-type]


async def test_memory_store_forgets_empty_rooms() -> None:
    store = MemoryStore()
    await store.join("lobby", ALICE)
    await store.leave("lobby", ALICE)
    assert await store.presence("lobby") == Presence(room="lobby", members=[], version=0)
