"""Shared pytest configuration: both anyio backends, the opt-in slow tests, and the session's
real Redis Cluster (3 masters, 3 replicas), started on first use by ``cluster``.

One cluster serves every test that asks for it (tests/cluster and the scaling guide's
example), so a CI run starts it once. It is killed at the end of the session, even when a test
fails. A test that injects a fault leaves the cluster as it found it (every node running,
``cluster_state:ok`` everywhere, every replica in sync): :func:`cluster` checks that after
each test and restarts what a test left down. Without ``redis-server``/``redis-cli`` those
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_cluster import LocalCluster
from tests._services import require_binary, timeout


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """Run every async test on asyncio (in debug mode) and on trio."""
    return request.param  # type: ignore[no-any-return]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="run the slow load/soak tests"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _restore_wskit_logger() -> Iterator[None]:
    """Undo what a test's in-process CLI run did to the ``wskit`` logger (handlers, level)."""
    log = logging.getLogger("wskit")
    saved = (list(log.handlers), log.level, log.propagate)
    yield
    log.handlers[:] = saved[0]
    log.setLevel(saved[1])
    log.propagate = saved[2]


@pytest.fixture(scope="session")
def _session_cluster() -> Iterator[LocalCluster]:
    require_binary("redis-server")
    require_binary("redis-cli")
    with tempfile.TemporaryDirectory(prefix="wskit-cluster-") as tmp:
        cluster = LocalCluster(Path(tmp), node_timeout=1.0)
        try:
            cluster.start(deadline=timeout(60))
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def cluster(_session_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session's cluster, healthy before and after the test."""
    _session_cluster.wait_healthy(timeout(60))
    yield _session_cluster
    for node in _session_cluster.nodes:
        if node.paused:
            _session_cluster.resume(node)
        if not node.running:
            _session_cluster.restart(node)
    _session_cluster.wait_healthy(timeout(60))
