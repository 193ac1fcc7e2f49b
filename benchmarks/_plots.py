"""PNG plots of benchmark results: one horizontal bar chart per benchmark, ratios vs. baseline.

``python -m benchmarks`` calls :func:`write_plots` after a run; the docs' benchmarks page shows
the PNGs when they exist. matplotlib runs headless (the Agg backend): no display is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["write_plots"]


def write_plots(documents: Iterable[Mapping[str, Any]], directory: Path) -> list[Path]:
    """Write ``<name>.png`` for every results document; return the files written.

    Each group of a benchmark (``text``, ``typed``, ...) is one panel; a bar is a contender's
    throughput relative to the group's baseline (1.0, drawn as a line), so longer is faster.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for document in documents:
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for result in document.get("results", []):
            groups.setdefault(str(result.get("group") or ""), []).append(result)
        if not groups:
            continue
        height = sum(len(rows) for rows in groups.values()) * 0.45 + len(groups) * 0.8 + 0.6
        figure, axes = plt.subplots(len(groups), 1, figsize=(8, height), squeeze=False)
        for axis, (group, rows) in zip(axes[:, 0], groups.items(), strict=True):
            rows = sorted(rows, key=lambda row: float(row.get("vs_baseline") or 0.0))
            labels = [str(row["label"]) for row in rows]
            ratios = [float(row.get("vs_baseline") or 0.0) for row in rows]
            colors = ["#2b6cb0" if "wskit" in label.lower() else "#a0aec0" for label in labels]
            axis.barh(labels, ratios, color=colors)
            axis.axvline(1.0, color="#1a202c", linewidth=0.8)
            for y, ratio in enumerate(ratios):
                axis.text(ratio, y, f" {ratio:.2f}x", va="center", fontsize=8)
            axis.set_title(group or str(document.get("name", "")), fontsize=10, loc="left")
            axis.set_xlim(0, max([*ratios, 1.0]) * 1.2)
            axis.tick_params(labelsize=8)
        figure.suptitle(str(document.get("question", document.get("name", ""))), fontsize=10)
        figure.supxlabel("throughput vs. baseline (higher is faster)", fontsize=9)
        figure.tight_layout()
        path = directory / f"bench_{document.get('name', 'results')}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def write_server_plot(wire: Mapping[str, Any], load: Mapping[str, Any], path: Path) -> Path:
    """The "Choosing a server" plot: server CPU per typed round trip and per delivery.

    Args:
        wire: The results document of ``bench_wire`` (its ``wskit`` rows, one per server).
        load: The results document of ``benchmarks.load`` (its ``servers`` runs, burst phase).
        path: Where to write the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = [str(s) for s in wire.get("settings", {}).get("servers", [])]
    round_trip = {
        str(row["group"]): float(row["median_s"]) * 1e6
        for row in wire.get("results", [])
        if row.get("label") == "wskit" and row.get("group") in servers
    }
    delivery: dict[str, float] = {}
    for server, runs in dict(load.get("servers", {})).items():
        values = sorted(
            float(phase["server_cpu_us_per_delivery"])
            for run in runs
            for phase in run["phases"]
            if phase["phase"] == "burst" and phase["server_cpu_us_per_delivery"] is not None
        )
        if values:
            delivery[str(server)] = values[len(values) // 2]
    panels = [
        ("server CPU per typed round trip (µs), bench_wire", round_trip),
        ("server CPU per broadcast delivery, 5,000 connections (µs), load", delivery),
    ]
    figure, axes = plt.subplots(len(panels), 1, figsize=(7, 4.2), squeeze=False)
    for axis, (title, figures) in zip(axes[:, 0], panels, strict=True):
        names = [name for name in servers if name in figures]
        numbers = [figures[name] for name in names]
        axis.barh(
            names, numbers, color=["#2b6cb0" if n == "hypercorn" else "#a0aec0" for n in names]
        )
        for y, number in enumerate(numbers):
            axis.text(number, y, f" {number:.1f}", va="center", fontsize=8)
        axis.invert_yaxis()
        axis.set_title(title, fontsize=9, loc="left")
        axis.set_xlim(0, max([*numbers, 1.0]) * 1.2)
        axis.tick_params(labelsize=8)
    figure.suptitle("wskit on each server (lower is cheaper)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":  # python -m benchmarks._plots WIRE.json LOAD.json OUT.png
    import json
    import sys

    wire_path, load_path, out = (Path(arg) for arg in sys.argv[1:4])
    write_server_plot(json.loads(wire_path.read_text()), json.loads(load_path.read_text()), out)
    print(f"wrote {out}")
