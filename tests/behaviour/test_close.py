"""Closing: codes both ways, and a closed connection that the server lets go of.

* The client's close code and reason reach the handler (hypercorn reported 1006 and no reason
  for every close the client started; wskit's adapter corrects it).
* The app's close code and reason reach the client.
* After wskit closes a connection (rate limit 1008, bad message 1007) while the client keeps
  sending, wskit reads and drops until the server reports the disconnect, and the server lets
  go of the stream: 50 flooding clients leave the server's tasks, file descriptors and memory
  where they were (hypercorn kept every such stream, its task blocked on a full queue).
"""

from __future__ import annotations

import anyio
import pytest

from tests._services import ServerProcess
from tests.behaviour._client import flood, settled_stats, stats, wait_stats
from tests.integration._client import close_frame, ws_connect

pytestmark = pytest.mark.integration

FLOODERS = 50
#: Messages each flooder sends: 30 times hypercorn's queue of unread messages (10).
FLOOD = 300
#: Memory a round of flooders may leave behind (allocator slack, not kept streams: the issue
#: measured 11.6 MB for 50 kept hypercorn streams).
RSS_SLACK_KIB = 4096
#: Documented exclusions (docs/howto/choose-server.md), each on the one test that shows it.
GRANIAN_REASON = (
    "granian passes the client's close code to the application but not its reason "
    "(granian 2.x; wskit's adapter cannot recover it)"
)
GRANIAN_FLOOD = (
    "granian stops reading once the application has closed: a client still sending when the "
    "handler returns gets its connection reset (1006) instead of the close frame; the server "
    "keeps nothing (test_flooding_clients_closed_by_wskit_leave_nothing_behind)"
)


async def _observed_closes(served: ServerProcess) -> list[tuple[int, str]]:
    """Close two connections to ``/observe`` (4000 "app", then a clean 1000); what it saw."""
    before = len((await stats(served)).observed)
    async with ws_connect(served.ws("/observe")) as ws:
        await ws.send("hello")
        await ws.close(4000, "app")
    async with ws_connect(served.ws("/observe")) as ws:
        await ws.send("hello")
    done = await wait_stats(served, lambda s: len(s.observed) >= before + 2)
    return done.observed[before:]


async def test_client_close_code_reaches_the_handler(served: ServerProcess) -> None:
    assert [code for code, _ in await _observed_closes(served)] == [4000, 1000]


async def test_client_close_reason_reaches_the_handler(
    served: ServerProcess, kind: tuple[str, str]
) -> None:
    if kind[0] == "granian":
        pytest.skip(GRANIAN_REASON)
    assert await _observed_closes(served) == [(4000, "app"), (1000, "")]


async def test_app_close_code_and_reason_reach_the_client(served: ServerProcess) -> None:
    async with ws_connect(served.ws("/close/4001")) as ws:
        assert await close_frame(ws) == (4001, "closed by the app")


async def _round(served: ServerProcess) -> list[tuple[int, str]]:
    """``FLOODERS`` clients flood ``/flood`` (rate limit: 1008) or ``/typed`` (bad data: 1007)."""
    codes: list[tuple[int, str]] = []

    async def one(index: int) -> None:
        if index % 2:
            codes.append(await flood(served, "/flood", "x" * 100, FLOOD))
        else:
            codes.append(await flood(served, "/typed", '{"seq": "not a number"}', FLOOD))

    async with anyio.create_task_group() as tg:
        for index in range(FLOODERS):
            tg.start_soon(one, index)
    return codes


async def test_flooding_clients_see_the_close_code_and_reason(
    served: ServerProcess, kind: tuple[str, str]
) -> None:
    if kind[0] == "granian":
        pytest.skip(GRANIAN_FLOOD)
    codes = await _round(served)
    assert sorted({code for code, _ in codes}) == [1007, 1008]
    assert all(reason for _, reason in codes)  # every close wskit sends says why


async def test_flooding_clients_closed_by_wskit_leave_nothing_behind(
    served: ServerProcess,
) -> None:
    await _round(served)  # warm-up: first-time allocations are not a leak
    baseline = await settled_stats(served)
    await _round(served)
    after = await wait_stats(
        served,
        lambda s: s.connections == 0 and s.tasks <= baseline.tasks and s.fds <= baseline.fds,
    )
    assert after.connections == 0
    assert after.tasks <= baseline.tasks, (baseline, after)
    assert after.fds <= baseline.fds, (baseline, after)
    assert after.rss_kib - baseline.rss_kib < RSS_SLACK_KIB, (baseline, after)
