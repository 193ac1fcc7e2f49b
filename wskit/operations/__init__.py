"""Typed operations over a JSON / MessagePack envelope: ``OperationRouter`` and its parts.

``{"type": "chat.send", "payload": {...}, "id": 7}`` in, ``{"type": "chat.sent", "payload":
{...}, "id": 7}`` out: see :class:`OperationRouter`, the error envelope
(:class:`~wskit.operations.envelope.ErrorPayload`) and the bad-input policies
(:mod:`wskit.operations.errors`).
"""

from __future__ import annotations

from .envelope import CorrelationId, EnvelopeFormat, ErrorPayload
from .errors import BadMessage, ErrorCode, ErrorHandling, ErrorPolicy, OperationError
from .router import Emit, Operation, OperationRouter
from .session import Session

__all__ = [
    "BadMessage",
    "CorrelationId",
    "Emit",
    "EnvelopeFormat",
    "ErrorCode",
    "ErrorHandling",
    "ErrorPayload",
    "ErrorPolicy",
    "Operation",
    "OperationError",
    "OperationRouter",
    "Session",
]
