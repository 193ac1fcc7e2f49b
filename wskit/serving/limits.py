"""The server's message limit comes from the app's: ``max_message_size="auto"``.

wskit checks every inbound message against its route's ``Limits.max_message_size``; the server
buffers a whole message before wskit sees it, so it needs a limit that is not below the app's
(:mod:`wskit.app.server_limit`). ``max_message_size="auto"`` (the default) gives the server the
largest limit among the app's wskit routes; when the walk finds no wskit route, wskit's default
(1 MiB) applies. An explicit lower limit is kept, with one warning.
"""

from __future__ import annotations

import logging

from ..app.server_limit import UNLIMITED as UNLIMITED
from ..app.server_limit import app_message_limit as app_message_limit
from ..app.server_limit import check_server_limit as check_server_limit
from ..app.server_limit import running_server_limit as running_server_limit
from ..limits import DEFAULT_LIMITS
from .options import AUTO, ServerOptions

__all__ = [
    "UNLIMITED",
    "app_message_limit",
    "check_server_limit",
    "resolve_message_limit",
    "running_server_limit",
]

logger = logging.getLogger("wskit.server")


def resolve_message_limit(app: object, options: ServerOptions) -> ServerOptions:
    """``options`` with ``max_message_size`` decided: from the app when ``"auto"``.

    An explicit limit below the app's largest is kept, with one warning: clients sending a
    message between the two get the server's refusal instead of wskit's.
    """
    limit = app_message_limit(app)
    size = options.max_message_size
    if size == AUTO:
        if limit is None:
            resolved = DEFAULT_LIMITS.max_message_size
        else:
            resolved = None if limit == UNLIMITED else limit
        return options.replace(max_message_size=resolved)
    if limit is not None and size is not None and (limit == UNLIMITED or size < limit):
        app_limit = "no limit" if limit == UNLIMITED else f"{limit} bytes"
        logger.warning(
            "the server's message limit (%d bytes) is below the app's largest (%s): "
            "larger messages get the server's refusal, not wskit's 1009 "
            "(use max_message_size='auto')",
            size,
            app_limit,
        )
    return options
