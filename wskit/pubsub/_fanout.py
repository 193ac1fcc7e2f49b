"""The fan-out engine: one leader task, and a writer task only for a connection that blocks.

Theory of operation. Publishing appends a :class:`Job` to a queue and wakes the *leader*, a
task in the hub's task group. The leader runs each job as one coroutine, :meth:`Dispatcher._fan`,
that awaits every recipient's send in turn. The leader does not ``await`` that coroutine: it
*drives* it (``coro.send(None)``) from :meth:`Dispatcher._drive`, so it sees the moment a send
suspends instead of completing:

* In the common case no send suspends (in-memory connections; asyncio servers whose
  transport buffer has room): the whole fan-out runs in one step, with no task switch per
  delivery, at the cost of a plain ``await send(message)`` per connection.
* When a send suspends, the leader *becomes that connection's writer*: it hands the rest of
  the job (and the queue) to a new leader task, then keeps driving the suspended send to its
  end, forwarding each value the send yields to the event loop and each result back. Later
  messages for that connection wait in its outbox, and the writer sends them in order before
  it ends. One stalled connection therefore holds one task and ``maxlen`` queued references,
  never the leader.

Why the suspended send is never moved to another task: a coroutine may tie itself to the task
that runs it before it suspends (an ``anyio.Lock`` records its owner, a cancel scope its host
task, hypercorn's trio worker takes a ``trio.Lock`` in every send). Resuming it from another
task then fails with "cancel scope stack corrupted" or "can't release a Lock you don't own".
Leader hand-off keeps every coroutine in the task that started it, on asyncio and trio alike.

The deadline of a suspended send comes from a cancel scope the leader entered before it
started the fan-out coroutine (so scopes stay nested); at hand-off its deadline is set to
``send_timeout`` from now. A writer whose send misses the deadline evicts its connection.

A job's progress is kept in the :class:`Job` itself (which part, which :class:`Phase`, how far
in each list), so the new leader carries on exactly where the old one stopped; the old leader
learns what became of its blocked send from a :class:`HandOff`.
"""

from __future__ import annotations

import enum
import logging
import math
import time
import types
from collections import deque
from operator import length_hint
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import anyio

from wskit._outcome import peer
from wskit.exceptions import InvalidTransition, MessageTooBig, WebSocketDisconnect
from wskit.status import CloseCode

from .outbox import Outbox, OverflowPolicy, frame_of

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Generator, Iterator

    from anyio.abc import TaskGroup

    from wskit._types import Message, Send

    #: One codec's share of a job: the server ``send`` of each connection the hub sends to
    #: directly (through its port), their outboxes, the other outboxes (they take
    #: ``send_frame``), and the message they all get.
    Part: TypeAlias = tuple[tuple[Send, ...], tuple[Outbox, ...], tuple[Outbox, ...], Message]

__all__ = ["Dispatcher", "EvictionLog", "HandOff", "Job", "Phase"]

logger: Final = logging.getLogger("wskit.pubsub")


_EVICT_REASON: Final = "slow consumer"
#: At most one eviction record per this many seconds; the evictions in between are counted in
#: the next record (``Hub.statistics().evicted`` counts every one).
EVICTION_LOG_INTERVAL: Final = 10.0
_OVERDUE: Final = "its send took longer than send_timeout"
_FULL: Final = "its outbox is full (overflow policy 'close')"


class EvictionLog:
    """Log evictions as WARNING records: the first at once, then at most one per interval.

    A burst (a thousand clients on a stalled network) is one record with a count, not a
    thousand; a steady trickle is one record per interval.

    Args:
        interval: Seconds between two records.
        clock: Where the time comes from (``time.monotonic``; tests pass their own).
    """

    __slots__ = ("clock", "interval", "next_at", "since_last")

    def __init__(
        self, interval: float = EVICTION_LOG_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.next_at = -math.inf
        self.since_last = 0

    def evicted(self, conn: object, why: str) -> None:
        """Count one eviction of ``conn``, and log it unless a record went out too recently."""
        now = self.clock()
        if now < self.next_at:
            self.since_last += 1
            return
        scope = getattr(conn, "scope", None)
        who = peer(scope) if isinstance(scope, dict) else repr(conn)
        more = f" ({self.since_last} more since the last record)" if self.since_last else ""
        logger.warning("evicting a slow consumer, %s, with 1013: %s%s", who, why, more)
        self.since_last = 0
        self.next_at = now + self.interval


def _position(items: tuple[Any, ...], it: Iterator[Any]) -> int:
    """The index of the item ``it`` returned last (a list iterator knows what is left)."""
    return len(items) - length_hint(it) - 1


class Phase(enum.Enum):
    """Where a job stands within one part (one codec's recipients)."""

    #: The direct sends, one ``await`` each and no check: the list was resolved in this same
    #: step from groups the connections' port watchers keep exact, and nothing else runs until
    #: a send suspends.
    HOT = "hot"
    #: The direct recipients, each checked first (closed? busy? port still open?) and sent to
    #: through ``send_frame``: the rest of the list after a hand-off, and every later part of a
    #: job that was handed off (time passed).
    CHECKED = "checked"
    #: The other recipients, through ``send_frame`` (or their outbox, when busy).
    OTHERS = "others"


_HOT: Final = Phase.HOT
_CHECKED: Final = Phase.CHECKED
_OTHERS: Final = Phase.OTHERS


class Job:
    """One published message on its way to the local subscribers of ``topic``.

    ``parts`` is filled by the hub's resolver when the leader starts the job, so a job queued
    behind a hand-off sees who is busy by then. The other fields are the job's progress, so that
    a new leader carries on where a leader that became a writer stopped.
    """

    __slots__ = (
        "done",
        "ended",
        "handed_off",
        "hot",
        "hot_failures",
        "in_flight",
        "next_direct",
        "next_other",
        "part",
        "parts",
        "phase",
        "source",
        "topic",
    )

    def __init__(self, topic: str | None, source: object) -> None:
        self.topic = topic
        self.source = source
        #: Set when the job ends, for whoever waits for it (made on demand).
        self.done: anyio.Event | None = None
        self.ended = False
        self.parts: list[Part] | None = None
        #: The index in ``parts`` of the part in progress.
        self.part = 0
        self.phase = _HOT
        #: The hot loop's iterator over the part's direct sends (while it runs).
        self.hot: Iterator[Send] | None = None
        #: Sends of the hot loop that failed (not delivered), counted until the loop ends.
        self.hot_failures = 0
        #: The index of the next direct send of the CHECKED pass.
        self.next_direct = 0
        #: The index of the next of the part's other recipients.
        self.next_other = 0
        #: The recipient whose send is in flight, outside the hot loop.
        self.in_flight: Outbox | None = None
        #: A send of this job blocked once: its later parts run CHECKED.
        self.handed_off = False

    def hot_index(self) -> int:
        """The position in the direct-send list of the send the hot loop is awaiting."""
        assert self.parts is not None
        assert self.hot is not None
        return _position(self.parts[self.part][0], self.hot)

    def blocked(self) -> Outbox:
        """The recipient whose send suspended (where the fan-out coroutine stopped)."""
        if self.phase is _HOT:
            assert self.parts is not None
            return self.parts[self.part][1][self.hot_index()]
        assert self.in_flight is not None
        return self.in_flight


class HandOff:
    """What driving its jobs tells a leader: whose send blocked, and whether it went through.

    A leader drives jobs until a send suspends; it then hands the rest to a new leader and
    becomes that recipient's writer (``outbox``). The fan-out coroutine finishes that one send
    and returns, and records here whether it failed.
    """

    __slots__ = ("failed", "outbox")

    def __init__(self) -> None:
        #: The recipient whose send blocked (``None``: no send has blocked).
        self.outbox: Outbox | None = None
        #: The blocked send raised (it was not delivered).
        self.failed = False


class Dispatcher:
    """Runs jobs on a leader task and hands blocked connections to writer tasks.

    Args:
        send_timeout: Seconds a connection may take to accept one message (``None``: no limit).
        resolve: Returns a job's parts (called by the leader when the job starts).
        policy: Returns the overflow policy of an outbox's subscription to a topic.
        forget: Ends every subscription of an outbox (called when its connection is gone).
        changed: Called when an outbox becomes busy or idle (cached recipient lists go stale).
    """

    def __init__(
        self,
        *,
        send_timeout: float | None,
        resolve: Callable[[Job], list[Part]],
        policy: Callable[[Outbox, str | None], OverflowPolicy],
        forget: Callable[[Outbox], None],
        changed: Callable[[Outbox], None],
    ) -> None:
        self.send_timeout = send_timeout
        self._resolve = resolve
        self._policy = policy
        self._forget = forget
        self._changed = changed
        self._jobs: deque[Job] = deque()
        self._wake: anyio.Event | None = None
        self._room: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        #: Makes events: the running backend's own ``anyio.Event`` class once started
        #: (``anyio.Event()`` looks the backend up on every call: a microsecond per job).
        self.event: Callable[[], anyio.Event] = anyio.Event
        self.delivered = 0
        self.dropped = 0
        self.evicted = 0
        self.eviction_log = EvictionLog()
        self.failed = 0
        #: Outboxes with a writer task (a send of theirs did not complete at once).
        self._busy: set[Outbox] = set()

    @property
    def pending(self) -> int:
        """Jobs waiting for the leader."""
        return len(self._jobs)

    @property
    def writers(self) -> int:
        """Connections with a writer task."""
        return len(self._busy)

    def start(self, tg: TaskGroup) -> None:
        """Start the first leader (and the deadline watchdog) in ``tg``, the hub's task group."""
        self._tg = tg
        self.event = type(anyio.Event())
        tg.start_soon(self._lead, name="wskit.pubsub leader")
        if self.send_timeout is not None:
            tg.start_soon(self._watch, self.send_timeout, name="wskit.pubsub watchdog")

    async def _watch(self, timeout: float) -> None:
        """Evict connections whose send is overdue even though it ignores cancellation.

        A writer's own deadline cancels its send; a server may shield the send from
        cancellation (hypercorn's trio worker does), and then only this check notices.
        """
        while True:
            await anyio.sleep(timeout / 4)
            now = anyio.current_time()
            for outbox in [o for o in self._busy if now - o.since > timeout]:
                self.evict(outbox, _OVERDUE)

    def stop(self) -> None:
        """Forget the task group (its tasks are being cancelled) and the queued jobs."""
        self._tg = None
        self._wake = None
        for job in self._jobs:
            self._finished(job)
        self._jobs.clear()

    async def wait_room(self, limit: int) -> None:
        """Wait until fewer than ``limit`` jobs are waiting (the leader never stalls, so this
        is bounded by CPU time; the deadline only guards against a bug)."""
        with anyio.fail_after(60):
            while len(self._jobs) >= limit:
                self._room = room = self._room or self.event()
                await room.wait()

    async def flush(self) -> None:
        """Wait until the jobs queued so far are done (jobs finish in the order they came).

        A job leaves the queue only when it is done or handed off (a hand-off puts it back at
        the front), so the last queued job is the last to finish: wait for that one.
        """
        if not self._jobs:
            await anyio.lowlevel.checkpoint()
            return
        await self.wait(self._jobs[-1])

    async def wait(self, job: Job) -> None:
        """Wait until ``job`` ends (done, or handed off with its straggler in a writer).

        The leader, woken when the job was queued, usually runs everything queued within the
        next turn of the event loop: a checkpoint is then enough, and cheaper than an event set
        by the leader and waited for here. Two checkpoints, because trio runs a turn's tasks in
        either order: when this task runs before the leader, the leader still runs in that same
        turn. Otherwise (a long fan-out, a hand-off), wait for the job's event.
        """
        for _ in range(2):
            await anyio.lowlevel.checkpoint()
            if job.ended:
                return
        if job.done is None:
            job.done = self.event()
        await job.done.wait()

    def submit(self, job: Job) -> None:
        """Queue ``job`` and wake the leader."""
        self._jobs.append(job)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    # -- the leader ------------------------------------------------------------------------------

    async def _lead(self) -> None:
        handoff = HandOff()
        with anyio.CancelScope() as scope:
            await self._lead_jobs(scope, handoff)
        outbox = handoff.outbox
        assert outbox is not None  # the jobs loop ends on a hand-off only
        try:
            if scope.cancelled_caught:  # the deadline passed, or it was evicted
                self.evict(outbox, _OVERDUE)
            else:
                await self._drain(outbox)
        finally:
            self._release(outbox)

    async def _lead_jobs(self, scope: anyio.CancelScope, handoff: HandOff) -> None:
        """Run jobs until one of their sends blocks; then return, as that connection's writer."""
        jobs = self._jobs
        while True:
            while jobs:
                job = jobs.popleft()
                try:
                    if job.parts is None:
                        job.parts = self._resolve(job)
                    await self._drive(self._fan(job, handoff), job, handoff, scope)
                except Exception:  # a bug: keep the hub alive, lose this one message
                    logger.exception("pub/sub fan-out failed")
                    if handoff.outbox is None:
                        self._finished(job)
                        continue
                outbox = handoff.outbox
                if outbox is not None:
                    if not handoff.failed and not outbox.closed:  # the blocked send went through
                        self.delivered += 1
                    return
                self._finished(job)
                room = self._room
                if room is not None:
                    self._room = None
                    room.set()
            self._wake = wake = self.event()
            await wake.wait()

    @staticmethod
    def _finished(job: Job) -> None:
        job.ended = True
        # Let go of the recipients now: a leader keeps its last job in a local while it waits,
        # and a job's parts hold every recipient's outbox (and through it, its connection).
        job.parts = None
        job.source = None
        if job.done is not None:
            job.done.set()

    @types.coroutine
    def _drive(
        self,
        fan: Coroutine[Any, Any, None],
        job: Job,
        handoff: HandOff,
        scope: anyio.CancelScope,
    ) -> Generator[Any, Any, None]:
        """Run ``fan`` one step; if a send suspends, hand off and finish that send here."""
        try:
            yielded = fan.send(None)
        except StopIteration:
            return
        handoff.outbox = outbox = job.blocked()
        self._hand_off(job, outbox, scope)
        while True:
            try:
                value = yield yielded
            except BaseException as exc:  # cancellation, a deadline, or the task ending
                try:
                    yielded = fan.throw(exc)
                except StopIteration:  # pragma: no cover - taken, untraced (gen.throw)
                    # test_a_send_that_swallows_its_deadline goes here; CPython 3.11's line
                    # tracing does not report it, so coverage cannot see it.
                    return
            else:
                try:
                    yielded = fan.send(value)
                except StopIteration:
                    return

    def _hand_off(self, job: Job, outbox: Outbox, scope: anyio.CancelScope) -> None:
        outbox.busy = True
        outbox.scope = scope
        outbox.since = anyio.current_time()
        self._busy.add(outbox)
        self._changed(outbox)
        if self.send_timeout is not None:
            scope.deadline = anyio.current_time() + self.send_timeout
        job.handed_off = True
        if job.phase is _HOT:
            # The rest of the hot list runs CHECKED: by the time a new leader gets to it, some
            # of those connections may have closed or become busy. The hot loop's iterator is
            # emptied, so that loop ends once the send in flight returns: it needs no check
            # per recipient.
            index = job.hot_index()
            self.delivered += index - job.hot_failures
            job.hot_failures = 0
            job.next_direct = index + 1
            assert job.hot is not None
            deque(job.hot, maxlen=0)
            job.hot = None
            job.phase = _CHECKED
        self._jobs.appendleft(job)
        assert self._tg is not None  # a leader only runs while the hub does
        self._tg.start_soon(self._lead, name="wskit.pubsub leader")

    async def _fan(self, job: Job, handoff: HandOff) -> None:
        """Deliver ``job`` to every recipient; return early once a send was handed off."""
        parts = job.parts
        assert parts is not None
        topic = job.topic
        while job.part < len(parts):
            sends, direct, others, message = parts[job.part]
            if job.phase is _HOT:
                hot = job.hot = iter(sends)
                # The hot loop: one await per connection. The list is exact: it was resolved in
                # this same step, from groups that a connection's port watcher drops the moment
                # it stops taking direct sends (it starts closing, say), and nothing else runs
                # until a send suspends (after that, the rest goes through the CHECKED pass).
                for send in hot:
                    try:
                        await send(message)
                    except Exception as exc:
                        self._hot_failed(job, handoff, direct[_position(sends, hot)], exc)
                if handoff.outbox is not None:
                    return  # handed off: the new leader has the rest (``hot`` was emptied)
                self.delivered += len(sends) - job.hot_failures
                job.hot_failures = 0
                job.hot = None
                job.phase = _OTHERS
            # The CHECKED pass over the direct recipients, then the OTHERS, one at a time and
            # through ``send_frame``: after a hand-off the direct ones are re-checked (closed?
            # busy? port shut?) and sent to as any other, with the connection's own checks.
            checking = job.phase is _CHECKED
            while True:
                if checking:
                    if job.next_direct == len(direct):
                        job.phase = _OTHERS
                        checking = False
                        continue
                    outbox = direct[job.next_direct]
                    job.next_direct += 1
                    if not self._ready(outbox, message, topic):
                        continue
                elif job.next_other < len(others):
                    outbox = others[job.next_other]
                    job.next_other += 1
                    if outbox.closed:
                        continue
                    if outbox.busy:
                        self._enqueue(outbox, message, topic)
                        continue
                else:
                    break
                job.in_flight = outbox
                try:
                    await outbox.conn.send_frame(frame_of(message))
                except Exception as exc:
                    self._failed(outbox, exc, handoff)
                else:
                    if handoff.outbox is None:
                        self.delivered += 1
                if handoff.outbox is not None:
                    return
            job.part += 1
            # Once a job was handed off, time passed: its later parts run CHECKED too.
            job.phase = _CHECKED if job.handed_off else _HOT
            job.next_direct = 0
            job.next_other = 0

    # -- per-connection outcomes -------------------------------------------------------------

    def _hot_failed(self, job: Job, handoff: HandOff, outbox: Outbox, exc: Exception) -> None:
        """A send of the hot loop raised: ``outbox``'s, or the handed-off one's."""
        if handoff.outbox is None:
            job.hot_failures += 1
        else:  # the send in flight at the hand-off (the loop's iterator is empty by now)
            outbox = handoff.outbox
        self._failed(outbox, exc, handoff)

    def _ready(self, outbox: Outbox, message: Message, topic: str | None) -> bool:
        """Whether a direct send to ``outbox`` may go now (else it is queued or skipped)."""
        if outbox.closed:
            return False
        if outbox.busy:
            self._enqueue(outbox, message, topic)
            return False
        if not outbox.fast:
            self._divert(outbox, message, topic)
            return False
        return True

    def _failed(self, outbox: Outbox, exc: Exception, handoff: HandOff | None = None) -> None:
        """A send raised: drop the message, or forget a connection that is gone."""
        if handoff is not None and handoff.outbox is not None:
            handoff.failed = True  # the send in flight at the hand-off did not go through
        if isinstance(exc, MessageTooBig):
            outbox.dropped += 1
            self.dropped += 1
            return
        if isinstance(exc, OSError):
            outbox.transport_lost()
        elif not isinstance(exc, WebSocketDisconnect | InvalidTransition):
            self.failed += 1
            logger.warning(
                "send to %r failed; it no longer receives messages", outbox.conn, exc_info=exc
            )
        if not outbox.closed:
            self._forget(outbox)

    def _divert(self, outbox: Outbox, message: Message, topic: str | None) -> None:
        """A direct-port connection that cannot take a direct send right now."""
        if outbox.port is None or outbox.ending:
            return  # it is ending: its close callback forgets it
        # Open, but with default deadlines (or another unusual state): send through
        # ``send_frame`` from a writer task, which applies the connection's own checks.
        outbox.append(message)
        self._start_writer(outbox)

    def _enqueue(self, outbox: Outbox, message: Message, topic: str | None) -> None:
        timeout = self.send_timeout
        if timeout is not None and anyio.current_time() - outbox.since > timeout:
            # Its send is overdue. Normally the writer's deadline has evicted it already; a
            # send the server shields from cancellation (hypercorn's trio worker does) cannot
            # be interrupted, so evict it here, without waiting for the writer.
            self.evict(outbox, _OVERDUE)
            return
        result = outbox.push(message, self._policy(outbox, topic))
        if result > 0:
            self.dropped += 1
        elif result < 0:
            self.evict(outbox, _FULL)

    def _start_writer(self, outbox: Outbox) -> None:
        outbox.busy = True
        outbox.since = anyio.current_time()
        self._busy.add(outbox)
        self._changed(outbox)
        assert self._tg is not None  # only the running leader starts writers
        self._tg.start_soon(self._write, outbox, name="wskit.pubsub writer")

    # -- writers ----------------------------------------------------------------------------------

    async def _write(self, outbox: Outbox) -> None:
        try:
            await self._drain(outbox)
        finally:
            self._release(outbox)

    def _release(self, outbox: Outbox) -> None:
        """The writer of ``outbox`` ends: new messages go straight to the connection again."""
        self._busy.discard(outbox)
        outbox.scope = None
        outbox.busy = False
        outbox.queue = None  # empty: give the memory back (idle connections hold no deque)
        if not outbox.closed:
            self._changed(outbox)

    async def _drain(self, outbox: Outbox) -> None:
        """Send what is queued for ``outbox``, in order, each within the send deadline."""
        timeout = math.inf if self.send_timeout is None else self.send_timeout
        while outbox.queue and not outbox.closed:
            message = outbox.queue.popleft()
            with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
                outbox.scope = scope
                outbox.since = anyio.current_time()
                port = outbox.port
                send = None if port is None else port.send
                try:
                    if send is not None and outbox.fits(frame_of(message)):
                        await send(message)
                    else:
                        await outbox.conn.send_frame(frame_of(message))
                except Exception as exc:
                    self._failed(outbox, exc)
                else:
                    self.delivered += 1
            if scope.cancelled_caught:  # the deadline passed, or it was evicted
                self.evict(outbox, _OVERDUE)
                return

    def evict(self, outbox: Outbox, why: str = _OVERDUE) -> None:
        """End ``outbox``'s subscriptions and close its connection with 1013 (slow consumer).

        Logged as a WARNING with ``why``, at most one record per ``EVICTION_LOG_INTERVAL``
        seconds (a count of the others goes in the next).

        The writer's send in flight, if any, is cancelled; the close goes out from a task of
        its own (bounded by ``send_timeout``), so it starts even when that send cannot be
        interrupted. ``WebSocket.close`` records the close code at once.
        """
        if outbox.closed:
            return
        self.evicted += 1
        self.eviction_log.evicted(outbox.conn, why)
        self._forget(outbox)
        if outbox.scope is not None:
            outbox.scope.cancel()
        tg = self._tg
        if tg is not None:  # pragma: no branch - None only while the hub shuts down
            tg.start_soon(self._close_evicted, outbox, name="wskit.pubsub evict")

    async def _close_evicted(self, outbox: Outbox) -> None:
        with anyio.move_on_after(self.send_timeout or 5.0):
            try:
                await outbox.conn.close(CloseCode.TRY_AGAIN_LATER, _EVICT_REASON)
            except Exception:
                logger.debug("closing evicted %r failed", outbox.conn, exc_info=True)
