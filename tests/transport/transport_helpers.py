"""What the transport tests share: the request policy for a server that misbehaves."""

from __future__ import annotations

from nexla_procurify.http import HttpPolicy

__all__ = ["hostile_policy"]


def hostile_policy(
    max_elapsed: float, *, max_answer_bytes: int = HttpPolicy.max_answer_bytes
) -> HttpPolicy:
    """Small budgets, so that each fault ends quickly (each request by ``max_elapsed`` seconds);
    the socket read timeout is long, so that only the deadline can end a request that drips."""
    return HttpPolicy(
        connect_timeout=2.0,
        read_timeout=30.0,
        max_attempts=3,
        max_elapsed=max_elapsed,
        backoff_initial=0.01,
        backoff_max=0.02,
        max_answer_bytes=max_answer_bytes,
    )
