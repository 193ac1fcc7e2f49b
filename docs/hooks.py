"""MkDocs hooks for wskit's documentation (``hooks:`` in ``mkdocs.yml``).

* Before every build, regenerate ``docs/topics/state-machine-diagram.md`` from
  ``wskit._state.TRANSITIONS`` (``docs/gen_state_diagram.py``), so ``mkdocs serve`` and
  ``mkdocs build`` never show a stale diagram.
* Fill the benchmarks page: the marker ``<!-- wskit:benchmark-results -->`` in
  ``benchmarks.md`` becomes an include of ``benchmarks/results/summary.md`` and the PNG plots of
  ``benchmarks/results/`` when they exist, and a short "no results yet" note when they do not.
  ``pymdownx.snippets`` runs with ``check_paths: true`` (a mistyped example path must fail the
  build), so the optional include is decided here instead of by a missing-file rule.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Final

from mkdocs.structure.files import File, Files

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = ROOT / "benchmarks" / "results"
SUMMARY: Final = RESULTS / "summary.md"
MARKER: Final = "<!-- wskit:benchmark-results -->"
PLOTS_URI: Final = "benchmarks/results"

PLACEHOLDER: Final = """\
!!! note "No results in this build"
    This copy of the documentation was built without benchmark results. Run
    `nox -s bench` (or `python -m benchmarks`) to produce `benchmarks/results/summary.md` and the
    plots, then rebuild the docs: they appear here.
"""


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "wskit_docs_gen_state_diagram", ROOT / "docs" / "gen_state_diagram.py"
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has one
        raise ImportError("cannot load docs/gen_state_diagram.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_pre_build(config: Any) -> None:
    """Regenerate the state diagram (written only when its content changed)."""
    _load_generator().write()


def _plots() -> list[Path]:
    return sorted(RESULTS.glob("*.png")) if RESULTS.is_dir() else []


def on_files(files: Files, config: Any) -> Files:
    """Publish the benchmark plots next to the benchmarks page."""
    for plot in _plots():
        files.append(File.generated(config, f"{PLOTS_URI}/{plot.name}", abs_src_path=str(plot)))
    return files


def _results_markdown() -> str:
    parts: list[str] = []
    if SUMMARY.is_file():
        parts.append(f'--8<-- "{SUMMARY.relative_to(ROOT).as_posix()}"')
    plots = _plots()
    if plots:
        parts.append("## Plots")
        for plot in plots:
            title = plot.stem.replace("_", " ").replace("-", " ")
            parts.append(f"![{title}]({PLOTS_URI}/{plot.name})")
    if not parts:
        return PLACEHOLDER
    return "\n\n".join(parts) + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace the benchmark marker with the results, or with a placeholder."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _results_markdown())
