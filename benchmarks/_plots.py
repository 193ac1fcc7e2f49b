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
