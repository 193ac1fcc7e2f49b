"""The cluster tests' fixtures: one real Redis Cluster (3 masters, 3 replicas) per session.

The cluster starts on first use and is killed at the end of the session, even when a test
fails. A test that injects a fault leaves the cluster as it found it (every node running,
``cluster_state:ok`` everywhere, every replica in sync): :func:`cluster` checks that after
each test and restarts what a test left down. Without ``redis-server``/``redis-cli`` these
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._redis_cluster import LocalCluster
from tests._services import require_binary, timeout

pytestmark = pytest.mark.redis


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


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    """The websockets client runs on asyncio; the servers' loop is the ``worker`` parameter."""
    return ("asyncio", {})
