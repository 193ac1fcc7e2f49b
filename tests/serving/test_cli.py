"""``wskit`` command line: option resolution, the command table, ``run`` errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests._services import REPO_ROOT
from wskit import cli
from wskit.cli import COMMANDS, Command, add_server_arguments, main, server_kwargs
from wskit.serving import Listening


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    assert server_kwargs(parse(), environ={}) == {
        "host": "127.0.0.1",
        "port": 8000,
        "uds": None,
        "server": "hypercorn",
        "worker": "auto",
        "workers": 1,
        "max_message_size": "auto",
        "ping_interval": None,
        "per_message_deflate": False,
        "graceful_timeout": 10.0,
        "drain_timeout": None,
        "certfile": None,
        "keyfile": None,
        "reload": False,
        "proxy_headers": False,
        "forwarded_allow_ips": "127.0.0.1",
        "access_log": False,
        "log_level": "info",
        "backlog": 2048,
    }


def test_flags_win_over_environment_which_wins_over_defaults() -> None:
    environ = {
        "WSKIT_HOST": "0.0.0.0",
        "WSKIT_PORT": "9000",
        "WSKIT_WORKER": "TRIO",
        "WSKIT_MAX_MESSAGE_SIZE": "64KiB",
        "WSKIT_PING_INTERVAL": "none",
        "WSKIT_ACCESS_LOG": "yes",
        "WSKIT_DRAIN_TIMEOUT": "2.5",
    }
    resolved = server_kwargs(parse("--port", "9100", "--no-access-log"), environ=environ)
    assert resolved["host"] == "0.0.0.0"
    assert resolved["port"] == 9100
    assert resolved["worker"] == "trio"
    assert resolved["max_message_size"] == 64 * 1024
    assert resolved["ping_interval"] is None
    assert resolved["access_log"] is False
    assert resolved["drain_timeout"] == 2.5


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 2**20),
        ("64KiB", 2**16),
        ("1M", 2**20),
        ("2mb", 2 * 10**6),
        ("none", None),
        ("auto", "auto"),
    ],
)
def test_sizes(text: str, size: int | str | None) -> None:
    assert server_kwargs(parse("--max-message-size", text), environ={})["max_message_size"] == size


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WSKIT_PORT", "eighty", "WSKIT_PORT: invalid literal"),
        ("WSKIT_MAX_MESSAGE_SIZE", "12parsecs", "WSKIT_MAX_MESSAGE_SIZE: invalid"),
        ("WSKIT_MAX_MESSAGE_SIZE", "0", "size must be positive"),
        ("WSKIT_ACCESS_LOG", "perhaps", "expected true/false"),
        ("WSKIT_WORKER", "gevent", "expected one of auto, asyncio, uvloop, trio"),
        ("WSKIT_SERVER", "daphne", "expected one of hypercorn, uvicorn, granian"),
    ],
)
def test_bad_environment_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        server_kwargs(parse(), environ={variable: value})


def test_bad_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse("--worker", "gevent")
    assert exited.value.code == 2
    assert "expected one of auto, asyncio, uvloop, trio" in capsys.readouterr().err


# --- the command table ------------------------------------------------------------------


def configure_hello(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command registered the way ``demo`` and ``asyncapi`` are."""
    parser.add_argument("--name", default="world")

    def run(args: argparse.Namespace) -> int:
        print(f"hello {args.name}")
        return 7

    return run


def test_registered_command_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(COMMANDS, "hello", Command("say hello", f"{__name__}:configure_hello"))
    assert main(["hello", "--name", "wskit"]) == 7
    assert capsys.readouterr().out == "hello wskit\n"


def test_missing_command_module_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(COMMANDS, "later", Command("not written yet", "wskit._later.cli:configure"))
    assert main(["later"]) == 2
    assert "'wskit later' is not available" in capsys.readouterr().err


def test_help_lists_every_command_without_importing_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(COMMANDS, "later", Command("not written yet", "wskit._later.cli:configure"))
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "demo", "asyncapi", "later"):
        assert name in out
    assert main([]) == 2  # no command: usage on stderr
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("wskit ")


# --- wskit run errors (the serving itself is tested end to end in tests/integration) ----


def test_run_without_an_app(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 2
    assert "the app is required" in capsys.readouterr().err


def test_run_with_an_unknown_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "tests.no_such_module:app"]) == 2
    assert "cannot load 'tests.no_such_module:app'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("target", "what"),
    [
        ("tests.behaviour.apps:Tick", "is a class"),  # a msgspec Struct: callable, not ASGI
        ("tests.behaviour.apps:SMALL_LIMIT", "is a int"),
        ("tests.behaviour.apps:typed", "is a function that does not take"),
    ],
)
def test_run_refuses_what_is_not_an_asgi_app_in_one_line(
    capsys: pytest.CaptureFixture[str], target: str, what: str
) -> None:
    assert main(["run", target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"wskit: error: {target} {what}")


def test_run_with_a_bad_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WSKIT_PORT", "eighty")
    with pytest.raises(SystemExit) as exited:
        main(["run", "tests.integration.apps:app"])
    assert exited.value.code == 2
    assert "WSKIT_PORT" in capsys.readouterr().err


def test_listening_line(capsys: pytest.CaptureFixture[str]) -> None:
    cli.print_listening(Listening(("http://127.0.0.1:8123", "unix:/tmp/s"), 8123))
    assert capsys.readouterr().out == (
        "wskit listening on http://127.0.0.1:8123\nwskit listening on unix:/tmp/s\n"
    )


def test_python_dash_m_wskit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wskit", "run", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "WSKIT_GRACEFUL_TIMEOUT" in result.stdout
