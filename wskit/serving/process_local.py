"""Find objects that only work inside one process before serving with several workers.

The contract is one class attribute: an object whose ``is_process_local`` is ``True``
holds state that other processes cannot see (``wskit.pubsub.MemoryBackend`` sets it: with
``--workers 2`` each worker gets its own in-memory hub, and a message published in one
worker never reaches clients of the other). Anything else may opt in the same way.

The search is a bounded walk of the object graph: the app and its attributes,
containers, bound methods, ``functools.partial`` objects, closure cells, and the module
globals a function's code actually names (so a handler that uses a module-level ``hub``
is found), plus, when given, the namespace of the module the app was imported from.
"""

from __future__ import annotations

import functools
import logging
import sys
import types
from collections import deque
from collections.abc import Iterator, Mapping

__all__ = ["check_multiprocess_safety", "find_process_local"]

logger = logging.getLogger("wskit.server")

_MAX_DEPTH = 8
_MAX_NODES = 20_000
_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), type, types.ModuleType)


def _is_process_local(obj: object) -> bool:
    try:
        return getattr(obj, "is_process_local", False) is True
    except Exception:  # a hostile __getattr__ must not break serving
        return False


def _children(obj: object) -> Iterator[tuple[str, object]]:
    if isinstance(obj, Mapping):
        for key, value in list(obj.items()):
            yield f"[{key!r}]", value
        return
    if isinstance(obj, list | tuple | set | frozenset | deque):
        for index, value in enumerate(list(obj)):
            yield f"[{index}]", value
        return
    if isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
        yield ".__func__", obj.__func__
        return
    if isinstance(obj, functools.partial):
        yield ".func", obj.func
        for index, value in enumerate(obj.args):
            yield f".args[{index}]", value
        for key, value in obj.keywords.items():
            yield f".keywords[{key!r}]", value
        return
    if isinstance(obj, types.FunctionType):
        for name, cell in zip(obj.__code__.co_freevars, obj.__closure__ or (), strict=False):
            try:
                yield f".<closure {name}>", cell.cell_contents
            except ValueError:  # empty cell
                continue
        for name in obj.__code__.co_names:
            if name in obj.__globals__:
                yield f".<global {name}>", obj.__globals__[name]
        return
    try:
        namespace = vars(obj)
    except TypeError:
        namespace = {}
    for name, value in list(namespace.items()):
        yield f".{name}", value
    for klass in type(obj).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if isinstance(slot, str) and slot not in namespace and hasattr(obj, slot):
                yield f".{slot}", getattr(obj, slot)


def find_process_local(app: object, *, module: str | None = None) -> list[str]:
    """Return a description of every reachable object with ``is_process_local = True``.

    Args:
        app: The ASGI app (or anything) to start the walk from.
        module: Also walk this module's globals (the module part of ``"module:attr"``).

    Returns:
        Entries such as ``"app.hub.backend (MemoryBackend)"``, in discovery order.
    """
    roots: list[tuple[str, object]] = [("app", app)]
    if module is not None and module in sys.modules:
        for name, value in vars(sys.modules[module]).items():
            if not name.startswith("__"):
                roots.append((f"{module}.{name}", value))
    seen: set[int] = set()
    found: list[str] = []
    queue: deque[tuple[str, object, int]] = deque((path, obj, 0) for path, obj in roots)
    while queue and len(seen) < _MAX_NODES:
        path, obj, depth = queue.popleft()
        if isinstance(obj, _ATOMS) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_process_local(obj):
            found.append(f"{path} ({type(obj).__name__})")
            continue
        if depth >= _MAX_DEPTH:
            continue
        try:
            children = list(_children(obj))
        except Exception:  # pragma: no cover - exotic objects; the walk is best effort
            continue
        queue.extend((path + suffix, child, depth + 1) for suffix, child in children)
    return found


def _reaches_stderr(log: logging.Logger) -> bool:
    """Whether a WARNING record from ``log`` is written to stderr by logging itself."""
    if not log.hasHandlers():
        return logging.lastResort is not None  # logging's fallback writes to stderr
    current: logging.Logger | None = log
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                return True
        current = current.parent if current.propagate else None
    return False


def check_multiprocess_safety(app: object, *, module: str | None = None) -> list[str]:
    """Warn (log and stderr) about process-local objects before serving several workers.

    ``serve(..., workers=N)`` and ``wskit run --workers N`` call this for N > 1. It never
    refuses to start: a process-local object is a bug only if processes must share it.

    Args:
        app: The ASGI app.
        module: The module the app was imported from, to also check its globals.

    Returns:
        What :func:`find_process_local` found (empty when the app is safe).
    """
    found = find_process_local(app, module=module)
    if found:
        message = (
            "these objects are process-local, so each worker gets its own copy and "
            "pub/sub messages do not cross workers: "
            + ", ".join(found)
            + ". Use a shared backend (wskit.pubsub RedisBackend) or a single worker."
        )
        logger.warning(message)
        if not (logger.isEnabledFor(logging.WARNING) and _reaches_stderr(logger)):
            print(f"wskit: warning: {message}", file=sys.stderr)
    return found
