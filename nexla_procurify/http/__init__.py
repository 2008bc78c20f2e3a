"""HTTP policy, in one place: timeouts, retries with backoff and jitter, ``Retry-After``,
same-origin redirects only, and the mapping of HTTP answers to ``ProcurifyError``s.

- ``policy.py``: ``HttpPolicy`` and ``decide``, the pure decision whether to try again;
- ``options.py``: what a caller hands to a request (``RequestOptions``) and is told
  (``RetryEvent``);
- ``transport.py``: one attempt, its answer read whole, redirects, transport failures;
- ``client.py``: ``HttpClient``, the loop of attempts and waits;
- ``answers.py``: decoding JSON safely, ``Answer``, and errors for unsuccessful answers.
"""

from __future__ import annotations

__all__ = [
    "IDEMPOTENT_METHODS",
    "MAX_JSON_DEPTH",
    "NO_OPTIONS",
    "POST_NOT_APPLIED_STATUSES",
    "Answer",
    "Answered",
    "Decision",
    "HttpClient",
    "HttpPolicy",
    "NoAnswer",
    "NotJson",
    "Outcome",
    "RequestFields",
    "RequestOptions",
    "Retry",
    "RetryEvent",
    "RetryListener",
    "Scrubber",
    "Stop",
    "StopReason",
    "backoff_delay",
    "decide",
    "describe_field_errors",
    "error_for_response",
    "field_errors",
    "is_retryable",
    "json_body",
    "loads",
    "post_outcome_unknown",
    "raise_for_response",
    "repeatable",
    "retry_after_seconds",
]

from nexla_procurify.http.answers import (
    MAX_JSON_DEPTH,
    Answer,
    describe_field_errors,
    error_for_response,
    field_errors,
    json_body,
    loads,
    raise_for_response,
)
from nexla_procurify.http.client import NO_OPTIONS, HttpClient, retry_after_seconds
from nexla_procurify.http.options import (
    RequestFields,
    RequestOptions,
    RetryEvent,
    RetryListener,
    Scrubber,
)
from nexla_procurify.http.policy import (
    IDEMPOTENT_METHODS,
    POST_NOT_APPLIED_STATUSES,
    Answered,
    Decision,
    HttpPolicy,
    NoAnswer,
    NotJson,
    Outcome,
    Retry,
    Stop,
    StopReason,
    backoff_delay,
    decide,
    is_retryable,
    post_outcome_unknown,
    repeatable,
)
