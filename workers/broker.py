"""kombu's Sentinel transport, with one repair: a worker survives losing its primary mid-task.

When the broker connection breaks while the worker holds an unacknowledged message and waits
in BRPOP, Celery collects the connection: the channel's close first drains the pending BRPOP,
which fails on the dead socket and aborts the close half-way; the transport is then dropped,
and Celery's second close, which restores the unacknowledged message, needs the transport
and raises AttributeError: "Unrecoverable error", the worker exits (kombu 5.7, seen in
tests/test_sentinel.py). Here a close whose drain failed carries on while the transport is
still there; the message it could not restore comes back through the visibility timeout, and
the sweep re-enqueues a queued task nobody launches sooner than that.
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis

# The class path Celery's `broker_transport` names (workers/celery_app.py).
SENTINEL_TRANSPORT = "workers.broker:SentinelTransport"


class SentinelChannel(kombu_redis.SentinelChannel):  # type: ignore[misc]
    """kombu's channel whose close goes on after the pending BRPOP failed to drain."""

    def close(self) -> None:
        """Close; when draining the BRPOP meets a dead connection, close the rest too (the
        drain marked the poll done) and let the caller ignore the connection error."""
        try:
            super().close()
        except self.connection_errors:
            if self.closed:
                raise
            super().close()


class SentinelTransport(kombu_redis.SentinelTransport):  # type: ignore[misc]
    """kombu's Sentinel transport with the channel above."""

    Channel = SentinelChannel


__all__ = ["SENTINEL_TRANSPORT", "SentinelTransport"]
