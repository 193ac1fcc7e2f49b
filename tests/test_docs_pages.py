"""The docs run as written: every code block shows its imports, every page names its extras.

A reader copies one block of a page, not the example file behind it. So each ``python`` block,
as the reader sees it (its ``--8<--`` includes expanded, as ``pymdownx.snippets`` renders
them), must import every name it uses, except the names defined by the page's earlier blocks
(a class of the first block used by the second). ``ruff``'s undefined-name check (F821) reads
each block after those earlier definitions, their imports removed.

And a page whose code needs an optional extra (``wskit run`` needs ``server``, ``RedisBackend``
needs ``redis``...) says ``pip install "wskit[...]"`` with it.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INCLUDE = re.compile(r'\s*-{1,}8<-{1,}\s+"([^"]+)"\s*')
INSTALL = re.compile(r"wskit\[([a-z0-9,]+)\]")
SHELL_OR_PYTHON = {"python", "console", "bash", "sh", "shell"}
#: What in a page's code (python and shell blocks) needs which extra.
NEEDS: dict[str, re.Pattern[str]] = {
    "server": re.compile(r"\bwskit (run|demo)\b|from wskit\.server import|wskit\.serve\("),
    "redis": re.compile(r"\bRedisBackend\(|\bimport coredis\b"),
    "trio": re.compile(r"^\s*import trio\b|--worker trio|backend=\"trio\"", re.MULTILINE),
    "uvloop": re.compile(r"--worker uvloop"),
    "uvicorn": re.compile(r"--server uvicorn|server=\"uvicorn\""),
    "granian": re.compile(r"--server granian|server=\"granian\""),
    "reload": re.compile(r"wskit run [^\n]*--reload"),
    "yaml": re.compile(r"\bto_yaml\(|--format yaml"),
}


def _section(target: str) -> str:
    """The text ``pymdownx.snippets`` includes for ``path``, ``path:name`` or ``path:a:b``."""
    path, *rest = target.split(":")
    text = (ROOT / path).read_text(encoding="utf-8")
    if not rest:
        return text
    if len(rest) == 2:  # a line range
        lines = text.splitlines()
        return "\n".join(lines[int(rest[0]) - 1 : int(rest[1])])
    start, end = f"# --8<-- [start:{rest[0]}]", f"# --8<-- [end:{rest[0]}]"
    return text.split(start, 1)[1].split(end, 1)[0]


def blocks(page: Path) -> list[tuple[str, str]]:
    """The page's fenced blocks as rendered: ``(language, text)``, includes expanded."""
    found = []
    for language, body in FENCE.findall(page.read_text(encoding="utf-8")):
        lines = []
        for line in body.splitlines():
            include = INCLUDE.fullmatch(line)
            lines.append(_section(include.group(1)) if include else line)
        found.append((language, "\n".join(lines)))
    return found


def _without_imports(source: str) -> str:
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    return ast.unparse(tree)


def test_every_python_block_shows_its_imports(tmp_path: Path) -> None:
    starts: dict[str, tuple[str, int]] = {}
    for page in PAGES:
        earlier: list[str] = []
        code = [text for language, text in blocks(page) if language == "python"]
        for index, text in enumerate(code):
            prelude = "\n".join(earlier) + "\n"
            name = f"{page.relative_to(ROOT).as_posix().replace('/', '__')}__{index}.py"
            (tmp_path / name).write_text(prelude + text, encoding="utf-8")
            label = f"{page.relative_to(ROOT)}, python block {index + 1}"
            starts[name] = (label, prelude.count("\n") + 1)
            earlier.append(_without_imports(text))
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [ruff, "check", "--isolated", "--select", "F821", "--output-format", "json", tmp_path],
        capture_output=True,
        text=True,
        check=False,
    )
    missing: dict[str, set[str]] = {}
    for problem in json.loads(result.stdout):
        label, first_line = starts[Path(problem["filename"]).name]
        if problem["location"]["row"] > first_line:  # in the block, not in the earlier ones
            missing.setdefault(label, set()).add(problem["message"].split("`")[1])
    report = "\n".join(f"{label}: {', '.join(sorted(names))}" for label, names in missing.items())
    assert not missing, f"blocks that use names they do not import:\n{report}"
    assert len(starts) > 30  # the pages were found


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_page_names_the_extras_its_code_needs(page: Path) -> None:
    code = "\n".join(text for language, text in blocks(page) if language in SHELL_OR_PYTHON)
    needed = {extra for extra, pattern in NEEDS.items() if pattern.search(code)}
    named = {
        e for group in INSTALL.findall(page.read_text(encoding="utf-8")) for e in group.split(",")
    }
    assert needed - named == set(), f'say pip install "wskit[{",".join(sorted(needed))}]"'
