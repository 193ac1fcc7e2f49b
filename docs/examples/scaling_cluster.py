"""Scaling guide: a hub on a Redis Cluster (``pip install 'wskit[redis]'``)."""

from __future__ import annotations

# --8<-- [start:hub]
from wskit.pubsub import Hub, RedisBackend


def build_hub(url: str = "redis://127.0.0.1:7000") -> Hub:
    backend = RedisBackend(
        url,  # any node of the cluster: the backend learns the others from it
        sharded=True,  # SSUBSCRIBE/SPUBLISH: each topic lives on the master of its slot
        backoff_max=0.5,  # the longest wait between two reconnection attempts
        publish_timeout=1.0,  # a publish to a node that hangs fails after this
        keepalive=2.0,  # a silent link is checked with a PING after this
    )
    return Hub(backend, history=1000)  # history streams share their topic's slot


# --8<-- [end:hub]
