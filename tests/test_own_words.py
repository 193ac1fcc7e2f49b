"""The tests assert wskit's words, never another project's.

A release of msgspec, Starlette, anyio, hypercorn, uvicorn, granian, coredis or websockets may
reword a message without anything in wskit changing; a test that spelled it would then fail on
a fresh install. This test reads every ``assert`` and every ``pytest.raises(match=...)`` in
``tests/`` and fails on a string in them that occurs in an installed third-party package (its
Python source or its compiled module) and nowhere in wskit's own source. Helpers for checking
such text without spelling it are in ``tests/_upstream.py``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from tests._services import REPO_ROOT

#: The projects whose words a test must not spell (the ones wskit meets at its seams).
PROJECTS = (
    "msgspec",
    "starlette",
    "anyio",
    "hypercorn",
    "coredis",
    "websockets",
    "uvicorn",
    "trio",
    "h11",
    "wsproto",
    "granian",
)
#: Strings shorter than this, or without a space, are words, not messages.
MIN_LENGTH = 14
#: Strings the tests themselves send or raise, which happen to occur in a project, with why.
OWN_DATA = {
    "across workers": "a chat message the demo test sends and expects back",
}


@cache
def _third_party_text() -> bytes:
    chunks = []
    for name in PROJECTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for path in Path(root).rglob("*"):
                if path.suffix in {".py", ".so", ".pyi"} and path.is_file():
                    chunks.append(path.read_bytes())
    return b"\n".join(chunks)


@cache
def _wskit_text() -> bytes:
    return b"\n".join(path.read_bytes() for path in (REPO_ROOT / "wskit").rglob("*.py"))


def _asserted_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """String constants inside ``assert`` statements and ``match=`` keyword arguments."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            roots: list[ast.AST] = [node.test]
        elif isinstance(node, ast.keyword) and node.arg == "match":
            roots = [node.value]
        else:
            continue
        for root in roots:
            for inner in ast.walk(root):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    yield inner.lineno, inner.value


def _pieces(text: str) -> Iterator[str]:
    """The literal stretches of a string that may be a regular expression or an f-string."""
    for piece in re.split(r"[\\^$()\[\]{}|*+?]", text):
        piece = piece.strip()
        if len(piece) >= MIN_LENGTH and " " in piece:
            yield piece


def test_no_test_asserts_another_projects_message() -> None:
    theirs, ours = _third_party_text(), _wskit_text()
    assert theirs, "none of the third-party packages was found"
    found = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        if path == Path(__file__):  # its own self-check spells one on purpose
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _asserted_strings(tree):
            for piece in _pieces(text):
                encoded = piece.encode()
                if piece not in OWN_DATA and encoded in theirs and encoded not in ours:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{line}: {piece!r}")
    assert found == [], "tests spell another project's words:\n" + "\n".join(found)


def test_the_check_sees_a_third_party_message() -> None:
    # The check above cannot pass by reading nothing: a message msgspec raises is found.
    tree = ast.parse('assert str(error) == "Object missing required field"')
    pieces = [p for _, text in _asserted_strings(tree) for p in _pieces(text)]
    assert pieces == ["Object missing required field"]
    assert pieces[0].encode() in _third_party_text()
    assert pieces[0].encode() not in _wskit_text()
