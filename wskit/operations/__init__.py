"""Handlers with typed messages: ``OperationRouter`` over an envelope, and ``WebSocketView``.

``{"type": "chat.send", "payload": {...}, "id": 7}`` in, ``{"type": "chat.sent", "payload":
{...}, "id": 7}`` out: see :class:`OperationRouter`, the error envelope
(:class:`~wskit.operations.envelope.ErrorPayload`) and the bad-input policies
(:mod:`wskit.operations.errors`), which class-based endpoints
(:class:`~wskit.operations.views.WebSocketView`) share.
"""

from __future__ import annotations

from .envelope import CorrelationId, EnvelopeFormat, ErrorPayload
from .errors import BadMessage, ErrorCode, ErrorHandling, ErrorPolicy, OperationError
from .router import Emit, Operation, OperationRouter
from .session import Session
from .views import WebSocketView

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
    "WebSocketView",
]
