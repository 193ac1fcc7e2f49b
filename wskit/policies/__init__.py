"""Policies: what a connection is checked against, before accept and while it is open.

Used by the App (:mod:`wskit.app`), the Starlette route (:mod:`wskit.contrib.starlette`) and
the operation router (:mod:`wskit.operations`), which runs them itself when it serves a
connection on its own: the handshake policies and every endpoint option in
:mod:`~wskit.policies.handshake`, the per-connection rate limit in
:mod:`~wskit.policies.ratelimit`.
"""

from __future__ import annotations

from .handshake import INHERIT as INHERIT
from .handshake import Authenticate as Authenticate
from .handshake import Handshake as Handshake
from .handshake import Inherit as Inherit
from .handshake import OriginPolicy as OriginPolicy
from .handshake import OverloadPolicy as OverloadPolicy
from .handshake import RouteOptions as RouteOptions
from .handshake import SubprotocolPolicy as SubprotocolPolicy
from .handshake import check_options as check_options
from .handshake import parse_origin as parse_origin
from .ratelimit import RateLimit as RateLimit
from .ratelimit import RateLimitPolicy as RateLimitPolicy
from .ratelimit import TokenBucket as TokenBucket
from .ratelimit import message_size as message_size
