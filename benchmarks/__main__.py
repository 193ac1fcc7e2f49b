"""Run every ``bench_*.py`` module of this folder and write a combined summary.

Usage::

    python -m benchmarks [--quick] [-n N] [--json-dir DIR] [--backend trio] [NAME ...]

Each module's JSON goes to ``DIR/<module>.json`` (default ``benchmarks/results``) and the tables
of all of them to ``DIR/summary.md``. ``NAME`` selects modules (``connection`` or
``bench_connection``); without names every module runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from ._harness import load_results, summary
from ._plots import write_plots

HERE = Path(__file__).resolve().parent


def modules() -> list[str]:
    """The benchmark modules of this folder, by name, sorted."""
    return sorted(path.stem for path in HERE.glob("bench_*.py"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmark modules; return non-zero if any failed."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="modules to run (default: all)")
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    p.add_argument("-n", "--repeat", type=int, default=None, help="rounds per benchmark")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    p.add_argument("--json-dir", type=Path, default=HERE / "results", metavar="DIR")
    args = p.parse_args(argv)

    available = modules()
    selected = available
    if args.names:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.names}
        unknown = wanted - set(available)
        if unknown:
            p.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        selected = [name for name in available if name in wanted]

    common = ["--backend", args.backend, "--clock", args.clock]
    if args.quick:
        common.append("--quick")
    if args.repeat is not None:
        common += ["-n", str(args.repeat)]
    args.json_dir.mkdir(parents=True, exist_ok=True)

    failed = []
    documents = []
    for name in selected:
        out = args.json_dir / f"{name}.json"
        module = importlib.import_module(f"{__package__}.{name}")
        print(f"\n{'=' * 100}\n", flush=True)
        try:
            status = int(module.main([*common, "--json", str(out)]))
        except Exception as exc:  # report and go on with the other modules
            print(f"{name} failed: {exc!r}", file=sys.stderr)
            status = 1
        if status != 0:
            failed.append(name)
        elif out.exists():
            documents.append(load_results(out))

    summary_path = args.json_dir / "summary.md"
    summary_path.write_text(summary(documents))
    print(f"\nwrote {summary_path}")
    for path in write_plots(documents, args.json_dir):
        print(f"wrote {path}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
