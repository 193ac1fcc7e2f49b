"""Tasks in one task group from ``start()`` to the close: what the hub and the Redis backend share.

A :class:`Service` opens what its tasks need (entered on an exit stack, so it is closed in reverse
order after the tasks end), starts the tasks in a task group of its own, and on the close cancels
them, closes the stack and tidies up, whatever went wrong. The close runs in the task that
started it, as for a context manager: the task group and the clients entered on the stack belong
to that task.
"""

from __future__ import annotations

import abc
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

__all__ = ["Service"]


class Service(abc.ABC):
    """Run tasks from :meth:`_start` to :meth:`_stop` (see the module docstring).

    A subclass opens what its tasks need in :meth:`_open`, starts them in :meth:`_run`, and may
    act when they are cancelled (:meth:`_stopping`) and once everything is closed
    (:meth:`_closed`). Its public ``start``/``close`` methods call :meth:`_start`/:meth:`_stop`.
    """

    _stack: AsyncExitStack | None = None
    _tg: TaskGroup | None = None

    async def _start(self, what: str) -> None:
        """Open what the tasks need and start them.

        Raises:
            RuntimeError: ``what`` (a name for the error) is already running.
        """
        if self._tg is not None:
            raise RuntimeError(f"{what} is already running")
        stack = AsyncExitStack()
        try:
            await self._open(stack)
            tg = await stack.enter_async_context(anyio.create_task_group())
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._tg = stack, tg
        self._run(tg)

    async def _stop(self) -> None:
        """Cancel the tasks, close what was opened, tidy up (nothing when not running)."""
        tg, stack = self._tg, self._stack
        if tg is None or stack is None:
            return
        self._tg = self._stack = None
        tg.cancel_scope.cancel()
        self._stopping()
        try:
            await stack.aclose()
        finally:
            self._closed()

    async def _open(self, stack: AsyncExitStack) -> None:  # noqa: B027 - an optional hook
        """Open what the tasks need, on ``stack`` (nothing by default)."""

    @abc.abstractmethod
    def _run(self, tg: TaskGroup) -> None:
        """Start the tasks in ``tg``."""

    def _stopping(self) -> None:  # noqa: B027 - an optional hook
        """The tasks are being cancelled; the stack is not closed yet (nothing by default)."""

    def _closed(self) -> None:  # noqa: B027 - an optional hook
        """Everything is closed: tidy up (nothing by default)."""
