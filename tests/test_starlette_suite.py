"""Starlette's own WebSocket test module, run against ``wskit.WebSocket``.

The tests of ``starlette/tests/test_websockets.py`` come from the sdist of the Starlette version
``uv.lock`` pins (downloaded once into ``~/.cache/wskit-tests``, checked against the lock's
sha256; offline, the test skips, and fails under ``CI=true``). They run twice in a subprocess:
once as they are (the baseline: a test may fail in this environment whatever the class, such as
a header list that depends on the installed compression modules) and once with
``starlette.websockets.WebSocket`` replaced by wskit's class (``tests/starlette_suite``).

The tests that fail only with wskit's class must be exactly those named in the table of
deliberate differences in ``docs/howto/migrate-starlette.md``: a new failure is a compatibility
bug, and a row whose test passes again must leave the table.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NoReturn

import pytest

from ._services import timeout, unavailable

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "tests" / "starlette_suite"
TABLE_PAGE = ROOT / "docs" / "howto" / "migrate-starlette.md"
#: The files of the sdist the run needs: the test module, its package and its pytest settings.
MEMBERS = (
    "pyproject.toml",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/types.py",
    "tests/test_websockets.py",
)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wskit-tests"


def _locked_sdist(name: str, version: str) -> tuple[str, str]:
    """The sdist URL and sha256 that ``uv.lock`` records for ``name`` at ``version``."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    for package in lock["package"]:
        if package["name"] == name and package["version"] == version:
            sdist = package["sdist"]
            return str(sdist["url"]), str(sdist["hash"]).removeprefix("sha256:")
    raise LookupError(f"uv.lock has no sdist for {name} {version}")


def _unavailable(reason: str) -> NoReturn:
    unavailable(reason, "Starlette's test module must run")


def starlette_tests() -> Path:
    """A directory holding the locked Starlette sdist's ``tests/`` and ``pyproject.toml``."""
    version = importlib.metadata.version("starlette")
    url, sha256 = _locked_sdist("starlette", version)
    target = _cache_root() / f"starlette-{version}-{sha256[:12]}"
    if all((target / member).is_file() for member in MEMBERS):
        return target
    try:
        with urllib.request.urlopen(url, timeout=timeout(60)) as response:
            data = response.read()
    except OSError as exc:
        _unavailable(f"cannot download Starlette's sdist ({url}): {exc}")
    if hashlib.sha256(data).hexdigest() != sha256:
        pytest.fail(f"{url} does not match the sha256 in uv.lock", pytrace=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        prefix = f"starlette-{version}/"
        for member in MEMBERS:
            source = archive.extractfile(prefix + member)
            if source is None:  # pragma: no cover - a file became a directory
                raise FileNotFoundError(prefix + member)
            path = staging / member
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.read())
    try:
        staging.rename(target)
    except OSError:  # another run got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run_suite(directory: Path, swap: str, out: Path) -> set[str]:
    """Run Starlette's WebSocket tests with ``WSKIT_SWAP=swap``; return the failing test ids."""
    report = out / f"{swap}.xml"
    env = {**os.environ, "WSKIT_SWAP": swap, "PYTHONPATH": str(PLUGIN_DIR)}
    env.pop("PYTEST_ADDOPTS", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_websockets.py",
            "-p",
            "wskit_starlette_swap",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout(300),
        check=False,
    )
    if not report.is_file():
        pytest.fail(f"Starlette's suite did not run:\n{completed.stdout}\n{completed.stderr}")
    failing: set[str] = set()
    ran = 0
    for case in ET.parse(report).iter("testcase"):
        ran += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failing.add(case.attrib["name"])
    assert ran >= 60, f"only {ran} of Starlette's WebSocket tests ran:\n{completed.stdout}"
    return failing


def documented_differences() -> set[str]:
    """The Starlette test names in the last column of the table of deliberate differences."""
    text = TABLE_PAGE.read_text(encoding="utf-8")
    section = text.split("## Deliberate differences", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("| ---"):
            last = line.rstrip(" |").rsplit("|", 1)[-1]
            names.update(re.findall(r"`(test_\w+)`", last))
    return names


def test_starlettes_websocket_tests_fail_only_on_the_deliberate_differences(
    tmp_path: Path,
) -> None:
    directory = starlette_tests()
    baseline = run_suite(directory, "starlette", tmp_path)
    with_wskit = run_suite(directory, "wskit", tmp_path)
    expected = {
        f"{name}[{backend}]" for name in documented_differences() for backend in ("asyncio", "trio")
    }
    assert with_wskit - baseline == expected
