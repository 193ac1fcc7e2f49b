"""The ``wskit`` command line (also ``python -m wskit``): ``run``, and the commands others add.

Commands are listed in :data:`COMMANDS` as ``name -> Command(help, "module:function")``
and imported only when chosen, so ``wskit --help`` stays fast and a command whose module
is missing reports that instead of breaking the others. The function receives the
command's ``argparse`` sub-parser, adds its arguments, and returns the handler that runs
the parsed arguments and returns the exit status::

    # wskit/demo/cli.py
    def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
        add_server_arguments(parser)  # --host, --port, --workers, ... with WSKIT_* env
        def run(args: argparse.Namespace) -> int:
            serve(build_demo_app(), **server_kwargs(args))
            return 0
        return run

Every serving option also reads a ``WSKIT_*`` environment variable (``WSKIT_HOST``,
``WSKIT_PORT``, ...); a command-line flag wins over the environment, which wins over the
default.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wskit.exceptions import MissingExtra
from wskit.serving.cli import SERVER_OPTIONS as SERVER_OPTIONS
from wskit.serving.cli import Handler as Handler
from wskit.serving.cli import add_server_arguments as add_server_arguments
from wskit.serving.cli import print_listening as print_listening
from wskit.serving.cli import server_kwargs as server_kwargs

__all__ = [
    "COMMANDS",
    "SERVER_OPTIONS",
    "Command",
    "Handler",
    "add_server_arguments",
    "main",
    "print_listening",
    "server_kwargs",
]


@dataclass(frozen=True)
class Command:
    """One ``wskit`` sub-command.

    Attributes:
        help: The one-line description shown by ``wskit --help``.
        target: ``"module:function"``; the function takes the command's sub-parser,
            adds arguments to it and returns the :data:`Handler`.
    """

    help: str
    target: str


COMMANDS: dict[str, Command] = {
    "run": Command(
        "serve an ASGI app on hypercorn, uvicorn or granian, with a graceful drain",
        "wskit.serving.cli:configure_run",
    ),
    "demo": Command(
        "serve the demo chat (in-memory, or Redis via WSKIT_REDIS_URL)", "wskit.demo.cli:configure"
    ),
    "asyncapi": Command("print the AsyncAPI document of an app", "wskit.asyncapi.cli:configure"),
}


# --- main -----------------------------------------------------------------------------


def _resolve(name: str, command: Command) -> Callable[[argparse.ArgumentParser], Handler]:
    module_name, _, attr = command.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise LookupError(f"'wskit {name}' is not available: {exc}") from None
        raise
    configure: Callable[[argparse.ArgumentParser], Handler] = getattr(module, attr)
    return configure


def _version() -> str:
    try:
        return importlib.metadata.version("wskit")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "unknown"


def _chosen(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wskit`` command line and return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="wskit", description="wskit: serve and inspect ASGI WebSocket apps."
    )
    parser.add_argument("--version", action="version", version=f"wskit {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(argv)
    handler: Handler | None = None
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        if name == chosen:
            try:
                handler = _resolve(name, command)(sub)
            except LookupError as exc:
                print(f"wskit: error: {exc}", file=sys.stderr)
                return 2
    args = parser.parse_args(argv)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:  # a signal before the drain handlers were installed
        return 130
    except MissingExtra as exc:
        print(f"wskit: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as exc:
        print(f"wskit: error: {exc}", file=sys.stderr)
        return 1
