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
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from wskit._extras import require
from wskit.exceptions import MissingExtra
from wskit.server import LOG_LEVELS, WORKERS, Listening, ServeKwargs

__all__ = [
    "COMMANDS",
    "SERVER_OPTIONS",
    "Command",
    "Handler",
    "add_server_arguments",
    "main",
    "server_kwargs",
]

Handler = Callable[[argparse.Namespace], int]


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
        "serve an ASGI app on hypercorn with a graceful drain", "wskit.cli:configure_run"
    ),
    "demo": Command(
        "serve the demo chat (in-memory, or Redis via WSKIT_REDIS_URL)", "wskit.demo.cli:configure"
    ),
    "asyncapi": Command("print the AsyncAPI document of an app", "wskit.asyncapi.cli:configure"),
}


# --- option parsing -------------------------------------------------------------------

_NONE = {"none", "off", ""}
_UNITS = {"k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6}


def _size(text: str) -> int | None:
    """``1048576``, ``64KiB``, ``1MiB``, ``1M`` or ``none``."""
    value = text.strip().lower()
    if value in _NONE:
        return None
    number = value.rstrip("kmib")
    unit = value[len(number) :]
    if unit and unit not in _UNITS:
        raise ValueError(f"invalid size {text!r} (use bytes, KiB, MiB or none)")
    size = int(number) * _UNITS.get(unit, 1)
    if size <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return size


def _optional_float(text: str) -> float | None:
    return None if text.strip().lower() in _NONE else float(text)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, not {text!r}")


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, not {text!r}")
        return text.lower()

    parse.__name__ = "choice"
    return parse


@dataclass(frozen=True)
class _Option:
    name: str  # the ``serve()`` keyword and the argparse dest
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "WSKIT_" + self.name.upper()


SERVER_OPTIONS: tuple[_Option, ...] = (
    _Option("host", str, "127.0.0.1", "interface to bind", "HOST"),
    _Option("port", int, 8000, "TCP port (0: pick a free one)", "PORT"),
    _Option("uds", str, None, "bind a unix socket at this path instead", "PATH"),
    _Option("worker", _choice(WORKERS), "asyncio", "event loop: " + ", ".join(WORKERS), "KIND"),
    _Option("workers", int, 1, "worker processes sharing the socket", "N"),
    _Option("max_message_size", _size, 2**20, "hypercorn's WebSocket message limit", "SIZE"),
    _Option("ping_interval", _optional_float, None, "seconds between server pings", "SECONDS"),
    _Option("graceful_timeout", float, 10.0, "seconds hypercorn waits after the drain", "SECONDS"),
    _Option(
        "drain_timeout",
        _optional_float,
        None,
        "seconds the 1001 drain may take (none: the app's own)",
        "SECONDS",
    ),
    _Option("access_log", _bool, False, "log every request/handshake to stdout"),
    _Option("log_level", _choice(LOG_LEVELS), "info", "one of " + ", ".join(LOG_LEVELS), "LEVEL"),
    _Option("backlog", int, 2048, "listen backlog", "N"),
)


def _argparse_type(option: _Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serving options (``--host``, ``--port``, ``--workers``, ...) to ``parser``.

    An option not given is absent from the namespace; :func:`server_kwargs` then applies
    the environment and the defaults, so that a flag wins over ``WSKIT_*`` which wins over
    the default.
    """
    group = parser.add_argument_group("server options (each also read from WSKIT_<NAME>)")
    for option in SERVER_OPTIONS:
        shown = "none" if option.default is None else option.default
        text = f"{option.help} (env {option.env}; default {shown})"
        if option.parse is _bool:
            group.add_argument(
                option.flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=text,
            )
        else:
            group.add_argument(
                option.flag,
                type=_argparse_type(option),
                metavar=option.metavar,
                default=argparse.SUPPRESS,
                help=text,
            )


def server_kwargs(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ServeKwargs:
    """Resolve the serving options: the flag if given, else ``WSKIT_<NAME>``, else the default.

    Raises:
        ValueError: If an environment variable does not parse (the message names it).
    """
    environ = os.environ if environ is None else environ
    resolved: dict[str, Any] = {}
    for option in SERVER_OPTIONS:
        if hasattr(args, option.name):
            resolved[option.name] = getattr(args, option.name)
        elif option.env in environ:
            try:
                resolved[option.name] = option.parse(environ[option.env])
            except ValueError as exc:
                raise ValueError(f"{option.env}: {exc}") from None
        else:
            resolved[option.name] = option.default
    return cast("ServeKwargs", resolved)


# --- wskit run ------------------------------------------------------------------------


def print_listening(listening: Listening) -> None:
    """Print ``wskit listening on URL`` (one line per socket) to stdout; tools parse it."""
    for url in listening.urls:
        print(f"wskit listening on {url}", flush=True)


def configure_run(parser: argparse.ArgumentParser) -> Handler:
    """Arguments of ``wskit run``: the app's import string and the serving options."""
    parser.add_argument("app", nargs="?", help="the ASGI app as module:attribute (env WSKIT_APP)")
    parser.add_argument(
        "--app-dir",
        metavar="DIR",
        help="directory put first on sys.path to import the app (env WSKIT_APP_DIR; default .)",
    )
    add_server_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        from wskit.server import ServerOptions, configure_logging, load_app, serve, serve_workers

        app_path = args.app or os.environ.get("WSKIT_APP")
        if not app_path:
            parser.error("the app is required: wskit run module:attribute (or WSKIT_APP)")
        try:
            kwargs = server_kwargs(args)
            options = ServerOptions(**kwargs)
        except ValueError as exc:
            parser.error(str(exc))
        sys.path.insert(0, os.path.abspath(args.app_dir or os.environ.get("WSKIT_APP_DIR", ".")))
        try:
            app = load_app(app_path)
        except (ImportError, ValueError) as exc:
            print(f"wskit: error: cannot load {app_path!r}: {exc}", file=sys.stderr)
            return 2
        require("server", "wskit run")
        configure_logging(options.log_level)
        if options.workers > 1:
            return serve_workers(app_path, options, on_ready=print_listening)
        serve(app, on_ready=print_listening, **kwargs)
        return 0

    return run


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
