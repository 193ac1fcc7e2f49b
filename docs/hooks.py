"""MkDocs hooks for wskit's documentation (``hooks:`` in ``mkdocs.yml``).

* Before every build, regenerate ``docs/topics/state-machine-diagram.md`` from
  ``wskit._state.TRANSITIONS`` (``docs/gen_state_diagram.py``), so ``mkdocs serve`` and
  ``mkdocs build`` never show a stale diagram.
* Render the Sphinx roles of wskit's docstrings (``:class:`~wskit.app.App```) as plain code
  in the reference pages: mkdocstrings' Google-style parser keeps them as text, so
  ``:class:<code>~wskit.app.App</code>`` becomes ``<code>App</code>``.
* Stand in for ``topics/pubsub.md`` (written with the pub/sub code) with a short page pointing
  to the reference, for as long as that file does not exist, so the strict build passes.
* Fill the serving reference: the marker ``<!-- wskit:server-options -->`` becomes the table of
  ``wskit run``'s options, read from ``wskit.serving.options.ServerOptions``.
* Fill the benchmarks page: the marker ``<!-- wskit:benchmark-results -->`` in
  ``benchmarks.md`` becomes an include of ``benchmarks/results/summary.md`` and the PNG plots of
  ``benchmarks/results/`` when they exist, and a short "no results yet" note when they do not.
  ``pymdownx.snippets`` runs with ``check_paths: true`` (a mistyped example path must fail the
  build), so the optional include is decided here instead of by a missing-file rule.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Final

from mkdocs.structure.files import File, Files

ROOT: Final = Path(__file__).resolve().parent.parent
#: Where the benchmark results are read from (``WSKIT_BENCH_RESULTS`` overrides it with
#: another folder inside the repository).
RESULTS: Final = Path(os.environ.get("WSKIT_BENCH_RESULTS", ROOT / "benchmarks" / "results"))
SUMMARY: Final = RESULTS / "summary.md"
MARKER: Final = "<!-- wskit:benchmark-results -->"
OPTIONS_MARKER: Final = "<!-- wskit:server-options -->"
PLOTS_URI: Final = "benchmarks/results"

PUBSUB_PAGE: Final = "topics/pubsub.md"
PUBSUB_STANDIN: Final = """\
# Pub/sub

The design notes of the pub/sub layer are not in this build yet. Meanwhile, see
[rooms with the Hub](../tutorial/05-rooms.md), [scaling out with Redis](../tutorial/06-redis.md),
[backpressure](backpressure.md), [delivery guarantees](delivery.md) and the
[`wskit.pubsub` reference](../reference/pubsub.md).
"""

_ROLE: Final = re.compile(
    r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const|ref):<code>(~?)([^<]*)</code>"
)

PLACEHOLDER: Final = """\
## Results

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
    """Publish the benchmark plots next to the benchmarks page; stand in for a missing page."""
    if files.get_file_from_path(PUBSUB_PAGE) is None:
        files.append(File.generated(config, PUBSUB_PAGE, content=PUBSUB_STANDIN))
    for plot in _plots():
        files.append(File.generated(config, f"{PLOTS_URI}/{plot.name}", abs_src_path=str(plot)))
    return files


def _summary_include() -> str:
    """A snippet include of the summary, without its own ``# Title`` line (the page has one)."""
    lines = SUMMARY.read_text(encoding="utf-8").splitlines()
    start = 2 if lines and lines[0].startswith("# ") else 1
    # pymdownx.snippets reads paths under its base path (the repository root) only.
    path = SUMMARY.resolve().relative_to(ROOT).as_posix()
    return f'--8<-- "{path}:{start}:{max(len(lines), start)}"'


def _results_markdown() -> str:
    parts: list[str] = []
    if SUMMARY.is_file():
        parts.append(_summary_include())
    plots = _plots()
    if plots:
        parts.append("## Plots")
        for plot in plots:
            title = plot.stem.replace("_", " ").replace("-", " ")
            parts.append(f"![{title}]({PLOTS_URI}/{plot.name})")
    if not parts:
        return PLACEHOLDER
    return "## Environment\n\n" + "\n\n".join(parts) + "\n"


def _options_table() -> str:
    """The serving options, read from ``wskit.serving.options.ServerOptions`` (its one home)."""
    from wskit.serving.cli import SERVER_OPTIONS

    lines = ["| Flag | Environment | Default | Meaning |", "| --- | --- | --- | --- |"]
    for option in SERVER_OPTIONS:
        default = "none" if option.default is None else option.default
        flag = option.flag if option.metavar is None else f"{option.flag} {option.metavar}"
        lines.append(f"| `{flag}` | `{option.env}` | `{default}` | {option.help} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Replace the benchmark marker with the results (or a placeholder), and the options
    marker with the table of serving options."""
    if OPTIONS_MARKER in markdown:
        markdown = markdown.replace(OPTIONS_MARKER, _options_table())
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _results_markdown())


def _plain_role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Turn leftover Sphinx roles into plain inline code."""
    return _ROLE.sub(_plain_role, html) if ":<code>" in html else html
