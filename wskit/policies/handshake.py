"""Handshake policies: the checks an :class:`~wskit.app.App` runs before it accepts a connection.

Each policy is off by default and, when off, costs nothing: the app resolves the policies of
every route once, at registration, into a :class:`Handshake` that holds only the checks that
are on. A refused handshake raises :class:`~wskit.exceptions.Denied`, which the app turns into
``ws.deny(status, headers, body)``.

* :class:`OriginPolicy`: an allow-list of exact origins (``scheme://host[:port]``), compared
  after parsing, never with a regular expression. Refused: 403.
* ``authenticate``: ``async def authenticate(ws) -> identity | None``. ``None`` is 401; raising
  ``Denied`` chooses the status. The identity is stored on ``ws.state.user``.
* :class:`SubprotocolPolicy`: the subprotocols the app speaks, optionally each with its codec.
  wskit picks the first of the **client's** offers that the app supports (the client lists its
  preference first, RFC 6455 section 4.1). With no match, the connection goes on without a
  subprotocol, or is refused with 400 when ``require_subprotocol`` is set. The choice is on
  ``ws.subprotocol`` before the handler runs: ``async with ws:`` accepts with it, and a handler
  that accepts by hand passes it on (``await ws.accept(ws.subprotocol)``).

Three more policies act after accept, on the open connection, and are resolved the same way
(per app, overridable per route, free when off; see :mod:`wskit.app._guards`): a per-connection
:class:`~wskit.ratelimit.RateLimit` (close 1008 or an error reply), ``idle_timeout`` (close
1008 "idle timeout") and ``max_lifespan`` (close 1001 "connection lifespan ended").

:class:`RouteOptions` lists every option once; ``App``, ``Route``, ``add_route``,
``@app.websocket`` and the Starlette route all take it as keyword arguments.

Every check reads the handshake defensively: header bytes are decoded as Latin-1 (which never
fails) and anything a server could put in the scope that does not fit is treated as absent or
invalid, so hostile handshake data never raises out of wskit before accept.
"""

from __future__ import annotations

import copy
import enum
import ipaddress
import math
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, TypedDict, Unpack

from wskit.codecs import JSON, Codec
from wskit.exceptions import Denied
from wskit.limits import DEFAULT_LIMITS

from .ratelimit import RateLimit

if TYPE_CHECKING:
    from wskit._types import Scope
    from wskit.connection import WebSocket
    from wskit.limits import Limits

__all__ = [
    "INHERIT",
    "Authenticate",
    "Handshake",
    "Inherit",
    "OriginPolicy",
    "OverloadPolicy",
    "RouteOptions",
    "SubprotocolPolicy",
    "check_options",
    "parse_origin",
]

#: ``async def authenticate(ws) -> identity | None``: ``None`` refuses with 401.
Authenticate: TypeAlias = Callable[["WebSocket"], Awaitable[object]]
#: What happens over ``max_connections``: refuse with 503, or accept and close with 1013.
OverloadPolicy: TypeAlias = Literal["deny", "close"]


class Inherit(enum.Enum):
    """The type of :data:`INHERIT`: "use the app's setting" for a per-route override."""

    INHERIT = "INHERIT"


#: Per-route override meaning "use the app's setting" (``None`` means "off for this route").
INHERIT: Final = Inherit.INHERIT

_DEFAULT_PORTS: Final[Mapping[str, int]] = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME_CHARS: Final = frozenset(string.ascii_lowercase + string.digits + "+-.")
_HOST_CHARS: Final = frozenset(string.ascii_lowercase + string.digits + "-._")
# RFC 9110 section 5.6.2: a subprotocol is a token (RFC 6455 section 4.1).
_TOKEN_CHARS: Final = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")

Origin: TypeAlias = tuple[str, str, int | None]


def parse_origin(value: str, *, idna: bool = False) -> Origin | None:
    """Parse a serialised origin into ``(scheme, host, port)``, or ``None`` if it is not one.

    The scheme and host are lower-cased, an IPv6 literal is normalised, and a default port
    (80 for http/ws, 443 for https/wss) becomes ``None``. Anything beyond
    ``scheme://host[:port]`` (a path, a query, user info, spaces, control characters, an empty
    or non-numeric port) makes the value invalid, as does the opaque origin ``null``.

    Args:
        value: The origin, such as ``"https://app.example.com"``.
        idna: Accept an internationalised host and convert it to its ASCII (punycode) form.
            Used for configured origins; browsers always send the ASCII form, so an ``Origin``
            header with non-ASCII characters is refused.
    """
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme or not scheme[0].isalpha() or not _SCHEME_CHARS.issuperset(scheme):
        return None
    port_text = ""
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return None
        after = rest[end + 1 :]
        if after:
            if after[0] != ":":
                return None
            port_text = after[1:] or "-"
        try:
            host = f"[{ipaddress.IPv6Address(rest[1:end]).compressed}]"
        except ValueError:
            return None
    else:
        host, colon, port_text = rest.partition(":")
        if colon and not port_text:
            return None
        host = host.lower()
        if not host.isascii():
            if not idna:
                return None
            try:
                ascii_host = host.encode("idna").decode("ascii")
                # IDNA 2003 maps some characters (ß -> ss, fullwidth forms) where browsers
                # (UTS 46) keep them: refuse any host that does not survive the round trip.
                if ascii_host.encode("ascii").decode("idna") != host:
                    return None
            except UnicodeError:
                return None
            host = ascii_host
        if not host or not _HOST_CHARS.issuperset(host):
            return None
    port: int | None = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
            return None
        port = int(port_text)
        if not 0 < port < 65536:
            return None
        if _DEFAULT_PORTS.get(scheme) == port:
            port = None
    return scheme, host, port


def _header_values(scope: Scope, name: bytes) -> list[bytes]:
    """Every value of header ``name`` (lower-case) in the raw scope headers; never raises."""
    values: list[bytes] = []
    headers = scope.get("headers")
    if not isinstance(headers, Iterable):
        return values
    for item in headers:
        if isinstance(item, tuple | list) and len(item) == 2:
            key, value = item
            if isinstance(key, bytes) and isinstance(value, bytes) and key.lower() == name:
                values.append(value)
    return values


class OriginPolicy:
    """Allow a handshake only from the listed origins.

    The comparison is exact on the parsed ``(scheme, host, port)``: ``https://app.example.com``
    allows ``https://APP.example.com:443`` but neither ``https://app.example.com.evil.io`` nor
    ``https://evil-app.example.com`` nor ``http://app.example.com``. There are no wildcards and
    no regular expressions. A handshake with several ``Origin`` headers is refused.

    Args:
        origins: The allowed origins, such as ``["https://app.example.com"]``. Internationalised
            hosts may be written in Unicode; they are compared in punycode. A Unicode host that
            IDNA 2003 (Python's codec) would map to another name (``ß`` to ``ss``, fullwidth
            letters) is refused with ``ValueError``, since browsers (UTS 46) may not map it the
            same way: write such hosts in punycode (``xn--...``).
        allow_missing: Whether a handshake without an ``Origin`` header is allowed. Browsers
            always send one; other clients (servers, scripts) usually do not.

    Raises:
        ValueError: If an entry is not an origin (it has a path, a bad port...).
    """

    __slots__ = ("_allowed", "allow_missing", "origins")

    def __init__(self, origins: Iterable[str], *, allow_missing: bool = False) -> None:
        if isinstance(origins, str):
            raise TypeError("origins must be a list of origins, not a single string")
        allowed: set[Origin] = set()
        for origin in origins:
            parsed = parse_origin(origin, idna=True) if isinstance(origin, str) else None
            if parsed is None:
                raise ValueError(f"not an origin (expected scheme://host[:port]): {origin!r}")
            allowed.add(parsed)
        self._allowed: frozenset[Origin] = frozenset(allowed)
        self.origins: tuple[str, ...] = tuple(origins)
        self.allow_missing = allow_missing

    def allows(self, origin: str | None) -> bool:
        """Tell whether a handshake with this ``Origin`` header value (or none) is allowed."""
        if origin is None:
            return self.allow_missing
        parsed = parse_origin(origin)
        return parsed is not None and parsed in self._allowed

    def check(self, scope: Scope) -> None:
        """Check the handshake's ``Origin`` header.

        Raises:
            Denied: 403, if the origin is not allowed.
        """
        values = _header_values(scope, b"origin")
        origin = values[0].decode("latin-1") if len(values) == 1 else None
        if len(values) > 1 or not self.allows(origin):
            if len(values) > 1:
                reason = f"{len(values)} Origin headers"
            elif origin is None:  # what command-line clients do
                reason = "no Origin header (allow it with OriginPolicy(..., allow_missing=True))"
            else:
                reason = f"origin {origin!r} not in the allow-list"
            raise Denied(403, b"origin not allowed", reason=reason)

    def __repr__(self) -> str:
        return f"OriginPolicy({list(self.origins)!r}, allow_missing={self.allow_missing})"


class SubprotocolPolicy:
    """The subprotocols an endpoint speaks, and the codec each one selects.

    Args:
        supported: Subprotocol names, or a mapping of names to codecs such as
            ``{"wskit.json": JSON, "wskit.msgpack": MSGPACK}``. With a plain list (or a
            ``None`` codec) the connection keeps the endpoint's codec.
        require: Refuse (400) a client that offers none of them. By default such a client is
            accepted without a subprotocol and gets the endpoint's codec.

    Raises:
        ValueError: If a name is not an RFC 9110 token, or the list is empty.
    """

    __slots__ = ("_codecs", "names", "require")

    def __init__(
        self, supported: Sequence[str] | Mapping[str, Codec | None], *, require: bool = False
    ) -> None:
        if isinstance(supported, str):
            raise TypeError("subprotocols must be a list of names, not a single string")
        codecs: dict[str, Codec | None] = (
            dict(supported.items())
            if isinstance(supported, Mapping)
            else dict.fromkeys(supported, None)
        )
        if not codecs:
            raise ValueError("at least one subprotocol is needed")
        for name in codecs:
            if not isinstance(name, str) or not name or not _TOKEN_CHARS.issuperset(name):
                raise ValueError(f"a subprotocol name must be a token, got {name!r}")
        self._codecs: Mapping[str, Codec | None] = codecs
        self.names: tuple[str, ...] = tuple(codecs)
        self.require = require

    def select(self, scope: Scope) -> tuple[str | None, Codec | None]:
        """Pick the first subprotocol in the client's offer that this policy supports.

        Returns:
            The subprotocol (``None`` when there is no match) and the codec it selects
            (``None`` to keep the endpoint's).

        Raises:
            Denied: 400, if nothing matches and ``require`` is set.
        """
        offered = scope.get("subprotocols")
        if isinstance(offered, list | tuple):
            codecs = self._codecs
            for name in offered:
                if type(name) is str and name in codecs:
                    return name, codecs[name]
        if self.require:
            names = list(offered) if isinstance(offered, list | tuple) else []
            raise Denied(
                400,
                b"no supported subprotocol offered",
                reason=f"no supported subprotocol among {names!r}"[:200],
            )
        return None, None

    def replace(self, *, require: bool) -> SubprotocolPolicy:
        """Return a copy of this policy with ``require`` changed."""
        return SubprotocolPolicy(self._codecs, require=require)

    def __repr__(self) -> str:
        return f"SubprotocolPolicy({list(self.names)!r}, require={self.require})"


class RouteOptions(TypedDict, total=False):
    """The options of one WebSocket endpoint: its handshake checks, guards, codec and limits.

    One list for every place that configures an endpoint: ``App(...)`` takes them as the
    settings of all its routes; ``Route(...)``, ``app.add_route(...)`` and
    ``@app.websocket(...)`` take them as overrides for one route; and the Starlette route and
    endpoint of :mod:`wskit.contrib.starlette` take them for themselves. Every option is
    keyword-only and optional: an option not given (or given as :data:`INHERIT`) keeps the
    setting below it (the app's for a route, else the default), and ``None`` turns a policy
    off. The policies cost nothing where they are off.

    Attributes:
        origins: Allowed ``Origin`` values: an :class:`OriginPolicy`, or a list of origins
            (a handshake without ``Origin`` is then refused). Refused: 403. Default ``None``:
            no check.
        authenticate: ``async def authenticate(ws) -> identity | None``; the identity goes to
            ``ws.state.user``, ``None`` refuses with 401, and raising
            :class:`~wskit.exceptions.Denied` picks another status. Default ``None``.
        subprotocols: The subprotocols spoken: a :class:`SubprotocolPolicy`, a list of names,
            or a mapping of names to the codec each selects. Default ``None``: no subprotocol
            is chosen.
        require_subprotocol: Refuse (400) a client that offers none of ``subprotocols``
            (used when ``subprotocols`` is not already a policy). Default ``False``.
        codec: The connections' codec unless a subprotocol selects another. Default
            :data:`~wskit.codecs.JSON`.
        limits: The connections' :class:`~wskit.limits.Limits`. Default (and ``None``):
            ``Limits()``'s defaults.
        rate_limit: A per-connection :class:`~wskit.ratelimit.RateLimit` on inbound messages
            and bytes: over it, close 1008 ("rate limit exceeded") or, with
            ``on_exceed="reply"``, a ``rate_limited`` error reply and the message dropped.
            Default ``None``: no limit.
        idle_timeout: Close with 1008 ("idle timeout") when a receive of the handler waits
            this many seconds for the client. Default ``None``: no deadline.
        max_lifespan: Close with 1001 ("connection lifespan ended") this many seconds after the
            handler starts; the handler then has ``Limits.close_timeout`` seconds to return
            before it is cancelled. Default ``None``: connections may last forever.
    """

    origins: OriginPolicy | Sequence[str] | None | Inherit
    authenticate: Authenticate | None | Inherit
    subprotocols: SubprotocolPolicy | Sequence[str] | Mapping[str, Codec] | None | Inherit
    require_subprotocol: bool | Inherit
    codec: Codec | Inherit
    limits: Limits | None | Inherit
    rate_limit: RateLimit | None | Inherit
    idle_timeout: float | None | Inherit
    max_lifespan: float | None | Inherit


_OPTION_NAMES: Final = RouteOptions.__optional_keys__


def check_options(options: Mapping[str, object], owner: str) -> None:
    """Refuse a keyword that is not a :class:`RouteOptions` key, as a signature would.

    Raises:
        TypeError: ``owner() got an unexpected keyword argument 'name'``.
    """
    for name in options:
        if name not in _OPTION_NAMES:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}")


def _seconds(name: str, value: float | None) -> float | None:
    """Validate an optional positive duration (``idle_timeout``, ``max_lifespan``)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
    return float(value)


def _rate_limit(value: RateLimit | None) -> RateLimit | None:
    if value is not None and not isinstance(value, RateLimit):
        raise TypeError(f"rate_limit must be a wskit.ratelimit.RateLimit or None, got {value!r}")
    return value


def _origin_policy(origins: OriginPolicy | Sequence[str] | None) -> OriginPolicy | None:
    if origins is None or isinstance(origins, OriginPolicy):
        return origins
    return OriginPolicy(origins)


def _subprotocol_policy(
    subprotocols: SubprotocolPolicy | Sequence[str] | Mapping[str, Codec] | None, require: bool
) -> SubprotocolPolicy | None:
    if subprotocols is None or isinstance(subprotocols, SubprotocolPolicy):
        return subprotocols
    return SubprotocolPolicy(subprotocols, require=require)


class Handshake:
    """The resolved policies and connection settings of one endpoint, built once.

    Args:
        **options: The endpoint's :class:`RouteOptions`; an option not given (or
            :data:`INHERIT`) takes its default.

    Raises:
        TypeError: ``rate_limit`` is not a :class:`~wskit.ratelimit.RateLimit`.
        ValueError: A duration is not positive, or an origin or subprotocol is invalid.
    """

    __slots__ = (
        "authenticate",
        "codec",
        "enabled",
        "guarded",
        "idle_timeout",
        "limits",
        "max_lifespan",
        "origins",
        "rate_limit",
        "require_subprotocol",
        "subprotocols",
    )

    def __init__(self, **options: Unpack[RouteOptions]) -> None:
        self.origins: OriginPolicy | None = None
        self.authenticate: Authenticate | None = None
        self.subprotocols: SubprotocolPolicy | None = None
        self.require_subprotocol = False
        self.codec: Codec = JSON
        self.limits: Limits = DEFAULT_LIMITS
        self.rate_limit: RateLimit | None = None
        self.idle_timeout: float | None = None
        self.max_lifespan: float | None = None
        #: Whether any check is on; when not, :meth:`check` need not be called at all.
        self.enabled = False
        #: Whether any guard acts after accept (rate limit, idle timeout, max lifespan); when
        #: not, the connection gets the server's ``receive`` and the handler runs directly.
        self.guarded = False
        self._apply(options)

    def override(self, options: RouteOptions | None) -> Handshake:
        """Return this handshake with a route's options applied over it (``self`` when none)."""
        if not options or all(value is INHERIT for value in options.values()):
            return self
        new = copy.copy(self)
        new._apply(options)
        return new

    def _apply(self, options: RouteOptions) -> None:
        """Set every option given (not :data:`INHERIT`), validated, and recompute the flags."""
        if (origins := options.get("origins", INHERIT)) is not INHERIT:
            self.origins = _origin_policy(origins)
        if (authenticate := options.get("authenticate", INHERIT)) is not INHERIT:
            self.authenticate = authenticate
        if (require := options.get("require_subprotocol", INHERIT)) is not INHERIT:
            self.require_subprotocol = require
        policy = self.subprotocols
        if (subprotocols := options.get("subprotocols", INHERIT)) is not INHERIT:
            policy = _subprotocol_policy(subprotocols, self.require_subprotocol)
        elif policy is not None and policy.require != self.require_subprotocol:
            policy = policy.replace(require=self.require_subprotocol)
        self.subprotocols = policy
        if policy is not None:
            # A SubprotocolPolicy given as such keeps its own ``require``.
            self.require_subprotocol = policy.require
        if (codec := options.get("codec", INHERIT)) is not INHERIT:
            self.codec = codec
        if (limits := options.get("limits", INHERIT)) is not INHERIT:
            self.limits = DEFAULT_LIMITS if limits is None else limits
        if (rate_limit := options.get("rate_limit", INHERIT)) is not INHERIT:
            self.rate_limit = _rate_limit(rate_limit)
        if (idle_timeout := options.get("idle_timeout", INHERIT)) is not INHERIT:
            self.idle_timeout = _seconds("idle_timeout", idle_timeout)
        if (max_lifespan := options.get("max_lifespan", INHERIT)) is not INHERIT:
            self.max_lifespan = _seconds("max_lifespan", max_lifespan)
        self.enabled = (
            self.origins is not None
            or self.subprotocols is not None
            or self.authenticate is not None
        )
        self.guarded = (
            self.rate_limit is not None
            or self.idle_timeout is not None
            or self.max_lifespan is not None
        )

    async def check(self, ws: WebSocket) -> None:
        """Run the checks that are on, in order: origin, subprotocol, authentication.

        On success the chosen subprotocol is on ``ws.subprotocol`` (``async with ws:`` accepts
        with it), its codec on ``ws.codec``, and the identity on ``ws.state.user``.

        Raises:
            Denied: A check refused the handshake.
        """
        scope = ws.scope
        if self.origins is not None:
            self.origins.check(scope)
        if self.subprotocols is not None:
            ws.subprotocol, codec = self.subprotocols.select(scope)
            if codec is not None:
                ws.codec = codec
        if self.authenticate is not None:
            identity = await self.authenticate(ws)
            if identity is None:
                raise Denied(
                    401, b"authentication required", reason="the authenticate hook returned None"
                )
            ws.state.user = identity
