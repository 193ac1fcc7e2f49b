"""ASGI type aliases shared by every wskit module.

These mirror the ASGI 3.0 specification (https://asgi.readthedocs.io/en/latest/specs/www.html)
without importing any framework, so that wskit can sit under Starlette, Litestar, Django or a
bare ASGI server alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any, TypeAlias

__all__ = ["ASGIApp", "ExcInfo", "Message", "Receive", "Scope", "Send"]

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
#: What ``__aexit__`` is given: the exception's type, the exception and its traceback.
ExcInfo: TypeAlias = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
