"""Shared pieces of :mod:`wskit.testing`: its errors, the timeout factor and scope building.

Nothing here talks to an application; the WebSocket session, the lifespan runner and the HTTP
request runner all build their ASGI scopes and report their failures through these helpers, so
the three paths describe a request the same way a real ASGI server would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import quote, unquote, urlencode

import msgspec
from starlette.datastructures import Headers

from wskit.exceptions import DecodeError, WskitError

if TYPE_CHECKING:
    from wskit._types import Scope

__all__ = [
    "TIMEOUT_FACTOR_ENV",
    "ClientDisconnected",
    "HTTPResponse",
    "HeadersLike",
    "LifespanError",
    "QueryLike",
    "WebSocketDenied",
    "build_scope",
    "check_headers",
    "format_seconds",
    "timeout_factor",
]

#: Environment variable that scales every default timeout of the test client (as
#: ``WEBSOCKETS_TESTS_TIMEOUT_FACTOR`` does for websockets' own tests): set it to 3 on a slow
#: CI machine instead of raising timeouts test by test.
TIMEOUT_FACTOR_ENV: Final = "WSKIT_TESTS_TIMEOUT_FACTOR"

#: Request headers: a mapping, or pairs (repeat a name by giving it twice).
HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]
#: A query string, already encoded (``"a=1&b=2"``), as bytes, or a mapping to encode.
QueryLike: TypeAlias = str | bytes | Mapping[str, str]

# Characters left alone when percent-encoding a path or a query given as text: everything an
# already-encoded URL may contain (so "%20" stays "%20"), and nothing else.
_PATH_SAFE: Final = "/%!$&'()*+,;=:@~-._"
_QUERY_SAFE: Final = _PATH_SAFE + "?[]"

_ASGI_SPEC_VERSIONS: Final[Mapping[str, str]] = {
    # The websocket spec 2.4 is the one with `reason` on websocket.disconnect and an OSError from
    # send() on a closed connection; HTTP 2.3 matches what uvicorn and hypercorn report.
    "websocket": "2.4",
    "http": "2.3",
}


class WebSocketDenied(WskitError):
    """The application refused the WebSocket handshake.

    Raised by :meth:`TestClient.websocket_connect` when the application closed before accepting
    (an ASGI server answers that with HTTP 403), sent a denial response through the
    ``websocket.http.response`` extension, or returned before answering at all (an ASGI server
    answers that with HTTP 500).

    Attributes:
        status: The HTTP status code the client received.
        headers: The response headers (case-insensitive; ``headers.raw`` has the pairs).
        body: The response body, every chunk joined.
    """

    def __init__(self, status: int, headers: Headers | None = None, body: bytes = b"") -> None:
        self.status = status
        self.headers = headers if headers is not None else Headers()
        self.body = body
        message = f"the application refused the WebSocket handshake with HTTP {status}"
        if body:
            excerpt = body[:200].decode("utf-8", "replace")
            message += f": {excerpt!r}" + ("..." if len(body) > 200 else "")
        super().__init__(message)

    def __repr__(self) -> str:
        return f"WebSocketDenied(status={self.status}, body={self.body!r})"


class LifespanError(WskitError, RuntimeError):
    """The application reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``.

    Attributes:
        phase: ``"startup"`` or ``"shutdown"``.
        message: The ``message`` the application put in the failure event (may be empty).
    """

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        self.message = message
        text = f"the application reported lifespan.{phase}.failed"
        super().__init__(f"{text}: {message}" if message else text)


class ClientDisconnected(ConnectionResetError):
    """What the application's ``send`` raises once the client is gone.

    ASGI WebSocket spec 2.4 asks servers to raise "a server-specific subclass of ``OSError``"
    when an application sends on a closed connection; this is the test client's. Applications
    that let it escape end normally (it is not re-raised to the test).
    """


class HTTPResponse:
    """The answer to :meth:`TestClient.http`.

    Attributes:
        status: The HTTP status code.
        headers: The response headers (case-insensitive; ``headers.raw`` has the pairs).
        body: The response body, every chunk joined.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        """The body decoded with the charset of ``content-type`` (UTF-8 when it names none)."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, "replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """Decode the body as JSON.

        Raises:
            DecodeError: If the body is not valid JSON.
        """
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"the response body is not valid JSON: {exc}") from exc

    def __repr__(self) -> str:
        return f"<HTTPResponse {self.status}, {len(self.body)} bytes>"


def timeout_factor() -> float:
    """Read the timeout multiplier from ``WSKIT_TESTS_TIMEOUT_FACTOR`` (1 when unset).

    Raises:
        ValueError: If the variable is set to something other than a positive number.
    """
    raw = os.environ.get(TIMEOUT_FACTOR_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = math.nan
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"{TIMEOUT_FACTOR_ENV} must be a positive number, got {raw!r}")
    return factor


def check_headers(kind: str, message: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """Return the ``headers`` of an application's ``message`` as pairs, checked as servers do.

    Raises:
        TypeError: If ``headers`` is not an iterable of (bytes, bytes) pairs.
    """
    pairs: list[tuple[bytes, bytes]] = []
    for pair in message.get("headers", ()):
        name, value = pair if len(pair) == 2 else (None, None)
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError(f"{kind!r} headers must be pairs of bytes, got {pair!r}")
        pairs.append((name, value))
    return pairs


def format_seconds(seconds: float) -> str:
    """Format a duration for an error message: ``5 s``, ``0.05 s``."""
    return f"{seconds:g} s"


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


def _encode_query(query_string: QueryLike) -> bytes:
    if isinstance(query_string, Mapping):
        return urlencode(query_string).encode("ascii")
    if isinstance(query_string, bytes):
        return query_string
    return quote(query_string, safe=_QUERY_SAFE).encode("ascii")


def build_scope(
    kind: str,
    path: str,
    query_string: QueryLike,
    scheme: str,
    headers: HeadersLike | None,
    default_headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    state: dict[str, Any],
) -> Scope:
    """Build a complete ASGI ``http`` or ``websocket`` scope, as a server on HTTP/1.1 would.

    Args:
        kind: ``"http"`` or ``"websocket"``.
        path: The request path, optionally with ``?query`` (then ``query_string`` must be empty).
            Non-ASCII characters are percent-encoded in ``raw_path``; ``path`` is decoded.
        query_string: The query string, encoded or as a mapping.
        scheme: ``http``/``https`` or ``ws``/``wss``.
        headers: Extra request headers; a name given here replaces a default of the same name.
        default_headers: Headers a real client would send (``host`` is always added first).
        client: The client address, or ``None``.
        state: The lifespan state; the scope gets a shallow copy, as uvicorn and hypercorn do.

    Raises:
        ValueError: If the query is given both in ``path`` and in ``query_string``, or the path
            does not start with ``/``.
    """
    if "?" in path:
        if query_string:
            raise ValueError("give the query string in the path or in query_string, not both")
        path, _, query_string = path.partition("?")
    if not path.startswith("/"):
        raise ValueError(f"the path must start with '/', got {path!r}")
    raw_path = quote(path, safe=_PATH_SAFE).encode("ascii")
    secure = scheme in ("https", "wss")
    extra = [(_to_bytes(k).lower(), _to_bytes(v)) for k, v in _header_items(headers)]
    given = {name for name, _ in extra}
    defaults = [(b"host", b"testserver"), *default_headers]
    scope: Scope = {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": _ASGI_SPEC_VERSIONS[kind]},
        "http_version": "1.1",
        "scheme": scheme,
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": _encode_query(query_string),
        "root_path": "",
        "headers": [(k, v) for k, v in defaults if k not in given] + extra,
        "client": client,
        "server": ("testserver", 443 if secure else 80),
        "state": dict(state),
    }
    return scope


def _header_items(headers: HeadersLike | None) -> Iterable[tuple[str | bytes, str | bytes]]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        return headers.items()
    return headers
