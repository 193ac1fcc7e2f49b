"""The listening sockets: bound once by wskit, whatever the server, and shared by its workers.

Every server adapter takes already-listening sockets (hypercorn's ``Sockets``, uvicorn's
``sockets=``, granian's socket holder), so binding is one piece of code: ``port=0`` reports the
port actually bound, ``--workers N`` and ``--reload`` hand the same socket to each process, and a
unix socket is removed once, by the process that created it.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .options import ServerOptions

__all__ = ["Listening", "bind", "can_reuse_port", "close", "listening"]


@dataclass(frozen=True)
class Listening:
    """Where a server listens, reported once its sockets accept connections.

    Attributes:
        urls: One URL per socket: ``http://HOST:PORT`` (``https`` with TLS) or ``unix:PATH``.
        port: The TCP port actually bound (useful with ``port=0``), or ``None`` for a
            unix socket.
    """

    urls: tuple[str, ...]
    port: int | None

    @property
    def url(self) -> str:
        """The first URL."""
        return self.urls[0]


def can_reuse_port(options: ServerOptions) -> bool:
    """Whether worker processes can each listen on the TCP port (``SO_REUSEPORT``, Linux).

    The kernel then spreads new connections over the workers evenly; one shared socket lets
    whichever process wakes first take every connection waiting in the backlog.
    """
    return not options.uds and sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def bind(
    options: ServerOptions, *, listen: bool = True, reuse_port: bool = False
) -> list[socket.socket]:
    """Create and bind the socket ``options`` name (TCP or unix), and listen on it.

    Args:
        options: ``host``/``port`` or ``uds``, and ``backlog``.
        listen: Listen (``False``: only hold the port, for a supervisor whose workers listen).
        reuse_port: Set ``SO_REUSEPORT`` (TCP): other sockets may bind the same port.

    Raises:
        OSError: The address is in use or not available.
    """
    if options.uds:
        path = options.uds
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from an earlier run
        except FileNotFoundError:
            pass
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        return [_bound(sock, path, options.backlog)]
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    flags = [socket.SO_REUSEADDR, *([socket.SO_REUSEPORT] if reuse_port else [])]
    sock = socket.socket(family, socket.SOCK_STREAM)
    backlog = options.backlog if listen else None
    return [_bound(sock, (options.host, options.port), backlog, flags)]


def _bound(
    sock: socket.socket,
    address: str | tuple[str, int],
    backlog: int | None,
    flags: Sequence[int] = (),
) -> socket.socket:
    """``sock`` with the socket ``flags`` set, bound, listening unless ``backlog`` is ``None``,
    non-blocking; closed if any of it fails."""
    try:
        for flag in flags:
            sock.setsockopt(socket.SOL_SOCKET, flag, 1)
        sock.bind(address)
        if backlog is not None:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def listening(sockets: list[socket.socket], *, tls: bool = False) -> Listening:
    """The :class:`Listening` value of ``sockets``."""
    urls: list[str] = []
    port: int | None = None
    for sock in sockets:
        name = sock.getsockname()
        if isinstance(name, str | bytes):
            urls.append(f"unix:{os.fsdecode(name)}")
            continue
        host = f"[{name[0]}]" if ":" in name[0] else name[0]
        urls.append(f"{'https' if tls else 'http'}://{host}:{name[1]}")
        port = name[1] if port is None else port
    return Listening(tuple(urls), port)


def close(sockets: list[socket.socket], options: ServerOptions, *, unlink: bool = True) -> None:
    """Close ``sockets``; remove the unix socket file too when ``unlink`` (its owner only)."""
    for sock in sockets:
        sock.close()
    if options.uds and unlink:
        try:
            os.unlink(options.uds)
        except FileNotFoundError:
            pass
