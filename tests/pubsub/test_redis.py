"""Redis-specific behaviour: restarts, a server that is down or hung, hooks, configuration.

Each test here starts its own ``redis-server`` (``RedisProcess``) so it can kill, stop or
restart it. Without the binary these tests skip; under ``CI=true`` they fail.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import time
from asyncio import CancelledError
from pathlib import Path

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from tests._redis_cluster import command
from tests._services import timeout
from wskit.exceptions import BackendError, BackendUnavailable, WouldBlock
from wskit.pubsub import Hub
from wskit.pubsub.backends.redis import RedisBackend, _unavailable

from ._fakes import FakeConnection
from ._wait import eventually
from .conftest import RedisProcess, unique_prefix, wait_connected

pytestmark = pytest.mark.redis


def _backend(server: RedisProcess, **options: object) -> RedisBackend:
    options.setdefault("backoff_max", 0.3)
    options.setdefault("publish_timeout", 1.0)
    return RedisBackend(server.url, prefix=unique_prefix(), **options)  # type: ignore[arg-type]


async def test_restart_typed_errors_recovery_and_resubscribe(redis_process: RedisProcess) -> None:
    """Kill redis-server mid-run, then start it again on the same port.

    While it is down, publish raises BackendUnavailable at once and local delivery goes on;
    after the restart both links come back within the backoff bound, every subscription is
    renewed, and delivery resumes in order. The loss window is measured and printed.
    """
    events: list[str] = []
    sender = _backend(redis_process, on_disconnect=lambda exc: events.append("down"))
    prefix = sender.prefix
    receiver = RedisBackend(
        redis_process.url, prefix=prefix, backoff_max=0.3, on_reconnect=lambda: events.append("up")
    )
    one, two = Hub(sender), Hub(receiver)
    async with one, two:
        await wait_connected(sender, receiver)
        local, remote = FakeConnection(), FakeConnection()
        await one.subscribe(local, "ticks")
        await two.subscribe(remote, "ticks")
        sent_at: dict[int, float] = {}
        failures: list[float] = []
        seq = 0

        async def publish_some(count: int) -> None:
            nonlocal seq
            for _ in range(count):
                seq += 1
                sent_at[seq] = time.monotonic()
                started = time.monotonic()
                try:
                    await one.publish("ticks", seq)
                except BackendUnavailable:
                    failures.append(time.monotonic() - started)
                await anyio.sleep(0.002)

        await publish_some(50)
        await remote.wait_frames(50)
        redis_process.kill()
        killed_at = time.monotonic()
        await publish_some(50)  # Redis is down
        assert failures, "publishing while Redis is down must raise BackendUnavailable"
        # Bounded by publish_timeout (the first publish may still wait for the dead link); the
        # slack only stops a hung test on a busy machine.
        assert max(failures) < sender.publish_timeout + timeout(5)
        assert local.frames[-1] == str(seq)  # local delivery kept working
        redis_process.start()
        restarted_at = time.monotonic()
        await eventually(lambda: sender.connected and receiver.connected)
        recovered_after = time.monotonic() - restarted_at
        await publish_some(50)
        first_after = seq - 49
        frames = [int(frame) for frame in await remote.wait_frames(100)]
        assert frames == sorted(frames)  # in order, no duplicates
        assert frames[-50:] == list(range(first_after, seq + 1))
        lost = sorted(set(sent_at) - set(frames))
        assert lost, "messages published while Redis was down are lost (at most once)"
        window = sent_at[lost[-1]] - sent_at[lost[0]]
        print(
            f"\nredis restart: {len(lost)} messages lost over {window * 1000:.0f} ms "
            f"(killed for {restarted_at - killed_at:.2f} s, links back {recovered_after:.2f} s "
            f"after the restart; backoff bound {sender.backoff_max} s)"
        )
        assert recovered_after < sender.backoff_max + timeout(10)
        assert events.count("down") == 1
        assert events.count("up") == 1
        stats = sender.statistics()
        assert (stats.disconnects, stats.reconnects, stats.connected) == (1, 1, True)
        assert stats.publish_errors == len(failures)
        assert receiver.statistics().subscriptions == 1


async def test_down_at_start_then_up(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)  # not started yet: nothing listens on its port
    # A publish_timeout no run reaches: while the link is down, publish fails at once instead
    # of waiting for it, and "at once" reads apart from "after the timeout" on any machine.
    backend = _backend(server, backoff_max=0.2, publish_timeout=timeout(60))
    try:
        async with Hub(backend) as hub:
            assert not backend.connected
            assert not backend.statistics().connected
            conn = FakeConnection()
            await hub.subscribe(conn, "t")  # recorded, renewed once the link is up
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="down"):
                await hub.publish("t", "local only")
            assert time.monotonic() - started < backend.publish_timeout / 2
            with pytest.raises(BackendUnavailable):
                backend.publish_nowait("t", b"x")
            with pytest.raises(BackendUnavailable):
                await backend.history("t")
            assert await conn.wait_frames(1) == ["local only"]
            server.start()
            await wait_connected(backend)
            other = Hub(RedisBackend(server.url, prefix=backend.prefix))
            async with other:
                await wait_connected(other.backend)
                await other.publish("t", "from elsewhere")
                assert await conn.wait_frames(2) == ["local only", "from elsewhere"]
            assert backend.statistics().reconnects == 0  # a first connection, not a return
    finally:
        server.stop()


async def test_a_hung_server_never_hangs_a_publish(redis_process: RedisProcess) -> None:
    backend = _backend(redis_process, publish_timeout=0.3)
    async with backend:
        await wait_connected(backend)
        assert redis_process.process is not None
        os.kill(redis_process.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                await backend.publish("t", b"x")
            waited = time.monotonic() - started
            assert 0.3 * 0.9 <= waited < 0.3 + timeout(10)  # the deadline, not a hang
            with pytest.raises(BackendUnavailable):
                await backend.history("t")
        finally:
            os.kill(redis_process.process.pid, signal.SIGCONT)


async def _hung_redis(task_status: anyio.abc.TaskStatus[int]) -> None:
    """A TCP server that accepts connections and never answers: a Redis that hangs."""

    async def hang(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        await listener.serve(hang)


async def test_a_redis_that_hangs_from_the_start_is_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every connection attempt fails (coredis's handshake times out, or a publish's deadline
    cancels it): one WARNING in all, wskit's, not a record of coredis's per attempt."""
    caplog.set_level(logging.DEBUG, logger="wskit.pubsub.redis")
    attempts = 0

    def failed_attempts() -> int:
        return sum(
            r.levelno == logging.DEBUG and "attempt" in r.getMessage() for r in caplog.records
        )

    async with anyio.create_task_group() as tg:
        port = await tg.start(_hung_redis)
        backend = RedisBackend(
            f"redis://127.0.0.1:{port}", connect_timeout=0.2, publish_timeout=0.2, backoff_max=0.1
        )
        async with backend:
            with pytest.raises(BackendUnavailable):
                await backend.publish("t", b"x")
            await eventually(lambda: failed_attempts() >= 3, seconds=30)
            attempts = failed_attempts()
        tg.cancel_scope.cancel()

    assert attempts >= 3  # the first attempt is the warning, each further one a DEBUG record
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in loud] == [("wskit.pubsub.redis", logging.WARNING)]
    assert loud[0].exc_info is None


def test_coredis_keeps_every_record_but_those_of_failed_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only coredis's ERROR records of transport failures and cancellations are dropped."""
    RedisBackend("redis://127.0.0.1:1")  # installs the filter
    coredis_logger = logging.getLogger("coredis")
    caplog.set_level(logging.INFO, logger="coredis")
    coredis_logger.error("an error of its own")  # no exception: kept
    coredis_logger.info("closed", exc_info=True)  # below ERROR: kept
    for exc in (ValueError("a bug"), OSError("refused"), TimeoutError(), CancelledError()):
        try:
            raise exc
        except BaseException:
            coredis_logger.exception("failed")
    coredis_logger.error("failed", exc_info=(None, None, None))  # logged outside an except
    kept = [(r.levelname, r.exc_info[0] if r.exc_info else None) for r in caplog.records]
    assert kept == [("ERROR", None), ("INFO", None), ("ERROR", ValueError)]


async def test_buffers_and_hooks(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_hook(*args: object) -> None:
        raise RuntimeError("hook bug")

    backend = _backend(
        redis_process, max_outgoing=1, on_disconnect=broken_hook, on_reconnect=broken_hook
    )
    async with backend:
        await wait_connected(backend)
        backend.publish_nowait("t", b"1")
        with pytest.raises(WouldBlock):
            backend.publish_nowait("t", b"2")
        with caplog.at_level(logging.ERROR, "wskit.pubsub.redis"):
            redis_process.kill()
            await eventually(lambda: not backend.connected)
            redis_process.start()
            await wait_connected(backend)
        failed = [r for r in caplog.records if "callback" in r.getMessage()]
        assert len(failed) == 2
        assert "sharded" not in repr(backend)
        assert "connected" in repr(backend)


async def test_a_full_inbound_buffer_drops(redis_process: RedisProcess) -> None:
    receiver = _backend(redis_process, max_buffer=2)
    sender = RedisBackend(redis_process.url, prefix=receiver.prefix)
    async with receiver, sender:
        await wait_connected(receiver, sender)
        await receiver.subscribe(["t"])
        for i in range(5):
            await sender.publish("t", b"%d" % i)
        await eventually(lambda: receiver.statistics().dropped == 3)
        stream = receiver.messages()
        assert [await anext(stream) for _ in range(2)] == [("t", b"0"), ("t", b"1")]


def test_configuration() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisBackend(prefix="a*")
    with pytest.raises(ValueError, match="backoff"):
        RedisBackend(backoff_base=2, backoff_max=1)
    backend = RedisBackend(backoff_base=0.1, backoff_max=1.0)
    delays = [backend.backoff(attempt) for attempt in range(12)]
    assert all(0.05 <= delay <= 1.0 for delay in delays)
    assert max(delays[6:]) > 0.5  # it grows to the bound
    assert backend.channel("room:1") == "wskit:{room:1}"
    assert backend.topic(b"wskit:{room:1}") == "room:1"
    assert RedisBackend(sharded=True).supports_patterns is False
    assert isinstance(_unavailable(RuntimeError("x"), "publish"), BackendUnavailable)
    from coredis.exceptions import ResponseError

    error = _unavailable(ResponseError("WRONGTYPE"), "publish")
    assert type(error) is BackendError
    assert "refused" in str(error)


async def test_not_running() -> None:
    with pytest.raises(ValueError, match="cluster URL"):
        RedisBackend("unix:///tmp/nothing.sock", sharded=True)
    backend = RedisBackend()
    with pytest.raises(RuntimeError, match="not running"):
        await backend.wait_connected()
    with pytest.raises(BackendUnavailable):
        await backend.history("t")
    await backend.close()


async def test_sharded_cluster_down_at_start(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path, cluster=True)  # never started
    backend = RedisBackend(server.url, sharded=True, connect_timeout=0.5)
    with pytest.raises(BackendUnavailable):
        await backend.start()
    assert not backend.running


async def test_renewal_of_patterns_and_batches(redis_process: RedisProcess) -> None:
    receiver = _backend(redis_process)
    sender = RedisBackend(redis_process.url, prefix=receiver.prefix)
    async with receiver, sender:
        await wait_connected(receiver, sender)
        stream = receiver.messages()
        await receiver.subscribe(["exact"])
        await receiver.subscribe(["room.*"], patterns=True)
        redis_process.kill()
        await eventually(lambda: not receiver.connected, 10)
        redis_process.start()
        await wait_connected(receiver, sender)
        await eventually(lambda: sender.connected, 10)
        for i in range(600):  # more than one pipeline batch
            sender.publish_nowait("room.1", b"%d" % i)
        await sender.publish("exact", b"last")
        received = [await anext(stream) for _ in range(601)]
        assert received[:600] == [("room.1", b"%d" % i) for i in range(600)]
        assert received[600] == ("exact", b"last")


async def test_subscription_commands_that_fail_are_renewed_later(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def subscribe(self, *channels: str) -> None:
            raise ConnectionError("gone")

        psubscribe = unsubscribe = punsubscribe = subscribe

    backend = _backend(redis_process)
    async with backend:
        await wait_connected(backend)
        backend._pubsub = Broken()
        with caplog.at_level(logging.DEBUG, "wskit.pubsub.redis"):
            await backend.subscribe(["a"])
            await backend.subscribe(["b.*"], patterns=True)
            await backend.unsubscribe(["a"])
            await backend.unsubscribe(["b.*"], patterns=True)
            await backend.subscribe(["a", "a"])
            await backend.subscribe(["a"])  # already wanted: nothing to send
        assert "subscribing to ['a'] failed" in caplog.text
        assert "unsubscribing from ['b.*'] failed" in caplog.text
        assert backend.statistics().subscriptions == 1


async def test_a_publish_nobody_answers(redis_process: RedisProcess) -> None:
    backend = _backend(redis_process, publish_timeout=0.05)

    async def stuck_sender() -> None:
        await anyio.sleep_forever()

    backend._send_loop = stuck_sender  # type: ignore[method-assign]
    async with backend:
        await wait_connected(backend)
        with pytest.raises(BackendUnavailable, match="did not take"):
            await backend.publish("t", b"x")


async def test_closing_fails_what_is_queued(redis_process: RedisProcess) -> None:
    backend = _backend(redis_process, publish_timeout=5)
    errors: list[BaseException] = []

    async def publish() -> None:
        try:
            await backend.publish("t", b"queued")
        except BackendUnavailable as exc:
            errors.append(exc)

    assert redis_process.process is not None
    pid = redis_process.process.pid
    async with anyio.create_task_group() as tg, backend:
        await wait_connected(backend)
        os.kill(pid, signal.SIGSTOP)  # the sender's first batch hangs...
        try:
            backend.publish_nowait("t", b"in flight")
            await anyio.lowlevel.checkpoint()
            tg.start_soon(publish)  # ...and this one waits behind it,
            await eventually(lambda: [i.data for i in backend._outgoing] == [b"queued"])
            backend.publish_nowait("t", b"fire and forget")  # as does this one
        finally:
            os.kill(pid, signal.SIGCONT)
    assert len(errors) == 1
    assert "closed" in str(errors[0])


async def test_history_skips_entries_it_did_not_write(redis_process: RedisProcess) -> None:
    import coredis

    backend = _backend(redis_process)
    async with backend, coredis.Redis.from_url(redis_process.url) as client:
        await wait_connected(backend)
        await client.xadd(backend.history_store.key("t"), {"other": "app"})
        await backend.publish("t", b"ours", history=10)
        assert [data for _, data in await backend.history("t")] == [b"ours"]


async def test_sharded_on_a_server_that_is_no_cluster(redis_process: RedisProcess) -> None:
    backend = RedisBackend(redis_process.url, sharded=True)
    with pytest.raises(BackendUnavailable):
        await backend.start()
    assert not backend.running


async def test_sharded_links_give_back_what_they_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """coredis 6.9.0's ``ShardedPubSub`` never closes the stack its shard connections are leased
    in: a garbage collection used to release them after their pool had closed, a ``KeyError``
    in a task nobody awaits (on trio, an unraisable exception: the suite's flake in
    ``test_patterns_or_a_clear_refusal[trio-redis-sharded]``). Every link now gives them back
    itself when it ends: a link dropped by the server, then the backend closed, leave nothing
    for the collector to release."""
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    server = RedisProcess(tmp_path, cluster=True)
    server.start()
    try:
        for _ in range(2):
            backend = RedisBackend(server.url, sharded=True, prefix=unique_prefix())
            async with backend:
                await wait_connected(backend)
                await backend.subscribe(["a", "b"])
                command(server.port, "CLIENT", "KILL", "TYPE", "pubsub")  # the link drops
                await eventually(lambda b=backend: b.statistics().reconnects == 1)  # type: ignore[misc]
                await wait_connected(backend)
            for _ in range(3):  # what the collector finalizes runs at the next checkpoints
                gc.collect()
                await anyio.lowlevel.checkpoint()
    finally:
        server.stop()
    assert unraisable == []
