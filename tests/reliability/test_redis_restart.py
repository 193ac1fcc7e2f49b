"""Case 8: Redis is killed (SIGKILL) and restarted under publish load.

Two hubs on two ``RedisBackend`` objects stand for two server processes (the same code runs
in one process as in two: each backend has its own connections and subscription). Hub A's
publisher sends a sequence number every few milliseconds throughout.

Defined outcome:

* while Redis is down, ``publish`` raises ``BackendUnavailable`` (a typed error) within its
  deadline and never hangs;
* local delivery is unaffected: hub A's own subscriber gets **every** number, in order;
* the other process's subscriber gets numbers in order without duplicates, and every number
  published after both links came back (delivery across processes is at most once);
* after recovery, no task is left over and the traced memory is back near where it was.
"""

from __future__ import annotations

import gc
import itertools
import tempfile
import tracemalloc
from pathlib import Path

import anyio
import pytest

from tests._services import timeout
from tests.pubsub.conftest import RedisProcess
from wskit.app import App
from wskit.connection import WebSocket
from wskit.exceptions import BackendError, BackendUnavailable, WebSocketDisconnect
from wskit.pubsub import Hub
from wskit.pubsub.backends.redis import RedisBackend
from wskit.testing import TestClient

from ._helpers import Records, count_tasks, settled_tasks

pytestmark = pytest.mark.redis

PERIOD = 0.005
_prefixes = itertools.count()


def subscriber_app(hub: Hub) -> App:
    app = App()

    @app.websocket("/room")
    async def room(ws: WebSocket) -> None:
        await ws.accept()
        await hub.subscribe(ws, "room")
        await ws.send_text("joined")
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass

    return app


def backend(url: str, prefix: str, events: list[str], name: str) -> RedisBackend:
    return RedisBackend(
        url,
        prefix=prefix,
        publish_timeout=0.5,
        connect_timeout=0.5,
        backoff_base=0.02,
        backoff_max=0.2,
        keepalive=1.0,
        on_disconnect=lambda exc: events.append(f"{name} down"),
        on_reconnect=lambda: events.append(f"{name} up"),
    )


async def test_redis_killed_and_restarted_under_publish_load(records: Records) -> None:
    with tempfile.TemporaryDirectory(prefix="wskit-redis-") as tmp:
        server = RedisProcess(Path(tmp))
        server.start()
        try:
            await _scenario(server)
        finally:
            server.stop()
    assert not [r for r in records.errors if r.name.startswith("wskit")]


async def _scenario(server: RedisProcess) -> None:
    events: list[str] = []
    prefix = f"rel{next(_prefixes)}:"
    hub_a = Hub(backend(server.url, prefix, events, "a"), max_queue=1024)
    hub_b = Hub(backend(server.url, prefix, events, "b"), max_queue=1024)
    published: list[tuple[int, bool, float]] = []  # (seq, backend took it, seconds it took)
    recovered_at: list[int] = []
    async with (
        hub_a,
        hub_b,
        TestClient(subscriber_app(hub_a)) as client_a,
        TestClient(subscriber_app(hub_b)) as client_b,
        client_a.websocket_connect("/room") as local,
        client_b.websocket_connect("/room") as remote,
    ):
        assert await local.receive_text() == await remote.receive_text() == "joined"
        with anyio.fail_after(timeout(10)):
            await hub_a.backend.wait_connected()  # type: ignore[attr-defined]
            await hub_b.backend.wait_connected()  # type: ignore[attr-defined]
        seq = itertools.count()

        async def publish_for(seconds: float) -> None:
            end = anyio.current_time() + seconds
            while anyio.current_time() < end:
                n = next(seq)
                start = anyio.current_time()
                try:
                    await hub_a.publish("room", n)
                except BackendUnavailable:
                    published.append((n, False, anyio.current_time() - start))
                else:
                    published.append((n, True, anyio.current_time() - start))
                await anyio.sleep(PERIOD)

        await publish_for(0.3)  # warm: both links up
        gc.collect()
        tracemalloc.start()
        try:
            tasks_before = count_tasks()
            memory_before = tracemalloc.get_traced_memory()[0]
            server.kill()
            await publish_for(0.6)  # Redis is down
            await anyio.to_thread.run_sync(server.start)
            with anyio.fail_after(timeout(10)):
                while not ("a up" in events and "b up" in events):
                    await publish_for(0.02)
            recovered_at.append(next(seq))
            await publish_for(0.3)  # back to normal
            await hub_a.flush()
            last = published[-1][0]
            local_got = [await local.receive_json() for _ in range(len(published))]
            remote_got: list[int] = []
            with anyio.move_on_after(timeout(2)):
                while not remote_got or remote_got[-1] != last:
                    remote_got.append(await remote.receive_json())
            tasks_after = await settled_tasks(tasks_before)
            gc.collect()
            memory_after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()

    refused = [n for n, ok, _ in published if not ok]
    assert refused, "no publish failed: Redis was not down while publishing"
    assert max(took for _, _, took in published) < 0.5 + 0.5  # publish_timeout, plus slack
    assert local_got == [n for n, _, _ in published]  # local delivery: everything, in order
    assert remote_got == sorted(set(remote_got))  # in order, no duplicates
    after = [n for n, ok, _ in published if ok and n > recovered_at[0]]
    assert after and set(after) <= set(remote_got)  # every message after recovery arrived
    assert events[:2] in (["a down", "b down"], ["b down", "a down"])
    assert tasks_after == tasks_before
    assert memory_after - memory_before < 512 * 1024, (memory_before, memory_after)
    stats = hub_a.statistics()
    assert stats.failed == 0
    assert isinstance(BackendUnavailable("x"), BackendError)
