"""A missing extra is one line naming it, the same everywhere, with no traceback on the CLI.

Each case runs in a fresh interpreter where the extra's package is made unimportable
(``sys.modules[name] = None``, which is how Python reports a module that is not installed).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests._services import REPO_ROOT
from wskit._extras import EXTRAS, require
from wskit.exceptions import MissingExtra

CLI = """
import sys
sys.modules[{module!r}] = None
from wskit.cli import main
sys.exit(main({argv!r}))
"""

IMPORT = """
import sys
sys.modules[{module!r}] = None
{statement}
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT / "docs" / "examples",
        timeout=60,
        check=False,
    )


def _expected(feature: str, extra: str) -> str:
    return str(MissingExtra(feature, extra, EXTRAS[extra][1]))


@pytest.mark.parametrize(
    ("extra", "argv", "feature"),
    [
        ("server", ["demo"], "wskit demo"),
        ("server", ["run", "tutorial_01_echo:app"], "wskit run"),
        (
            "uvicorn",
            ["run", "tutorial_01_echo:app", "--server", "uvicorn"],
            "wskit run --server uvicorn",
        ),
        (
            "granian",
            ["run", "tutorial_01_echo:app", "--server", "granian"],
            "wskit run --server granian",
        ),
        ("reload", ["run", "tutorial_01_echo:app", "--reload"], "wskit run --reload"),
        (
            "yaml",
            ["asyncapi", "tutorial_04_operations:app", "--format", "yaml"],
            "AsyncAPI as YAML",
        ),
    ],
)
def test_cli_says_which_extra_in_one_line(extra: str, argv: list[str], feature: str) -> None:
    done = _python(CLI.format(module=EXTRAS[extra][0], argv=argv))
    assert done.returncode == 2
    assert done.stderr == f"wskit: error: {_expected(feature, extra)}\n"


@pytest.mark.parametrize(
    "statement",
    [
        "from wskit import RedisBackend",
        "from wskit.pubsub import RedisBackend",
        "from wskit.pubsub.backends import RedisBackend",
        "import wskit; wskit.RedisBackend",
    ],
)
def test_redis_backend_without_coredis_names_the_extra(statement: str) -> None:
    done = _python(IMPORT.format(module="coredis", statement=statement))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"wskit.exceptions.MissingExtra: {_expected('RedisBackend', 'redis')}"
    )


def test_missing_extra_is_an_import_error() -> None:
    error = MissingExtra("wskit demo", "server", "hypercorn")
    assert isinstance(error, ImportError)
    assert (error.feature, error.extra, error.package) == ("wskit demo", "server", "hypercorn")
    assert "pip install 'wskit[server]'" in str(error)


def test_require_returns_the_module_when_installed() -> None:
    assert require("yaml", "AsyncAPI as YAML").__name__ == "yaml"


def test_an_import_error_inside_an_installed_package_is_not_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A broken install (the package is there, one of its own imports fails) is not reported
    # as a missing extra: the real error propagates.
    def broken(name: str) -> None:
        raise ImportError("a dependency of the package is broken", name="_yaml_internals")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ImportError) as raised:
        require("yaml", "AsyncAPI as YAML")
    assert not isinstance(raised.value, MissingExtra)
