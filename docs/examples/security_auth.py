"""Security: an Origin allow-list and a handshake ``authenticate`` hook with signed tickets.

A ticket is ``user.expiry.signature``, signed with HMAC-SHA256 by your HTTP login endpoint and
checked here in constant time. Browsers cannot set headers on a WebSocket handshake, so they
pass the ticket in the query string; other clients may send ``Authorization: Bearer <ticket>``.
"""

from __future__ import annotations

# --8<-- [start:tickets]
import hashlib
import hmac
import os
import time

SECRET = os.environ.get("APP_TICKET_SECRET", "dev-only-secret").encode()


def _sign(body: str) -> str:
    return hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()


def issue_ticket(user: str, ttl: float = 60.0) -> str:
    """Called by your HTTP login endpoint; the ticket is good for ``ttl`` seconds."""
    body = f"{user}.{int(time.time() + ttl)}"
    return f"{body}.{_sign(body)}"


def check_ticket(ticket: str) -> str | None:
    """Return the ticket's user, or ``None`` if it is forged, malformed or expired."""
    body, _, signature = ticket.rpartition(".")
    user, _, expires = body.rpartition(".")
    # compare_digest takes the same time wherever the strings differ: no timing oracle.
    if not hmac.compare_digest(signature.encode(), _sign(body).encode()):
        return None
    if not user or not expires.isdigit() or int(expires) < time.time():
        return None
    return user


# --8<-- [end:tickets]


# --8<-- [start:hook]
import logging

from wskit import App, Limits, WebSocket
from wskit.policies.ratelimit import RateLimit

logger = logging.getLogger(__name__)


async def authenticate(ws: WebSocket) -> str | None:
    """Runs before accept. Return the identity (kept on ``ws.state.user``) or ``None`` (401)."""
    ticket = ws.query_params.get("ticket", "")
    scheme, _, credentials = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        ticket = credentials
    user = check_ticket(ticket)
    if user is None:
        # Never log the ticket, the query string or the Authorization header. %r escapes
        # control characters, so a client cannot forge log lines through its address.
        logger.info("refused a handshake from %r", ws.client)
    return user


app = App(
    origins=["https://chat.example.com"],  # the pages allowed to open a socket (CSWSH)
    authenticate=authenticate,
    limits=Limits(max_message_size=64 * 1024),  # 64 KiB is plenty for chat
    rate_limit=RateLimit(messages_per_second=10, bytes_per_second=64 * 1024),  # else 1008
    idle_timeout=300,  # a client silent for 5 minutes is closed with 1008
    max_connections=5_000,
)


@app.websocket("/ws")
async def whoami(ws: WebSocket) -> None:
    user: str = ws.state.user
    async with ws:
        await ws.send_data({"user": user})
        async for text in ws.iter_text():
            await ws.send_data({"user": user, "echo": text})


# --8<-- [end:hook]
