"""The shared benchmark harness: cases, interleaved rounds, medians, tables and JSON.

Every ``bench_*.py`` module describes its contenders as :class:`Case` objects and hands them to
:func:`main`, which

1. prints the interpreter, platform, CPU and package versions first;
2. calibrates each case once (``timeit``-style autorange: 1, 2, 5, 10, 20, 50... calls until a
   timing lasts ``--min-time`` seconds), which doubles as a warm-up;
3. runs ``-n`` rounds; every round times every case once, in an order that rotates by one
   each round, so a slow drift of the machine (thermal throttling, a noisy neighbour) spreads
   over all contenders instead of punishing the one that happened to run last;
4. prints, per group, a markdown table sorted fastest first with the median and the minimum
   time per operation, operations per second and the throughput ratio against the group's
   baseline case (``1.00x``; ``0.50x`` means half the baseline's throughput);
5. writes everything, with every single timing, as JSON when given ``--json PATH``.

Async cases (a coroutine function as ``fn``) run under anyio, on asyncio by default or trio
with ``--backend trio``; the clock runs inside the event loop, so creating the loop is not
timed. The garbage collector is off while a timing runs, as in :mod:`timeit`.

A minimal benchmark module::

    def cases(options: Options) -> list[Case]:
        return [Case("dumps", json.dumps, payload=DATA, baseline=True), ...]

    def main(argv: Sequence[str] | None = None) -> int:
        return run(__doc__, cases, argv, name="codecs")
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import inspect
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio

__all__ = [
    "PACKAGES",
    "Case",
    "Options",
    "Result",
    "environment",
    "format_environment",
    "format_table",
    "load_results",
    "measure",
    "parser",
    "run",
    "run_async",
    "write_document",
]

T = TypeVar("T")

#: The packages whose versions every benchmark prints.
PACKAGES: tuple[str, ...] = (
    "wskit",
    "starlette",
    "msgspec",
    "anyio",
    "hypercorn",
    "pydantic",
    "litestar",
    "uvicorn",
    "websockets",
)

_NO_PAYLOAD: Any = object()
_GROWTH = (1, 2, 5)


@dataclass
class Case:
    """One contender.

    Attributes:
        label: The row name in the table.
        fn: What to time: a plain function or a coroutine function. Called with ``payload``
            when one is given, else with no arguments.
        payload: The argument of ``fn`` (optional).
        ops: How many operations one call of ``fn`` performs (for example the number of
            messages an echo run handles); times are reported per operation.
        group: Cases are compared within their group; each group gets its own table.
        baseline: The case the group's ratios are relative to (the first case of the group
            when none is marked).
        number: Calls per timing; ``None`` calibrates it (``timeit``'s autorange).
        asynchronous: Whether ``fn`` is a coroutine function; detected when ``None``.
    """

    label: str
    fn: Callable[..., Any]
    payload: Any = _NO_PAYLOAD
    ops: int = 1
    group: str = ""
    baseline: bool = False
    number: int | None = None
    asynchronous: bool | None = None

    def __post_init__(self) -> None:
        if self.asynchronous is None:
            self.asynchronous = inspect.iscoroutinefunction(self.fn)
        if self.ops < 1:
            raise ValueError(f"Case {self.label!r}: ops must be >= 1")

    def call(self) -> Callable[[], Any]:
        """Return a zero-argument callable that performs one call of ``fn``."""
        fn, payload = self.fn, self.payload
        if payload is _NO_PAYLOAD:
            return fn
        return lambda: fn(payload)


@dataclass
class Result:
    """The timings of one case: seconds per operation, one entry per round."""

    case: Case
    number: int
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median seconds per operation."""
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        """Minimum seconds per operation."""
        return min(self.times)

    @property
    def rate(self) -> float:
        """Operations per second, from the median."""
        return 1.0 / self.median if self.median > 0 else float("inf")


@dataclass
class Options:
    """The parsed command line a benchmark module's case factory receives."""

    quick: bool = False
    repeat: int = 7
    min_time: float = 0.2
    backend: str = "asyncio"
    clock: str = "wall"
    json: Path | None = None
    select: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# -- timing -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: The clock timings use: wall time (``perf_counter``), or with ``--clock cpu`` the process's
#: CPU time (``process_time``), steadier on a machine shared with other work.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
_clock: list[Callable[[], float]] = [time.perf_counter]


async def _time_coroutines(fn: Callable[[], Awaitable[Any]], number: int) -> float:
    clock = _clock[0]
    with _no_gc():
        start = clock()
        for _ in range(number):
            await fn()
        return clock() - start


def _time_sync(fn: Callable[[], Any], number: int) -> float:
    clock = _clock[0]
    with _no_gc():
        start = clock()
        for _ in range(number):
            fn()
        return clock() - start


def run_async(fn: Callable[..., Awaitable[T]], *args: Any, backend: str = "asyncio") -> T:
    """Run ``fn(*args)`` to completion in a new anyio event loop and return its result."""
    return anyio.run(fn, *args, backend=backend)


def measure(case: Case, number: int, backend: str = "asyncio") -> float:
    """Time ``number`` calls of ``case`` and return the total in seconds."""
    call = case.call()
    if case.asynchronous:
        return run_async(_time_coroutines, call, number, backend=backend)
    return _time_sync(call, number)


def autorange(case: Case, min_time: float, backend: str = "asyncio") -> int:
    """Find a number of calls whose timing lasts at least ``min_time`` (``timeit``'s rule)."""
    if case.number is not None:
        measure(case, case.number, backend)  # warm-up
        return case.number
    scale = 1
    while True:
        for step in _GROWTH:
            number = step * scale
            if measure(case, number, backend) >= min_time:
                return number
        scale *= 10


def bench(cases: Sequence[Case], options: Options, *, progress: bool = True) -> list[Result]:
    """Calibrate every case, then time them in ``options.repeat`` interleaved rounds."""
    results = []
    for case in cases:
        number = autorange(case, options.min_time, options.backend)
        results.append(Result(case, number))
    count = len(results)
    for round_ in range(options.repeat):
        if progress:
            print(f"  round {round_ + 1}/{options.repeat}", end="\r", file=sys.stderr, flush=True)
        shift = round_ % count
        for result in results[shift:] + results[:shift]:
            total = measure(result.case, result.number, options.backend)
            result.times.append(total / (result.number * result.case.ops))
    if progress:
        print(" " * 30, end="\r", file=sys.stderr, flush=True)
    return results


# -- environment --------------------------------------------------------------------------------


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """Describe the interpreter, platform, CPU and package versions."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu(),
        "cpus": os.cpu_count(),
        "packages": versions,
    }


def format_environment(env: dict[str, Any]) -> str:
    """Render :func:`environment`'s result as a few lines of text."""
    packages = ", ".join(
        f"{name} {version}" for name, version in env["packages"].items() if version is not None
    )
    missing = [name for name, version in env["packages"].items() if version is None]
    lines = [
        f"Python:   {env['python']}",
        f"Platform: {env['platform']}",
        f"CPU:      {env['cpu']} ({env['cpus']} logical CPUs)",
        f"Packages: {packages}",
    ]
    if missing:
        lines.append(f"Missing:  {', '.join(missing)}")
    return "\n".join(lines)


# -- reporting ----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 1000:
        return f"{us / 1000:,.2f} ms"
    if us >= 1:
        return f"{us:,.3f} µs"
    return f"{us * 1000:,.1f} ns"


def _rate(rate: float) -> str:
    if rate >= 1e6:
        return f"{rate / 1e6:,.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:,.1f} k"
    return f"{rate:,.1f}"


def groups(results: Sequence[Result]) -> dict[str, list[Result]]:
    """Split results by group, keeping the order groups first appear in."""
    out: dict[str, list[Result]] = {}
    for result in results:
        out.setdefault(result.case.group, []).append(result)
    return out


def baseline_of(results: Sequence[Result]) -> Result:
    """The group's baseline: the case marked ``baseline``, else the first one."""
    return next((r for r in results if r.case.baseline), results[0])


def rows(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One dict per result, with its ratio to the group baseline, for JSON and tables."""
    out = []
    for members in groups(results).values():
        base = baseline_of(members)
        for result in members:
            out.append(
                {
                    "label": result.case.label,
                    "group": result.case.group,
                    "baseline": result is base,
                    "ops_per_call": result.case.ops,
                    "calls_per_timing": result.number,
                    "median_s": result.median,
                    "min_s": result.best,
                    "ops_per_s": result.rate,
                    "vs_baseline": base.median / result.median,
                    "times_s": list(result.times),
                }
            )
    return out


def format_table(table_rows: Sequence[dict[str, Any]], unit: str = "op") -> str:
    """Markdown tables (one per group) sorted fastest first, with the ratio to the baseline."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for row in table_rows:
        by_group.setdefault(row["group"], []).append(row)
    blocks = []
    for group, members in by_group.items():
        lines = []
        if group:
            lines.append(f"**{group}**\n")
        lines.append(f"| Case | median /{unit} | min /{unit} | {unit}/s (median) | vs. baseline |")
        lines.append("|:-----|-----:|-----:|-----:|-----:|")
        for row in sorted(members, key=lambda r: r["median_s"]):
            label = f"{row['label']} (baseline)" if row["baseline"] else row["label"]
            lines.append(
                f"| {label} | {_duration(row['median_s'])} | {_duration(row['min_s'])} "
                f"| {_rate(row['ops_per_s'])} | {row['vs_baseline']:.2f}x |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# -- command line -------------------------------------------------------------------------------


def parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark module accepts."""
    p = argparse.ArgumentParser(
        description=(description or "").strip().splitlines()[0] if description else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-n", "--repeat", type=int, default=None, help="rounds (default 7; quick 3)")
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write results here")
    p.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help="for async cases"
    )
    p.add_argument(
        "--min-time", type=float, default=None, help="seconds per timing when calibrating"
    )
    p.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall time, or this process's CPU time (steadier on a busy machine)",
    )
    p.add_argument("-k", dest="select", default=None, help="only cases whose label contains K")
    return p


def _parse(description: str | None, argv: Sequence[str] | None) -> Options:
    args = parser(description).parse_args(argv)
    quick = bool(args.quick)
    repeat = args.repeat if args.repeat is not None else (3 if quick else 7)
    if repeat < 1:
        raise SystemExit("-n must be at least 1")
    min_time = args.min_time if args.min_time is not None else (0.01 if quick else 0.2)
    return Options(
        quick=quick,
        repeat=repeat,
        min_time=min_time,
        backend=args.backend,
        clock=args.clock,
        json=args.json,
        select=args.select,
    )


def run(
    doc: str | None,
    make_cases: Callable[[Options], Sequence[Case]],
    argv: Sequence[str] | None = None,
    *,
    name: str,
    unit: str = "op",
    notes: Callable[[Sequence[Result]], str] | None = None,
) -> int:
    """Parse ``argv``, run the cases ``make_cases`` returns and report them.

    Args:
        doc: The benchmark module's docstring (its first line is the question).
        make_cases: Builds the cases for the parsed options (smaller counts under ``--quick``).
        argv: The command line (``sys.argv[1:]`` when ``None``).
        name: The benchmark's short name, used in JSON and the summary.
        unit: What one operation is called in the table ("msg", "op").
        notes: Optional extra text printed (and saved) after the tables, e.g. target checks.

    Returns:
        The process exit status: 0.
    """
    options = _parse(doc, argv)
    _clock[0] = CLOCKS[options.clock]
    env = environment()
    question = (doc or name).strip().splitlines()[0]
    print(f"# {name}: {question}\n")
    print(format_environment(env))
    cases = list(make_cases(options))
    if options.select:
        cases = [c for c in cases if options.select in c.label]
    if not cases:
        print("no cases selected")
        return 0
    print(
        f"\n{len(cases)} cases, {options.repeat} interleaved rounds, "
        f"backend {options.backend}, {options.clock} clock{', quick' if options.quick else ''}\n"
    )
    results = bench(cases, options)
    table_rows = rows(results)
    table = format_table(table_rows, unit)
    print(table)
    extra = notes(results) if notes is not None else ""
    if extra:
        print(f"\n{extra}")
    if options.json is not None:
        document = {
            "name": name,
            "question": question,
            "unit": unit,
            "environment": env,
            "settings": {
                "quick": options.quick,
                "repeat": options.repeat,
                "min_time": options.min_time,
                "backend": options.backend,
                "clock": options.clock,
            },
            "results": table_rows,
            "notes": extra,
        }
        write_document(options.json, document)
    return 0


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write one benchmark's results document (the JSON that :func:`summary` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nwrote {path}")


# -- combined reports ---------------------------------------------------------------------------


def load_results(path: Path) -> dict[str, Any]:
    """Read a JSON document :func:`run` wrote."""
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def summary(documents: Sequence[dict[str, Any]]) -> str:
    """One markdown page with every benchmark's tables, after the environment of the first."""
    if not documents:
        return "# Benchmarks\n\nNo results.\n"
    env = documents[0]["environment"]
    settings = documents[0]["settings"]
    parts = [
        "# Benchmarks",
        "Tight loops flatter everyone: these numbers compare layers on one machine, they do "
        "not predict a server's throughput.",
        "```\n" + format_environment(env) + "\n```",
        f"{settings['repeat']} interleaved rounds per benchmark, medians; "
        f"backend {settings['backend']}, {settings.get('clock', 'wall')} clock"
        f"{'; quick run' if settings['quick'] else ''}.",
    ]
    for document in documents:
        parts.append(f"## {document['name']}\n\n{document['question']}")
        parts.append(format_table(document["results"], document.get("unit", "op")))
        if document.get("notes"):
            parts.append(document["notes"])
    return "\n\n".join(parts) + "\n"
