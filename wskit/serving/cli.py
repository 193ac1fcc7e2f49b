"""``wskit run`` and the serving flags every serving command shares (``wskit demo`` too).

The flags are built from :class:`~wskit.serving.options.ServerOptions`: one per field, named
after it (``max_message_size`` is ``--max-message-size``), with its help text and parser. Each
also reads a ``WSKIT_*`` environment variable (``WSKIT_MAX_MESSAGE_SIZE``); a flag wins over
the environment, which wins over the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

from .._extras import require
from .options import ServeKwargs, ServerOptions, option_fields, parse_bool
from .sockets import Listening

__all__ = [
    "SERVER_OPTIONS",
    "CliOption",
    "Handler",
    "add_server_arguments",
    "configure_run",
    "print_listening",
    "require_server",
    "server_kwargs",
]

#: What a command's ``configure`` returns: runs the parsed arguments, returns the exit status.
Handler: TypeAlias = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class CliOption:
    """One serving flag, read from a :class:`ServerOptions` field."""

    name: str  # the ``serve()`` keyword and the argparse dest
    parse: Callable[[str], Any]
    default: Any
    help: str
    metavar: str | None = None

    @property
    def flag(self) -> str:
        """``--max-message-size``."""
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        """``WSKIT_MAX_MESSAGE_SIZE``."""
        return "WSKIT_" + self.name.upper()


def _cli_options() -> tuple[CliOption, ...]:
    options = []
    for field in option_fields():
        parse = field.metadata["parse"]
        if parse is None:
            continue
        default = field.default
        if default is dataclasses.MISSING:  # pragma: no cover - every CLI option has one
            raise TypeError(f"{field.name} has no default")
        options.append(
            CliOption(field.name, parse, default, field.metadata["help"], field.metadata["metavar"])
        )
    return tuple(options)


#: Every serving flag, in the order of :class:`ServerOptions`.
SERVER_OPTIONS: tuple[CliOption, ...] = _cli_options()


def _argparse_type(option: CliOption) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serving options (``--host``, ``--port``, ``--server``, ...) to ``parser``.

    An option not given is absent from the namespace; :func:`server_kwargs` then applies
    the environment and the defaults, so that a flag wins over ``WSKIT_*`` which wins over
    the default.
    """
    group = parser.add_argument_group("server options (each also read from WSKIT_<NAME>)")
    for option in SERVER_OPTIONS:
        shown = "none" if option.default is None else option.default
        text = f"{option.help} (env {option.env}; default {shown})"
        if option.parse is parse_bool:
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


def require_server(options: ServerOptions, command: str) -> None:
    """Check that the server ``options`` names is installed (hypercorn: the ``server`` extra).

    Raises:
        MissingExtra: It is not; the message names ``command`` and the extra to install.
    """
    if options.server == "hypercorn":
        require("server", command)
    else:
        require(options.server, f"{command} --server {options.server}")


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
        from .entry import serve, serve_workers
        from .process import check_asgi_app, configure_logging, load_app

        app_path = args.app or os.environ.get("WSKIT_APP")
        if not app_path:
            parser.error("the app is required: wskit run module:attribute (or WSKIT_APP)")
        try:
            kwargs = server_kwargs(args)
            options = ServerOptions(**kwargs)
        except ValueError as exc:
            parser.error(str(exc))
        app_dir = os.path.abspath(args.app_dir or os.environ.get("WSKIT_APP_DIR", "."))
        sys.path.insert(0, app_dir)
        try:
            app = load_app(app_path)
        except (ImportError, ValueError) as exc:
            print(f"wskit: error: cannot load {app_path!r}: {exc}", file=sys.stderr)
            return 2
        try:
            check_asgi_app(app, app_path)
        except TypeError as exc:
            print(f"wskit: error: {exc}", file=sys.stderr)
            return 2
        require_server(options, "wskit run")
        configure_logging(options.log_level)
        if options.reload:
            from .reload import run_reloading

            return run_reloading(app_path, options, app_dir=app_dir, on_ready=print_listening)
        if options.workers > 1:
            return serve_workers(app_path, options, on_ready=print_listening)
        serve(app, on_ready=print_listening, **kwargs)
        return 0

    return run
