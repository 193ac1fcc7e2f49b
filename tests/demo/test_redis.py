"""Two demo servers sharing one redis-server: rooms, presence and history cross processes.

Each server is a separate app (its own hub, store and Redis connections), as two worker
processes of ``wskit demo --workers 2`` are; here they run in one event loop so the test
needs no sockets besides Redis. The process-level version is ``test_workers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from tests._services import redis_server
from tests.demo.test_app import chat, collect, join, names, receive, request
from wskit.demo.app import DemoConfig, create_app
from wskit.testing import TestClient

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


PRESENCE_TTL = 2.0


async def test_two_servers_share_rooms_presence_and_history(redis_url: str) -> None:
    import coredis

    async with coredis.Redis.from_url(redis_url) as redis:
        await redis.flushall()
    # presence_ttl: members are refreshed every third of it, so a refresher must be starved for
    # two thirds of it before a listed member lapses: wide enough for a busy machine.
    config = DemoConfig(redis_url=redis_url, history=5, presence_ttl=PRESENCE_TTL)
    async with TestClient(create_app(config)) as one, TestClient(create_app(config)) as two:
        async with chat(one, "alice") as alice, chat(two, "bob") as bob:
            assert alice.sid.split("-")[0] != bob.sid.split("-")[0]  # type: ignore[attr-defined]
            await join(alice, "lobby")
            await request(alice, "message.send", {"room": "lobby", "text": "before bob"}, 2)
            await collect(alice, "message.sent", "message.new")
            history, presence = await join(bob, "lobby")
            assert [m["text"] for m in history["payload"]["messages"]] == ["before bob"]
            assert names(presence) == ["alice", "bob"]
            assert names(await receive(alice, "presence")) == ["alice", "bob"]

            await request(bob, "message.send", {"room": "lobby", "text": "hi from two"}, 3)
            new = await receive(alice, "message.new")
            assert (new["payload"]["name"], new["payload"]["text"]) == ("bob", "hi from two")
            await request(alice, "typing", {"room": "lobby", "active": True}, None)
            typing = await receive(bob, "typing", skip=("message.new", "message.sent"))
            assert typing["payload"]["name"] == "alice"
            # Longer than presence_ttl: only each server's refresher keeps its members listed.
            await anyio.sleep(PRESENCE_TTL * 1.25)
            async with chat(two, "carol") as carol:
                _, presence = await join(carol, "lobby")
                assert names(presence) == ["alice", "bob", "carol"]
        # All left: a new visitor finds the room empty but its history kept.
        async with chat(one, "dave") as dave:
            history, presence = await join(dave, "lobby")
            assert names(presence) == ["dave"]
            texts = [m["text"] for m in history["payload"]["messages"]]
            assert texts == ["before bob", "hi from two"]


async def test_no_history_in_redis(redis_url: str) -> None:
    import coredis

    from wskit.demo.protocol import ChatMessage
    from wskit.demo.store import RedisStore

    async with coredis.Redis.from_url(redis_url, decode_responses=True) as client:
        await client.flushall()
        store = RedisStore(client, history=0)
        await store.add_message(ChatMessage("lobby", "1", "s", "n", "text", 1))
        assert await store.history("lobby") == []
        assert await client.keys("wskit-demo:*") == set()
