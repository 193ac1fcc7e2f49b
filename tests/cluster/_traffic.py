"""Drive a topic through a fault: paced publishes, subscribers on several processes, outcomes.

:func:`run_through` sends sequence numbers from one client while a fault runs in a thread,
keeps sending until every remote subscriber has received messages published after the
cluster recovered (delivery resumed: observed, never timed), then reports what each
subscriber got. :class:`Outcome` checks the invariants and measures the loss window.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect

from tests._services import ServerProcess, server_process, timeout

APP = "tests.cluster.app:app"
DONE = -1


@dataclass
class Outcome:
    """What one run through a fault delivered."""

    sent_at: dict[int, float] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    received: dict[str, list[int]] = field(default_factory=dict)
    fault_seconds: float = 0.0

    @property
    def last(self) -> int:
        return max(self.sent_at)

    def lost(self, name: str) -> list[int]:
        """Messages published (Redis took them) that ``name`` never received."""
        got = set(self.received[name])
        return sorted(seq for seq in self.sent_at if seq not in got and seq not in self.failed)

    def window(self, name: str) -> float:
        """Seconds between the first and the last message ``name`` missed (0 if none)."""
        missed = sorted(set(self.sent_at) - set(self.received[name]))
        return self.sent_at[missed[-1]] - self.sent_at[missed[0]] if missed else 0.0

    def check(self, local: str, remote: list[str], warmup: int) -> None:
        """The invariants: local delivery never stops; remote: ordered, no duplicates,
        nothing lost before the fault, delivery resumed. (A refused publish may still be
        delivered: one that timed out may have reached Redis after its publisher gave up.)"""
        assert self.received[local] == list(range(1, self.last + 1))
        for name in remote:
            seqs = self.received[name]
            bad = [(a, b) for a, b in itertools.pairwise(seqs) if b <= a]
            assert not bad, f"{name}: out of order or duplicated at {bad}: {seqs}"
            assert seqs[:warmup] == list(range(1, warmup + 1)), f"{name}: lost before the fault"
            assert seqs[-1] == self.last, f"{name}: delivery did not resume"

    def report(self, label: str, remote: list[str]) -> str:
        parts = [
            f"{name}: lost {len(self.lost(name))}, window {self.window(name) * 1000:.0f} ms"
            for name in remote
        ]
        return (
            f"\n[{label}] {self.last} sent, {len(self.failed)} refused (BackendUnavailable), "
            f"fault {self.fault_seconds:.2f} s; " + "; ".join(parts)
        )


async def receive_json(conn: ClientConnection, seconds: float = 30.0) -> Any:
    """The next message, decoded (the deadline only stops a hung test)."""
    with anyio.fail_after(timeout(seconds)):
        message = await conn.recv()
    return json.loads(message)


async def receive(conn: ClientConnection, seconds: float = 30.0) -> dict[str, Any]:
    """The next message, a JSON object."""
    message: dict[str, Any] = await receive_json(conn, seconds)
    return message


async def start_processes(
    stack: AsyncExitStack, urls: list[str], prefix: str, worker: str
) -> list[ServerProcess]:
    """One ``wskit run`` process per URL (each starts from that node), started together.

    When the test fails, its error carries each process's exit status and stderr (a note that
    pytest prints), taken before the processes are stopped.
    """
    processes: list[ServerProcess] = []

    async def explain(
        exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is not None:
            for process in processes:
                exc.add_note(describe(process))
        return False

    for url in urls:
        env = {"WSKIT_CLUSTER_URL": url, "WSKIT_CLUSTER_PREFIX": prefix}
        processes.append(
            await stack.enter_async_context(
                server_process(APP, worker=worker, env=env, ready_timeout=60)
            )
        )
    stack.push_async_exit(explain)  # runs before the processes are stopped
    return processes


def describe(process: ServerProcess, tail: int = 6000) -> str:
    """A process's exit status and the end of its output, for a failing test's report."""
    status = process.process.returncode
    state = "still running" if status is None else f"exited with status {status}"
    return (
        f"--- wskit process {process.pid} on {process.url} ({state})\n"
        f"stdout:\n{process.stdout_text()[-tail:]}\nstderr:\n{process.stderr_text()[-tail:]}"
    )


async def subscribe(stack: AsyncExitStack, process: ServerProcess, topic: str) -> ClientConnection:
    conn = await stack.enter_async_context(connect(process.ws(f"/room/{topic}")))
    assert (await receive(conn))["ready"] is True
    return conn


async def run_through(
    publisher: ClientConnection,
    remotes: Mapping[str, ClientConnection],
    fault: Callable[[], None],
    *,
    warmup: int = 100,
    after: int = 50,
    pace: float = 0.005,
    deadline: float = 120.0,
) -> Outcome:
    """Publish until ``warmup`` messages reached every remote, run ``fault`` (in a thread)
    while publishing goes on,
    then publish until each remote got ``after`` messages sent after ``fault`` returned."""
    outcome = Outcome(received={"local": [], **{name: [] for name in remotes}})
    warm = anyio.Event()
    recovered_at: list[int] = []

    def resumed() -> bool:
        if not recovered_at:
            return False
        first = recovered_at[0]
        return all(
            sum(1 for seq in outcome.received[name] if seq > first) >= after for name in remotes
        )

    async def send() -> None:
        seq = 0
        while not resumed():
            seq += 1
            outcome.sent_at[seq] = time.monotonic()
            await publisher.send(str(seq))
            await anyio.sleep(pace)
        await publisher.send(str(DONE))

    async def run_fault() -> None:
        await warm.wait()
        started = time.monotonic()
        await anyio.to_thread.run_sync(fault)
        outcome.fault_seconds = time.monotonic() - started
        recovered_at.append(max(outcome.sent_at))

    async def collect(name: str, conn: ClientConnection) -> None:
        while True:
            message = await receive(conn)
            if "failed" in message:
                outcome.failed.add(message["failed"])
                continue
            if message["seq"] == DONE:
                return
            outcome.received[name].append(message["seq"])
            if all(len(outcome.received[other]) >= warmup for other in remotes):
                warm.set()  # the fault starts once the warm-up was delivered everywhere

    with anyio.fail_after(timeout(deadline)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect, "local", publisher)
            for name, conn in remotes.items():
                tg.start_soon(collect, name, conn)
            tg.start_soon(run_fault)
            tg.start_soon(send)
    return outcome
