"""The load benchmark's summary: the servers side by side, and issue 13's targets.

For each server, the medians over its runs of each phase: deliveries per second, the server's
CPU per delivery, p50/p99 latency, and the deliveries lost or out of order (summed). Then the
targets, as ratios to hypercorn within the same run, each printed as met or missed:

* uvicorn's server CPU per delivery in the burst phase <= 0.55x hypercorn's;
* nothing lost and nothing out of order, on every server;
* uvicorn's burst p99 latency <= 1.5x hypercorn's.

granian is measured the same way, without a target.
"""

from __future__ import annotations

import importlib.util
import statistics
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .load import PhaseResult, Report

__all__ = ["SERVER_NAMES", "compare", "installed_servers"]

SERVER_NAMES: Final = ("hypercorn", "uvicorn", "granian")
TARGET_CPU: Final = 0.55
TARGET_P99: Final = 1.5


def installed_servers() -> list[str]:
    """The servers whose package is installed, in :data:`SERVER_NAMES` order."""
    return [name for name in SERVER_NAMES if importlib.util.find_spec(name) is not None]


def _phases(runs: Sequence[Report], index: int) -> list[PhaseResult]:
    return [run.phases[index] for run in runs if len(run.phases) > index]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _figures(phases: Sequence[PhaseResult]) -> dict[str, float]:
    return {
        "rate": _median([p.received / p.seconds for p in phases if p.seconds]),
        "cpu_us": _median([p.server_cpu / p.received * 1e6 for p in phases if p.received]),
        "p50": _median([p.percentile(0.50) for p in phases]),
        "p99": _median([p.percentile(0.99) for p in phases]),
        "lost": float(sum(p.lost for p in phases)),
        "disorder": float(sum(p.disorder for p in phases)),
    }


def _ok(met: bool) -> str:
    return "met" if met else "MISSED"


def compare(reports: Mapping[str, Sequence[Report]]) -> str:
    """A markdown table of every server's medians per phase, and the targets (met/missed)."""
    first = next(iter(reports.values()))
    phases = [name for name, _, _ in first[0].settings.phases]
    lines = [
        f"**Servers side by side** (medians of {len(first)} run(s) each)\n",
        "| Server | Phase | Deliveries/s | Server CPU per delivery | p50 | p99 | Lost "
        "| Out of order |",
        "|:--|:--|--:|--:|--:|--:|--:|--:|",
    ]
    figures: dict[tuple[str, str], dict[str, float]] = {}
    for server, runs in reports.items():
        for index, phase in enumerate(phases):
            f = figures[server, phase] = _figures(_phases(runs, index))
            lines.append(
                f"| {server} | {phase} | {f['rate']:,.0f} | {f['cpu_us']:.1f} µs "
                f"| {f['p50']:.1f} ms | {f['p99']:.1f} ms | {f['lost']:,.0f} "
                f"| {f['disorder']:,.0f} |"
            )
    notes = []
    clean = all(f["lost"] == 0 and f["disorder"] == 0 for f in figures.values())
    notes.append(f"every server, every phase: 0 lost, 0 out of order ({_ok(clean)})")
    base = figures.get(("hypercorn", "burst"))
    for server in ("uvicorn", "granian"):
        other = figures.get((server, "burst"))
        if base is None or other is None:
            continue
        cpu = other["cpu_us"] / base["cpu_us"]
        p99 = other["p99"] / base["p99"]
        rate = other["rate"] / base["rate"]
        if server == "uvicorn":
            notes.append(
                f"uvicorn vs hypercorn, burst: server CPU per delivery {cpu:.2f}x "
                f"(target <= {TARGET_CPU:.2f}x: {_ok(cpu <= TARGET_CPU)}), p99 {p99:.2f}x "
                f"(target <= {TARGET_P99:.1f}x: {_ok(p99 <= TARGET_P99)}), deliveries/s "
                f"{rate:.2f}x"
            )
        else:
            notes.append(
                f"{server} vs hypercorn, burst: server CPU per delivery {cpu:.2f}x, "
                f"p99 {p99:.2f}x, deliveries/s {rate:.2f}x"
            )
    return "\n".join(lines) + "\n\n" + "\n".join(notes)
