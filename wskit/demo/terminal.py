"""The terminal status line of ``wskit demo``: URL, connections, rooms and messages per second.

Drawn on stdout about once a second, only when stdout is a terminal (a pipe or a log file
gets the plain startup line and nothing else). The line is redrawn in place (``\\r`` and
"erase line"), cut to the terminal's width so that it never wraps, and cleared before anything
is written to stderr (log records) so that the two never mix on one line.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TextIO

import anyio

if TYPE_CHECKING:
    from .app import ChatServer

__all__ = ["ClearingStream", "StatusLine"]

_ERASE: Final = "\r\x1b[2K"
#: Seconds over which messages per second are averaged.
WINDOW: Final = 5.0


class StatusLine:
    """Render and draw the one-line summary of a running demo.

    Args:
        stream: Where to draw (a terminal).
        chat: The running chat, whose counters are shown.
        clock: A monotonic clock in seconds (tests pass a fake one).
        url: The address shown (set it once the server listens).
        width: The terminal's width (default: asked of the terminal at each draw).
    """

    def __init__(
        self,
        stream: TextIO,
        chat: ChatServer,
        *,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] | None = None,
        url: str = "",
    ) -> None:
        self.stream = stream
        self.url = url
        self.chat = chat
        self.clock = clock
        self.width = width or (lambda: shutil.get_terminal_size((100, 24)).columns)
        self.shown = False
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self) -> float:
        """Messages per second over the last :data:`WINDOW` seconds (0 before two samples)."""
        now, total = self.clock(), self.chat.stats.messages
        samples = self._samples
        samples.append((now, total))
        while len(samples) > 2 and now - samples[1][0] >= WINDOW:
            samples.popleft()
        then, before = samples[0]
        return (total - before) / (now - then) if now > then else 0.0

    def render(self) -> str:
        """The line's text (without control characters)."""
        stats = self.chat.stats
        rooms = self.chat.local_rooms()
        parts = [
            f"wskit demo {self.url}",
            _plural(stats.connections, "connection"),
            _plural(rooms, "room"),
            f"{self.rate():.1f} msg/s",
            _plural(stats.messages, "message") + " in total",
        ]
        return " | ".join(parts)

    def draw(self) -> None:
        """Redraw the line in place."""
        text = self.render()
        limit = max(10, self.width() - 1)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        self.stream.write(_ERASE + text)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line (before other output); the next :meth:`draw` brings it back."""
        if self.shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.shown = False

    async def show(self, url: str, interval: float = 1.0) -> None:
        """Show the demo at ``url``: redraw every ``interval`` seconds until cancelled, then
        leave the last state on screen."""
        self.url = url
        try:
            while True:
                self.draw()
                await anyio.sleep(interval)
        finally:
            self.close()

    def close(self) -> None:
        """Leave the last state on screen and end the line."""
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


class ClearingStream:
    """A text stream (stderr) that clears the status line before every write.

    Args:
        stream: The real stream.
        status: The status line to clear.
    """

    def __init__(self, stream: TextIO, status: StatusLine) -> None:
        self._stream = stream
        self._status = status

    def write(self, text: str) -> int:
        """Clear the status line, then write ``text``."""
        if text:
            self._status.clear()
        return self._stream.write(text)

    def flush(self) -> None:
        """Flush the real stream."""
        self._stream.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
