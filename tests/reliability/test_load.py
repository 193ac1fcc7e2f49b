"""Opt-in load test (``--run-slow``): ``benchmarks/load.py`` with smaller counts, as a test.

1,000 connections on one hypercorn process (and, with Redis, on two processes), two phases of
30 broadcasts; the benchmark itself checks that every message reached every client in order,
exactly once, and exits non-zero otherwise. The full 5,000-connection run is
``python -m benchmarks.load`` (figures in docs/topics/load.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._services import REPO_ROOT, require_binary, timeout

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.mark.parametrize("redis", [False, pytest.param(True, marks=pytest.mark.redis)])
def test_every_broadcast_reaches_every_client_in_order(tmp_path: Path, redis: bool) -> None:
    if redis:
        require_binary("redis-server")
    out = tmp_path / "load.json"
    command = [
        sys.executable, "-m", "benchmarks.load", "--connections", "1000", "--messages", "30",
        "--rate", "10", "--clients", "2", "--deadline", "240", "--json", str(out),
    ]  # fmt: skip
    if redis:
        command.append("--redis")
    result = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout(300), check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())["load"]
    assert report["ok"], report
    assert report["connections_held"] == 1000
    for phase in report["phases"]:
        assert phase["deliveries"] == phase["deliveries_expected"] == 30_000, phase
        assert phase["lost"] == phase["out_of_order_or_duplicate"] == 0, phase
