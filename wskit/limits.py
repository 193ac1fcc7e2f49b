"""``Limits``: the size limits and default deadlines of one connection.

Every :class:`~wskit.connection.WebSocket` has one (``DEFAULT_LIMITS`` unless given); the App
and its routes pass theirs down. ``None`` turns a limit off.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["DEFAULT_LIMITS", "Limits"]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Per-connection limits and default deadlines. ``None`` turns a limit off.

    Attributes:
        max_message_size: Largest inbound message, in bytes (UTF-8 bytes for text frames).
            Over it, the connection is closed with 1009 and ``MessageTooBig`` is raised.
        max_send_size: Largest outbound message, in bytes; over it, ``MessageTooBig`` is raised
            and nothing is sent.
        receive_timeout: Default deadline, in seconds, of every receive.
        send_timeout: Default deadline, in seconds, of every send.
        close_timeout: Deadline of the close frame the connection sends when it ends on its own
            (cancellation or an error), so a stalled client cannot hold the handler forever.
    """

    max_message_size: int | None = 2**20
    max_send_size: int | None = 2**24
    receive_timeout: float | None = None
    send_timeout: float | None = None
    close_timeout: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_send_size", "receive_timeout", "send_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Limits.{name} must be positive or None, got {value!r}")
        if self.close_timeout <= 0:
            raise ValueError(f"Limits.close_timeout must be positive, got {self.close_timeout!r}")


DEFAULT_LIMITS: Final = Limits()
