"""Every serving option, defined once: name, type, default, help text and command-line form.

:class:`ServerOptions` is the one definition. Each field carries its help text and its parser
(how ``--flag TEXT`` or ``WSKIT_FLAG=TEXT`` becomes a value) in the field's metadata; the
command line (:mod:`wskit.serving.cli`) and the documentation's option table are built from
it. :class:`ServeOptions` is the same list as a ``TypedDict``, so that
``serve(app, **options)`` is type-checked; a test keeps the two identical.

Two values are resolved when the server starts, from what is installed and from the app:
``worker="auto"`` (hypercorn: asyncio; uvicorn and granian: uvloop when it is installed) and
``max_message_size="auto"`` (the largest inbound limit among the app's wskit routes, see
:mod:`wskit.serving.limits`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypedDict, cast

__all__ = [
    "AUTO",
    "LOG_LEVELS",
    "SERVERS",
    "WORKERS",
    "ServeKwargs",
    "ServeOptions",
    "ServerName",
    "ServerOptions",
    "Size",
    "Worker",
    "option_fields",
]

ServerName = Literal["hypercorn", "uvicorn", "granian"]
Worker = Literal["auto", "asyncio", "uvloop", "trio"]
#: A message size in bytes, ``None`` for no limit, or ``"auto"``: from the app's limits.
Size = int | Literal["auto"] | None

AUTO: Final = "auto"
SERVERS: Final[tuple[ServerName, ...]] = ("hypercorn", "uvicorn", "granian")
WORKERS: Final[tuple[Worker, ...]] = ("auto", "asyncio", "uvloop", "trio")
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
#: Which event loops each server runs on (its ``worker`` choices besides ``auto``).
LOOPS: Final[Mapping[ServerName, tuple[str, ...]]] = {
    "hypercorn": ("asyncio", "uvloop", "trio"),
    "uvicorn": ("asyncio", "uvloop"),
    "granian": ("asyncio", "uvloop"),
}
#: Seconds granted past ``drain_timeout`` to an app whose ``shutdown()`` overruns it.
DRAIN_GRACE: Final = 2.0
#: The bound on the drain when no ``drain_timeout`` is given (the app's own default applies,
#: ``wskit.App``'s is 10 s); a second signal skips the drain at any time.
DRAIN_BACKSTOP: Final = 60.0


# --- parsing command-line and environment text -------------------------------------------

_NONE: Final = frozenset({"none", "off", ""})
_UNITS: Final = {"k": 2**10, "kib": 2**10, "kb": 10**3, "m": 2**20, "mib": 2**20, "mb": 10**6}


def parse_size(text: str) -> Size:
    """``1048576``, ``64KiB``, ``1MiB``, ``1M``, ``none`` or ``auto``."""
    value = text.strip().lower()
    if value in _NONE:
        return None
    if value == AUTO:
        return AUTO
    number = value.rstrip("kmib")
    unit = value[len(number) :]
    if unit and unit not in _UNITS:
        raise ValueError(f"invalid size {text!r} (use bytes, KiB, MiB, none or auto)")
    size = int(number) * _UNITS.get(unit, 1)
    if size <= 0:
        raise ValueError(f"size must be positive, not {text!r}")
    return size


def parse_optional_float(text: str) -> float | None:
    """A number of seconds, or ``none``."""
    return None if text.strip().lower() in _NONE else float(text)


def parse_optional_str(text: str) -> str | None:
    """Any text; empty or ``none`` is ``None``."""
    return None if text.strip().lower() in _NONE else text


def parse_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0``."""
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true/false, not {text!r}")


def choice(choices: Sequence[str]) -> Callable[[str], str]:
    """A parser that accepts one of ``choices`` (case-insensitive)."""

    def parse(text: str) -> str:
        if text.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, not {text!r}")
        return text.lower()

    parse.__name__ = "choice"
    return parse


def _option(
    default: Any,
    help: str,
    parse: Callable[[str], Any] | None = str,
    metavar: str | None = None,
) -> Any:
    """A :class:`ServerOptions` field; ``parse=None`` keeps it off the command line."""
    metadata = {"help": help, "parse": parse, "metavar": metavar}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ServerOptions:
    """Every serving option, as one picklable value (worker processes receive it).

    The fields are the keyword arguments of :func:`wskit.serve` and the flags of ``wskit run``
    (``max_message_size`` is ``--max-message-size`` and ``WSKIT_MAX_MESSAGE_SIZE``); the
    documentation lists them with their defaults and help, read from this class.

    Raises:
        ValueError: If an option is out of range or does not fit the chosen server.
    """

    host: str = _option("127.0.0.1", "interface to bind", metavar="HOST")
    port: int = _option(8000, "TCP port (0: pick a free one)", int, "PORT")
    uds: str | None = _option(None, "bind a unix socket at this path instead", metavar="PATH")
    server: ServerName = _option(
        "hypercorn", "the ASGI server: " + ", ".join(SERVERS), choice(SERVERS), "NAME"
    )
    worker: Worker = _option(
        AUTO,
        "event loop: asyncio, uvloop or trio (hypercorn only); auto: hypercorn asyncio, "
        "uvicorn and granian uvloop when installed",
        choice(WORKERS),
        "KIND",
    )
    workers: int = _option(1, "worker processes sharing the socket", int, "N")
    max_message_size: Size = _option(
        AUTO,
        "the server's WebSocket message limit in bytes; auto: the largest limit among the "
        "app's wskit routes (1 MiB when it has none)",
        parse_size,
        "SIZE",
    )
    ping_interval: float | None = _option(
        None, "seconds between server pings (none: no pings)", parse_optional_float, "SECONDS"
    )
    per_message_deflate: bool = _option(
        False, "negotiate permessage-deflate compression (hypercorn, uvicorn)", parse_bool
    )
    graceful_timeout: float = _option(
        10.0, "seconds the server waits for connections after the drain", float, "SECONDS"
    )
    drain_timeout: float | None = _option(
        None,
        "seconds the 1001 drain may take (none: the app's own)",
        parse_optional_float,
        "SECONDS",
    )
    certfile: str | None = _option(None, "TLS certificate (PEM) to serve wss://", metavar="PATH")
    keyfile: str | None = _option(None, "TLS private key (PEM) of --certfile", metavar="PATH")
    reload: bool = _option(False, "restart when a .py file changes (development)", parse_bool)
    proxy_headers: bool = _option(
        False, "trust X-Forwarded-For/-Proto from --forwarded-allow-ips", parse_bool
    )
    forwarded_allow_ips: str = _option(
        "127.0.0.1",
        "comma-separated proxy addresses (or networks, or *) to trust with --proxy-headers",
        metavar="IPS",
    )
    access_log: bool = _option(False, "log every request/handshake", parse_bool)
    log_level: str = _option("info", "one of " + ", ".join(LOG_LEVELS), choice(LOG_LEVELS), "LEVEL")
    backlog: int = _option(2048, "listen backlog", int, "N")
    server_config: Mapping[str, Any] = _option(
        {},
        "any other option of the chosen server's own configuration, by name "
        "(hypercorn: a Config attribute; uvicorn: a Config argument; granian: a Server "
        "argument); an unknown name is a TypeError when the server starts",
        None,
    )

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"server must be one of {', '.join(SERVERS)}, not {self.server!r}")
        if self.worker not in WORKERS:
            raise ValueError(f"worker must be one of {', '.join(WORKERS)}, not {self.worker!r}")
        if self.worker != AUTO and self.worker not in LOOPS[self.server]:
            raise ValueError(
                f"worker {self.worker!r} needs server='hypercorn' ({self.server} runs on "
                f"{' or '.join(LOOPS[self.server])})"
            )
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.reload and self.workers > 1:
            raise ValueError("reload serves one worker process: drop workers or reload")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, not {self.port}")
        if self.log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
        size = self.max_message_size
        if size is not None and size != AUTO and (not isinstance(size, int) or size <= 0):
            raise ValueError(f"max_message_size must be positive, None or 'auto', not {size!r}")
        for name, value in (
            ("ping_interval", self.ping_interval),
            ("drain_timeout", self.drain_timeout),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None, not {value}")
        if self.graceful_timeout < 0:
            raise ValueError(f"graceful_timeout must be >= 0, not {self.graceful_timeout}")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both certfile and keyfile")

    @property
    def loop(self) -> Literal["asyncio", "uvloop", "trio"]:
        """The event loop ``worker`` resolves to (``auto`` decided by the server)."""
        if self.worker != AUTO:
            return self.worker
        if self.server != "hypercorn" and importlib.util.find_spec("uvloop") is not None:
            return "uvloop"
        return "asyncio"

    @property
    def tls(self) -> bool:
        """Whether the server speaks TLS (``certfile`` and ``keyfile`` given)."""
        return self.certfile is not None

    @property
    def drain_deadline(self) -> float:
        """The longest the drain may take: ``drain_timeout`` plus a grace, or the backstop."""
        if self.drain_timeout is None:
            return DRAIN_BACKSTOP
        return self.drain_timeout + DRAIN_GRACE

    def serve_options(self) -> ServeOptions:
        """These options but ``host`` and ``port``, as keyword arguments of :func:`wskit.serve`."""
        names = ServeOptions.__optional_keys__
        return cast("ServeOptions", {name: getattr(self, name) for name in names})

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def option_fields() -> tuple[dataclasses.Field[Any], ...]:
    """The fields of :class:`ServerOptions`, in order (their metadata holds help and parser)."""
    return dataclasses.fields(ServerOptions)


class ServeOptions(TypedDict, total=False):
    """The keyword arguments of :func:`wskit.serve` and :func:`wskit.serve_async`.

    The fields of :class:`ServerOptions` but ``host`` and ``port`` (positional parameters),
    with the same names, types and meaning: see there.
    """

    uds: str | None
    server: ServerName
    worker: Worker
    workers: int
    max_message_size: Size
    ping_interval: float | None
    per_message_deflate: bool
    graceful_timeout: float
    drain_timeout: float | None
    certfile: str | None
    keyfile: str | None
    reload: bool
    proxy_headers: bool
    forwarded_allow_ips: str
    access_log: bool
    log_level: str
    backlog: int
    server_config: Mapping[str, Any]


class ServeKwargs(ServeOptions, total=False):
    """Every field of :class:`ServerOptions` as keyword arguments (what the CLI resolves)."""

    host: str
    port: int
