"""Development tasks for wskit: ``nox -s <session>``.

Each session installs what it needs into its own virtualenv. ``./dev test`` (and CI) runs the
same sessions in the project's ``.venv`` with ``--no-venv --no-install``, so there is one
definition of every check.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "docs", "bench"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.11", "3.12", "3.13"]


def _python(session: nox.Session) -> str:
    """The interpreter of the session (the current one under ``--no-venv``)."""
    return "python" if session.python is None else f"python{session.python}"


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over wskit, tests, benchmarks and docs/examples."""
    session.install("-e", ".[lint]")
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite on asyncio and trio, with branch coverage of wskit/."""
    session.install("-e", ".[tests]")
    args = session.posargs or []
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
        *args,
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with mkdocs --strict."""
    session.install("-e", ".[docs]")
    session.run("python", "docs/gen_state_diagram.py")
    session.run("mkdocs", "build", "--strict", "--site-dir", os.environ.get("WSKIT_SITE", "site"))


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark; pass ``-- --quick`` for the smoke run CI does."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """Serve the demo chat on http://127.0.0.1:8000."""
    session.install("-e", ".[server]")
    session.run("wskit", "demo", *session.posargs)
