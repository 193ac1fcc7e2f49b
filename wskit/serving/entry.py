"""``wskit.serve`` and ``wskit.serve_async``: the Python entry points of serving.

``serve()`` blocks: one process in a new event loop, ``workers > 1`` processes through
:mod:`wskit.serving.workers`, or a reloading child through :mod:`wskit.serving.reload`.
``serve_async()`` runs in the caller's anyio event loop and reports the bound addresses through
``task_status`` (so ``port=0`` works in tests). Both take the options of
:class:`~wskit.serving.options.ServerOptions` as keyword arguments.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

import anyio
import anyio.abc

from .options import ServeOptions, ServerOptions
from .process import load_app, run_loop, serve_in_loop
from .process_local import check_multiprocess_safety
from .sockets import Listening

if TYPE_CHECKING:
    from .._types import ASGIApp

__all__ = ["server_options", "serve", "serve_async", "serve_workers"]

_FIELDS = frozenset(f.name for f in dataclasses.fields(ServerOptions))


def server_options(options: Mapping[str, Any], **given: Any) -> ServerOptions:
    """The :class:`ServerOptions` of a call's keyword arguments (``given``: host, port...).

    For compatibility, ``hypercorn={...}`` and any keyword that is not an option are taken as
    options of the server's own configuration (``server_config``).

    Raises:
        ValueError: An option is out of range.
    """
    given = {name: value for name, value in given.items() if value is not None}
    native: dict[str, Any] = dict(options.get("server_config") or {})
    for name, value in options.items():
        if name == "server_config":
            continue
        if name == "hypercorn":
            native.update(value)
        elif name in _FIELDS:
            given[name] = value
        else:
            native[name] = value
    return ServerOptions(**given, server_config=native)


async def serve_async(
    app: ASGIApp,
    host: str | None = None,
    port: int | None = None,
    *,
    stop: anyio.Event | None = None,
    install_signal_handlers: bool = True,
    task_status: anyio.abc.TaskStatus[Listening] = anyio.TASK_STATUS_IGNORED,
    **options: Unpack[ServeOptions],
) -> None:
    """Serve ``app`` inside the running anyio event loop until stopped, draining first.

    Use ``await task_group.start(serve_async, app, "127.0.0.1", 0, ...)`` to get a
    :class:`Listening` (with the bound port) once the sockets accept connections;
    connections made before the app's lifespan startup completes wait for it.
    Setting ``stop`` (or SIGINT/SIGTERM when ``install_signal_handlers`` is true and this
    runs in the main thread) drains the app and stops the server; this coroutine then
    returns. hypercorn runs on asyncio or trio (whichever runs this), uvicorn and granian on
    asyncio.

    Args:
        app: Any ASGI app. Every ``wskit.WebSocket`` it accepts is closed with 1001 on
            shutdown, and an async ``shutdown(timeout=...)`` it has (``wskit.App``'s) is
            awaited, before the server stops.
        host: Interface to bind (default ``127.0.0.1``).
        port: TCP port (default 8000); ``0`` picks a free one (see ``task_status``).
        stop: Set it to stop the server gracefully.
        install_signal_handlers: Drain on SIGINT/SIGTERM (main thread only).
        task_status: Receives the :class:`Listening` value.
        **options: The other :class:`ServerOptions` (``server``, ``max_message_size``...);
            ``workers`` and ``reload`` need :func:`serve`.

    Raises:
        ValueError: On an invalid option, or one that needs :func:`serve`.
    """
    resolved = server_options(options, host=host, port=port)
    if resolved.workers > 1 or resolved.reload:
        raise ValueError("workers > 1 and reload need wskit.serve(), not serve_async()")
    if resolved.server != "hypercorn":
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            raise ValueError(f"{resolved.server} runs on asyncio only (hypercorn runs on trio)")
    await serve_in_loop(
        app,
        resolved,
        stop=stop,
        install_signal_handlers=install_signal_handlers,
        task_status=task_status,
    )


def serve(
    app: ASGIApp | str,
    host: str | None = None,
    port: int | None = None,
    *,
    on_ready: Callable[[Listening], object] | None = None,
    **options: Unpack[ServeOptions],
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then drain and return.

    Args:
        app: An ASGI app, or its import string ``"module:attr"`` (required with
            ``workers > 1`` and ``reload``: each process imports the app itself).
        host: Interface to bind (default ``127.0.0.1``).
        port: TCP port (default 8000); ``0`` picks a free one (``on_ready`` receives it).
        on_ready: Called with a :class:`Listening` once the sockets accept connections. When
            it returns an awaitable (an ``async def``), that runs next to the server, in its
            event loop, until it returns or the server stops (``wskit demo`` draws its status
            line so); with ``workers > 1`` or ``reload`` it is called in the supervisor.
        **options: The other :class:`ServerOptions`: ``server`` (``"hypercorn"``,
            ``"uvicorn"``, ``"granian"``), ``worker``, ``workers``, ``max_message_size``...
            With more than one worker, objects marked ``is_process_local`` (the in-memory
            pub/sub backend) are reported by :func:`check_multiprocess_safety`.

    Raises:
        ValueError: On an invalid option, or ``workers > 1``/``reload`` with an app object.
        RuntimeError: A worker process exited with a non-zero status.
        MissingExtra: The chosen server or event loop is not installed.
        OSError: The address cannot be bound (in use, not available).
    """
    resolved = server_options(options, host=host, port=port)
    if resolved.workers > 1 or resolved.reload:
        if not isinstance(app, str):
            raise ValueError(
                "workers > 1 and reload need the app as an import string 'module:attr'"
            )
        if resolved.reload:
            from .reload import run_reloading

            exitcode = run_reloading(app, resolved, app_dir=os.getcwd(), on_ready=on_ready)
        else:
            exitcode = serve_workers(app, resolved, on_ready=on_ready)
        if exitcode:
            raise RuntimeError(f"a worker process exited with status {exitcode}")
        return
    asgi_app: ASGIApp = load_app(app) if isinstance(app, str) else app

    async def main() -> None:
        failed: OSError | None = None
        async with anyio.create_task_group() as tg:

            async def serving(*, task_status: anyio.abc.TaskStatus[Listening]) -> None:
                await serve_in_loop(asgi_app, resolved, task_status=task_status)
                tg.cancel_scope.cancel()  # the server stopped: so does what ran next to it

            try:
                listening = await tg.start(serving)
            except OSError as exc:  # cannot bind: raised as itself, not in a group
                failed = exc
            else:
                ready = None if on_ready is None else on_ready(listening)
                if inspect.isawaitable(ready):
                    await ready
        if failed is not None:
            raise failed

    run_loop(resolved, main)


def serve_workers(
    app_path: str,
    options: ServerOptions,
    *,
    on_ready: Callable[[Listening], object] | None = None,
) -> int:
    """Serve ``"module:attr"`` with ``options.workers`` processes; return the exit status.

    Imports the app once in this process to run :func:`check_multiprocess_safety`.
    """
    from .workers import run_workers

    check_multiprocess_safety(load_app(app_path), module=app_path.partition(":")[0])
    return run_workers(app_path, options, on_ready=on_ready)
