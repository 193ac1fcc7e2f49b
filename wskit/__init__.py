"""wskit: a framework-agnostic ASGI WebSocket toolkit.

The flat public API. Each name is defined in a submodule (``wskit.connection``,
``wskit.codecs``, ...) and re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.websockets import WebSocketState as WebSocketState

from .app import App as App
from .app import Registry as Registry
from .app.routing import Route as Route
from .asyncapi import AsyncAPIApp as AsyncAPIApp
from .codecs import JSON as JSON
from .codecs import MSGPACK as MSGPACK
from .codecs import Codec as Codec
from .codecs import JSONCodec as JSONCodec
from .codecs import MsgPackCodec as MsgPackCodec
from .connection import WebSocket as WebSocket
from .exceptions import BackendError as BackendError
from .exceptions import BackendUnavailable as BackendUnavailable
from .exceptions import ConcurrentReceive as ConcurrentReceive
from .exceptions import ConnectionClosed as ConnectionClosed
from .exceptions import DecodeError as DecodeError
from .exceptions import Denied as Denied
from .exceptions import FrameTypeError as FrameTypeError
from .exceptions import InvalidTransition as InvalidTransition
from .exceptions import LocalProtocolError as LocalProtocolError
from .exceptions import MessageTooBig as MessageTooBig
from .exceptions import MissingExtra as MissingExtra
from .exceptions import ProtocolError as ProtocolError
from .exceptions import RemoteProtocolError as RemoteProtocolError
from .exceptions import Timeout as Timeout
from .exceptions import UnexpectedMessage as UnexpectedMessage
from .exceptions import UnknownOperation as UnknownOperation
from .exceptions import ValidationError as ValidationError
from .exceptions import WebSocketDisconnect as WebSocketDisconnect
from .exceptions import WebSocketDisconnected as WebSocketDisconnected
from .exceptions import WouldBlock as WouldBlock
from .exceptions import WskitError as WskitError
from .limits import Limits as Limits
from .operations import CorrelationId as CorrelationId
from .operations import Emit as Emit
from .operations import EnvelopeFormat as EnvelopeFormat
from .operations import ErrorCode as ErrorCode
from .operations import ErrorPayload as ErrorPayload
from .operations import ErrorPolicy as ErrorPolicy
from .operations import Operation as Operation
from .operations import OperationError as OperationError
from .operations import OperationRouter as OperationRouter
from .operations import WebSocketView as WebSocketView
from .policies import OriginPolicy as OriginPolicy
from .policies import RateLimit as RateLimit
from .policies import RateLimitPolicy as RateLimitPolicy
from .policies import RouteOptions as RouteOptions
from .policies import SubprotocolPolicy as SubprotocolPolicy
from .pubsub import Hub as Hub
from .pubsub import HubStatistics as HubStatistics
from .pubsub import MemoryBackend as MemoryBackend
from .pubsub import OverflowPolicy as OverflowPolicy
from .pubsub.backends import lazy_redis_backend
from .serving import ServerOptions as ServerOptions
from .serving import check_multiprocess_safety as check_multiprocess_safety
from .serving import serve as serve
from .serving import serve_async as serve_async
from .status import CloseCode as CloseCode

__version__ = "0.1.0"

__all__ = [
    "JSON",
    "MSGPACK",
    "App",
    "AsyncAPIApp",
    "BackendError",
    "BackendUnavailable",
    "CloseCode",
    "Codec",
    "ConcurrentReceive",
    "ConnectionClosed",
    "CorrelationId",
    "DecodeError",
    "Denied",
    "Emit",
    "EnvelopeFormat",
    "ErrorCode",
    "ErrorPayload",
    "ErrorPolicy",
    "FrameTypeError",
    "Hub",
    "HubStatistics",
    "InvalidTransition",
    "JSONCodec",
    "Limits",
    "LocalProtocolError",
    "MemoryBackend",
    "MessageTooBig",
    "MissingExtra",
    "MsgPackCodec",
    "Operation",
    "OperationError",
    "OperationRouter",
    "OriginPolicy",
    "OverflowPolicy",
    "ProtocolError",
    "RateLimit",
    "RateLimitPolicy",
    "RedisBackend",
    "Registry",
    "RemoteProtocolError",
    "Route",
    "RouteOptions",
    "ServerOptions",
    "SubprotocolPolicy",
    "Timeout",
    "UnexpectedMessage",
    "UnknownOperation",
    "ValidationError",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketState",
    "WebSocketView",
    "WouldBlock",
    "WskitError",
    "check_multiprocess_safety",
    "serve",
    "serve_async",
]


if TYPE_CHECKING:
    from .pubsub.backends.redis import RedisBackend as RedisBackend


# RedisBackend needs the redis extra (coredis): it is imported when first asked for.
__getattr__ = lazy_redis_backend(__name__)
