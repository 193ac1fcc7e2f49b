"""``wskit demo``: serve the demo chat (``python -m wskit demo``, ``./dev demo``).

With no options it serves http://127.0.0.1:8000 on the in-memory hub. ``WSKIT_REDIS_URL`` (or
``--redis-url``) shares rooms, presence and history through Redis, so that ``--workers 2``
(or several machines) serve one chat. Every serving option of ``wskit run`` applies, each also
read from its ``WSKIT_*`` environment variable (``WSKIT_HOST``, ``WSKIT_PORT``...).

The WebSocket accepts only the page's own origins (``http://127.0.0.1:PORT`` and
``http://localhost:PORT``, plus the bound host); ``--origin`` adds more (behind a proxy, say),
``--any-origin`` turns the check off.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import msgspec

from wskit._extras import require
from wskit.policies import parse_origin
from wskit.serving import Listening, ServerOptions, configure_logging, serve, serve_workers
from wskit.serving.cli import (
    Handler,
    add_server_arguments,
    print_listening,
    require_server,
    server_kwargs,
)

from .app import CONFIG_ENV, DemoConfig, create_app
from .terminal import ClearingStream, StatusLine

if TYPE_CHECKING:
    pass

__all__ = ["configure", "demo_config", "main", "serve_demo"]


#: The import string worker processes load (``--workers N``).
APP_PATH: Final = "wskit.demo.app:app"
REDIS_ENV: Final = "WSKIT_REDIS_URL"
ORIGINS_ENV: Final = "WSKIT_DEMO_ORIGINS"


def configure(parser: argparse.ArgumentParser) -> Handler:
    """Add the arguments of ``wskit demo`` to ``parser`` and return the command's handler."""
    parser.description = (
        "Serve the demo chat (a browser page, AsyncAPI docs at /asyncapi) on hypercorn (or "
        "--server uvicorn|granian): "
        "in memory by default, or shared by several processes through Redis."
    )
    parser.epilog = (
        "examples: wskit demo | wskit demo --port 9000 | "
        "WSKIT_REDIS_URL=redis://127.0.0.1:6379 wskit demo --workers 2"
    )
    demo = parser.add_argument_group("demo options")
    demo.add_argument(
        "--redis-url",
        metavar="URL",
        help=f"share rooms through Redis (env {REDIS_ENV}; default: in-memory, one process)",
    )
    demo.add_argument(
        "--origin",
        action="append",
        dest="origins",
        metavar="ORIGIN",
        help=f"also allow this Origin, e.g. https://chat.example.com (repeatable; env "
        f"{ORIGINS_ENV}, comma-separated)",
    )
    demo.add_argument(
        "--any-origin", action="store_true", help="turn the Origin check off (not for production)"
    )
    demo.add_argument(
        "--history",
        type=int,
        default=50,
        metavar="N",
        help="messages a client gets when it joins a room (default 50)",
    )
    demo.add_argument(
        "--status",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw the live status line (default: when stdout is a terminal)",
    )
    add_server_arguments(parser)

    def run(args: argparse.Namespace) -> int:
        try:
            options = ServerOptions(**server_kwargs(args))
            if options.port == 0 and not options.uds:
                # The Origin allow-list names the port: choose it before building the app.
                options = replace(options, port=_free_port(options.host))
            config = demo_config(args, options)
        except ValueError as exc:
            parser.error(str(exc))
        return serve_demo(config, options, status=args.status)

    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wskit demo`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(prog="wskit demo")
    handler = configure(parser)
    return handler(parser.parse_args(argv))


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def demo_config(
    args: argparse.Namespace, options: ServerOptions, environ: dict[str, str] | None = None
) -> DemoConfig:
    """Build the demo's config from the parsed arguments and the environment.

    Raises:
        ValueError: An origin is not ``scheme://host[:port]``, or ``--history`` is negative.
    """
    environ = dict(os.environ) if environ is None else environ
    if args.history < 0:
        raise ValueError(f"--history must be >= 0, not {args.history}")
    extra = list(args.origins or [])
    if not extra and environ.get(ORIGINS_ENV):
        extra = [o.strip() for o in environ[ORIGINS_ENV].split(",") if o.strip()]
    for origin in extra:
        if parse_origin(origin, idna=True) is None:
            raise ValueError(f"not an origin (expected scheme://host[:port]): {origin!r}")
    redis_url = args.redis_url or environ.get(REDIS_ENV) or None
    settings: dict[str, Any] = {"redis_url": redis_url, "history": args.history}
    if options.uds:
        return DemoConfig(origins=None if args.any_origin else tuple(extra) or None, **settings)
    config = DemoConfig.for_address(options.host, options.port, **settings)
    if args.any_origin:
        return replace_origins(config, None)
    return replace_origins(config, (*(config.origins or ()), *extra))


def replace_origins(config: DemoConfig, origins: tuple[str, ...] | None) -> DemoConfig:
    """Return ``config`` with other allowed origins (``None``: no check)."""
    return msgspec.structs.replace(config, origins=origins)


def serve_demo(config: DemoConfig, options: ServerOptions, *, status: bool | None = None) -> int:
    """Serve the demo until SIGINT/SIGTERM; return the exit status.

    Args:
        config: The demo's settings (its origins must name the port: pick a free port first
            rather than serving port 0).
        options: The serving options.
        status: Draw the status line; ``None``: when stdout is a terminal.
    """
    backend = "in-memory hub, one process" if config.redis_url is None else "Redis hub"
    require_server(options, "wskit demo")
    if config.redis_url is not None:
        require("redis", "wskit demo with WSKIT_REDIS_URL")
    if options.workers > 1:
        configure_logging(options.log_level)
        if config.redis_url is None:
            print(
                "wskit demo: warning: with several workers and no WSKIT_REDIS_URL each worker "
                "has its own rooms; set WSKIT_REDIS_URL to share them",
                file=sys.stderr,
            )
        os.environ[CONFIG_ENV] = msgspec.json.encode(config).decode()

        def announce(listening: Listening) -> None:
            _announce(listening, f"{backend}, {options.workers} workers")

        try:
            return serve_workers(APP_PATH, options, on_ready=announce)
        except OSError as exc:
            return _cannot_listen(options, exc)
    app = create_app(config)
    line: StatusLine | None = None
    if sys.stdout.isatty() if status is None else status:
        line = StatusLine(sys.stdout, app.chat)

    async def ready(listening: Listening) -> None:  # next to the server, in its event loop
        _announce(listening, backend)
        if line is not None:
            await line.show(listening.url)

    stderr = sys.stderr
    if line is not None:
        # Before logging and hypercorn create their handlers, which keep the stream they see.
        sys.stderr = ClearingStream(stderr, line)
    try:
        configure_logging(options.log_level)
        serve(app, options.host, options.port, on_ready=ready, **options.serve_options())
    except OSError as exc:
        return _cannot_listen(options, exc)
    finally:
        sys.stderr = stderr
    return 0


def _cannot_listen(options: ServerOptions, exc: OSError) -> int:
    where = options.uds or f"{options.host}:{options.port}"
    hint = "" if options.uds else " (choose another with --port or WSKIT_PORT)"
    print(
        f"wskit demo: error: cannot listen on {where}: {exc.strerror or exc}{hint}", file=sys.stderr
    )
    return 1


def _announce(listening: Listening, backend: str) -> None:
    print_listening(listening)
    url = listening.url
    if "://0.0.0.0:" in url or "://[::]:" in url:
        # A browser never loads the page from 0.0.0.0; it uses one of the allowed origins.
        url = f"http://127.0.0.1:{listening.port}"
        print(
            "wskit demo: pages loaded from another address need --origin http://ADDRESS:PORT",
            flush=True,
        )
    print(f"wskit demo: open {url} in two browser windows ({backend})", flush=True)
