"""Development tasks for wskit: ``nox -s <session>``.

Each session gets its own virtualenv, filled from ``uv.lock`` with ``uv sync --locked`` (the
same versions CI uses; a stale lock is an error). ``./dev test`` (and CI) runs the same sessions
in the project's ``.venv``, already synced from the lock, with ``--no-venv --no-install``, so
there is one definition of every check.

``nox -s latest`` is the one session that ignores the lock: it installs the newest releases
``pyproject.toml`` allows and runs the test suite, so that drift in a dependency is found here
before a user's fresh install finds it. Run it before a release and after ``./dev lock``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "docs", "bench"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "uv"

PYTHONS = ["3.11", "3.12", "3.13"]
#: Every optional capability, as `./dev test` installs them (--all-extras): read from
#: pyproject.toml, so a new extra is tested without the lock too.
EXTRAS = sorted(
    tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
)
#: The core, App, operations (and views), pub/sub and test-client suites: what CI runs on every
#: Python.
CORE_SUITES = [
    *sorted(str(path) for path in Path("tests").glob("test_*.py")),
    "tests/app",
    "tests/operations",
    "tests/views",
    "tests/pubsub",
    "tests/testing",
]


def _sync(session: nox.Session, *groups: str, extras: bool = True) -> None:
    """Install exactly what ``uv.lock`` pins for ``groups`` (and the extras) into the session.

    Under ``--no-venv`` (how ``./dev test`` runs the sessions, in ``.venv``, already synced from
    the lock) there is nothing to install.
    """
    location = getattr(session.virtualenv, "location", None)
    if location is None:
        return
    args = ["uv", "sync", "--locked", "--no-default-groups"]
    args += [f"--group={group}" for group in groups]
    if extras:
        args.append("--all-extras")
    session.run_install(
        *args,
        env={"UV_PROJECT_ENVIRONMENT": location},
        external=True,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _sync(session, "lint", extras=False)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over wskit, tests, benchmarks and docs/examples (so it needs their stacks)."""
    _sync(session, "typecheck", "tests", "bench")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite on asyncio and trio, with branch coverage of wskit/."""
    _sync(session, "tests")
    session.run(
        "python",
        "-m",
        "pytest",
        "--cov=wskit",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-report=xml",
        "--cov-fail-under=90",
        "-p",
        "no:cacheprovider",
        *session.posargs,
    )


@nox.session(python=PYTHONS)
def core(session: nox.Session) -> None:
    """The core, App, operations and pub/sub suites, on asyncio and trio, on each Python."""
    _sync(session, "tests")
    session.run("python", "-VV")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *CORE_SUITES, *session.posargs)


@nox.session(python=PYTHONS[-1])
def latest(session: nox.Session) -> None:
    """The test suite on the newest releases pyproject.toml allows, without the lock."""
    session.install("--upgrade", "--group=tests", "-e", f".[{','.join(EXTRAS)}]")
    session.run("uv", "pip", "list", external=True)
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with mkdocs --strict."""
    _sync(session, "docs")
    session.run("python", "docs/gen_state_diagram.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", os.environ.get("WSKIT_SITE", "site"))


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark; pass ``-- --quick`` for the smoke run CI does."""
    _sync(session, "tests", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Serve the demo chat on http://127.0.0.1:8000."""
    _sync(session)
    session.run("wskit", "demo", *session.posargs)
