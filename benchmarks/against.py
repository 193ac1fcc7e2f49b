"""Compare this tree with an earlier commit, benchmark by benchmark, in one interleaved run.

Usage::

    python -m benchmarks.against REV [NAME ...] [--rounds 6] [-n 3] [--quick] [--tolerance 0.03]

``REV`` is checked out into a temporary ``git worktree`` (removed afterwards). Each round runs
every selected benchmark module once in each tree, in a separate process whose ``PYTHONPATH``
puts that tree's ``wskit`` and ``benchmarks`` first (same interpreter, same installed
dependencies); the order of the two trees swaps every round, so a drift of the machine spreads
over both. Cases are matched by group and label; each line prints the case's time in each tree
(the median of its per-round medians) and two ratios of this tree's throughput to ``REV``'s:

* *raw*: of those times. Processes of the two trees run up to minutes apart, so a machine
  that gets busier or quieter moves it: the cases that run the same code in both trees (raw
  ASGI, the ceiling, the peers) show by how much.
* *vs. baseline*: of the case's throughput relative to its group's baseline (raw ASGI), which
  each process measures interleaved with the case itself, so the machine's drift cancels. Each
  case that runs wskit is marked ``met`` when this keeps at least ``1 - tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .__main__ import modules

#: Per benchmark, per case: (median time, throughput relative to the baseline) of each round,
#: in REV's tree and in this one.
Times = dict[str, dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]]]

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
#: Words of the labels of cases that run no wskit code (raw ASGI, the ceiling, the peers):
#: the same code in both trees, so their ratios are the run's noise. Every other case has a target.
CONTROLS = ("raw ASGI", "ceiling", "Starlette", "Litestar", "FastWS", "naive", "pydantic", "stdlib")


def _run(tree: Path, name: str, out: Path, extra: Sequence[str]) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", f"benchmarks.{name}", "--json", str(out), *extra]
    # The tables are read from the JSON; the progress lines are shown only if the run fails.
    done = subprocess.run(
        command, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{name} failed in {tree} (exit {done.returncode})")
    rows: list[dict[str, object]] = json.loads(out.read_text())["results"]
    return rows


def compare(rev: str, names: Sequence[str], rounds: int, extra: Sequence[str]) -> Times:
    """Run ``names`` in both trees ``rounds`` times; per benchmark, per label: [REV's, ours]."""
    times: Times = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="wskit-against-") as scratch:
        base = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(base), rev], cwd=TREE, check=True
        )
        try:
            for round_ in range(rounds):
                trees = [(0, base), (1, TREE)] if round_ % 2 == 0 else [(1, TREE), (0, base)]
                for side, tree in trees:
                    for name in names:
                        out = Path(scratch) / f"{name}-{side}-{round_}.json"
                        for row in _run(tree, name, out, extra):
                            label = str(row["label"])
                            if row.get("group"):  # a label may stand in several groups
                                label = f"{label} ({row['group']})"
                            pair = times[name].setdefault(label, ([], []))
                            median, relative = row["median_s"], row["vs_baseline"]
                            pair[side].append((float(median), float(relative)))  # type: ignore[arg-type]
                print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=TREE)
    return times


def report(rev: str, times: Times, tolerance: float) -> tuple[str, bool]:
    """The comparison as markdown tables, and whether every wskit case kept its throughput."""
    lines = [f"This tree against {rev}: throughput ours/theirs, raw and relative to the baseline."]
    all_met = True
    for name, cases in times.items():
        lines += ["", f"## {name}", ""]
        lines.append("| case | theirs | ours | raw | vs. baseline | target |")
        lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for label, (theirs, ours) in cases.items():
            if not theirs or not ours:
                lines.append(f"| {label} | | | | | in one tree only |")
                continue
            then, now = (statistics.median(t for t, _ in side) for side in (theirs, ours))
            before, after = (statistics.median(r for _, r in side) for side in (theirs, ours))
            ratio = after / before
            target = ""
            if not any(word in label for word in CONTROLS):
                met = ratio >= 1 - tolerance
                all_met &= met
                target = "met" if met else "MISSED"
            lines.append(
                f"| {label} | {then * 1e6:.3f} µs | {now * 1e6:.3f} µs | {then / now:.3f}x "
                f"| {ratio:.3f}x | {target} |"
            )
    lines += ["", f"target: every wskit case keeps >= {1 - tolerance:.2f}x of {rev}'s throughput"]
    return "\n".join(lines), all_met


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the comparison, print it; exit 1 if a target is missed."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.against", description=__doc__.splitlines()[0]
    )
    p.add_argument("rev", help="the commit to compare with (e.g. main, a hash)")
    p.add_argument(
        "names", nargs="*", help="benchmark modules (default: connection, operations, broadcast)"
    )
    p.add_argument("--rounds", type=int, default=6, help="processes per tree and benchmark")
    p.add_argument(
        "-n", "--repeat", type=int, default=3, help="interleaved rounds inside each process"
    )
    p.add_argument("--quick", action="store_true", help="a smoke run")
    p.add_argument("--tolerance", type=float, default=0.03, help="allowed loss of throughput")
    p.add_argument("-k", dest="select", default=None, help="only cases whose label contains K")
    args = p.parse_args(argv)
    wanted = args.names or ["connection", "operations", "broadcast"]
    names = [n if n.startswith("bench_") else f"bench_{n}" for n in wanted]
    unknown = set(names) - set(modules())
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    extra = ["-n", str(args.repeat)] + (["--quick"] if args.quick else [])
    if args.select:
        extra += ["-k", args.select]
    text, all_met = report(args.rev, compare(args.rev, names, args.rounds, extra), args.tolerance)
    print(text)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
