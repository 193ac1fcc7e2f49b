"""The rate limit's first home, kept for its imports: see :mod:`wskit.policies.ratelimit`."""

from __future__ import annotations

from .policies.ratelimit import RateLimit as RateLimit
from .policies.ratelimit import RateLimitPolicy as RateLimitPolicy
from .policies.ratelimit import TokenBucket as TokenBucket
from .policies.ratelimit import message_size as message_size
from .policies.ratelimit import utf8_size as utf8_size
