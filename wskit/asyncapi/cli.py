"""``wskit asyncapi module:app``: print the AsyncAPI document of an app, as JSON or YAML.

``main(argv)`` is the command on its own; ``wskit.cli`` adds it as the ``asyncapi``
sub-command through :func:`configure`. The
target is imported as ``module:attribute`` (the current directory is on the import path, as
for ``wskit run``) and may be an app, a router, a view class, a handler or an
:class:`~wskit.asyncapi.AsyncAPIApp`.

When the target serves an ``AsyncAPIApp`` (as its ``http_app``, or mounted, in a wskit App or a
Starlette app), the command prints the document that app serves at ``/asyncapi.json``: the same
title, version, servers and channels. Options given on the command line override those fields.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from starlette.routing import Mount as StarletteMount

from ..app.routing import Mount
from ..serving import load_app
from .document import build
from .serve import AsyncAPIApp, to_yaml

__all__ = ["configure", "main", "run", "served"]

#: How deep :func:`served` looks through ``http_app`` and mounts.
_MAX_DEPTH: Final = 8


def configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the command's arguments to ``parser`` and return the function that runs it.

    The ``wskit`` command line calls this for its ``asyncapi`` sub-command.
    """
    parser.description = "Print the AsyncAPI 3.0 document of a wskit app, router or view."
    parser.add_argument("app", help="what to document, as module:attribute")
    parser.add_argument("--format", choices=("json", "yaml"), default="json", help="output format")
    parser.add_argument("--title", help="info.title (default: the app's title, else its path)")
    parser.add_argument(
        "--api-version", dest="api_version", help="info.version (default: the app's, else 0.1.0)"
    )
    parser.add_argument("--description", help="info.description")
    parser.add_argument(
        "--server", action="append", default=[], metavar="URL", help="a ws:// or wss:// server URL"
    )
    parser.add_argument("--path", help="channel address for a router or view (default: /)")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wskit asyncapi``; returns the exit status (0 ok, 1 cannot document, 2 usage)."""
    parser = argparse.ArgumentParser(prog="wskit asyncapi")
    handler = configure(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    return handler(args)


def run(args: argparse.Namespace) -> int:
    """Print the document for parsed arguments (see :func:`configure`)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        source: Any = load_app(args.app)
    except (ValueError, ImportError) as exc:
        print(f"wskit asyncapi: {exc}", file=sys.stderr)
        return 2
    given = {
        "title": args.title,
        "version": args.api_version,
        "description": args.description,
        "servers": args.server or None,
        "path": args.path,
    }
    explicit = {key: value for key, value in given.items() if value is not None}
    try:
        docs = served(source)
        if docs is not None and not explicit:
            document = docs.document()  # exactly what the app serves
        elif docs is not None:
            document = build(docs.source, **{**docs.options, **explicit})
        else:
            document = build(
                source,
                title=args.title or getattr(source, "title", None) or args.app,
                version=args.api_version or getattr(source, "version", None) or "0.1.0",
                description=args.description,
                servers=args.server or None,
                path=args.path or "/",
            )
    except (TypeError, ValueError) as exc:
        print(f"wskit asyncapi: cannot document {args.app}: {exc}", file=sys.stderr)
        return 1
    if args.format == "yaml":
        text = to_yaml(document)
    else:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


def served(source: object) -> AsyncAPIApp | None:
    """The :class:`AsyncAPIApp` that ``source`` serves, or ``None``.

    ``source`` itself, else its ``http_app``, else an app mounted in it (a wskit ``Mount`` or a
    Starlette ``Mount``), breadth first, a few levels deep.
    """
    level: list[object] = [source]
    seen: set[int] = set()
    for _ in range(_MAX_DEPTH):
        found: list[object] = []
        for item in level:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, AsyncAPIApp):
                return item
            http = getattr(item, "http_app", None)
            if http is not None:
                found.append(http)
            routes = getattr(item, "routes", None)
            if isinstance(routes, list | tuple):
                found.extend(route.app for route in routes if _is_mount(route))
        level = found
    return None


def _is_mount(route: object) -> bool:
    """A mount of another app (wskit's or Starlette's), not a route to a handler."""
    return isinstance(route, Mount | StarletteMount)
