"""Optional dependencies: which extra brings which package, and the one error when one is missing.

wskit's core needs only starlette, anyio and msgspec. Everything else comes through an extra
(``pip install 'wskit[server]'``), and code that needs one calls :func:`require` before it
imports the package, so a missing extra is always the same single line, naming the extra::

    wskit demo needs the 'server' extra (hypercorn): pip install 'wskit[server]'

The command line prints that line and exits 2 without a traceback; in a program it is a
:class:`MissingExtra`, an :class:`ImportError`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Final

from .exceptions import MissingExtra

__all__ = ["EXTRAS", "require"]

#: By extra name: the module wskit imports, and the distribution that provides it.
EXTRAS: Final[dict[str, tuple[str, str]]] = {
    "server": ("hypercorn", "hypercorn"),
    "uvicorn": ("uvicorn", "uvicorn"),
    "granian": ("granian", "granian"),
    "reload": ("watchfiles", "watchfiles"),
    "uvloop": ("uvloop", "uvloop"),
    "trio": ("trio", "trio"),
    "redis": ("coredis", "coredis"),
    "yaml": ("yaml", "PyYAML"),
}


def require(extra: str, feature: str) -> ModuleType:
    """Import the package of ``extra`` for ``feature``, or raise :class:`MissingExtra`.

    Args:
        extra: The extra's name, a key of :data:`EXTRAS`.
        feature: What needs it, as the user knows it (``"wskit demo"``, ``"RedisBackend"``).

    Raises:
        MissingExtra: The package is not installed. An ``ImportError`` from inside an installed
            package (a broken install) is not masked: it propagates as it is.
    """
    module, distribution = EXTRAS[extra]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name != module:
            raise
        raise MissingExtra(feature, extra, distribution) from None
