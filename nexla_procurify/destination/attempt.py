"""One record's attempt at being written, and how it ends.

An ``Attempt`` is made for each input record and handed to every step that may call Procurify
for it: every request of the record goes through it, so it knows whether a writing request was
sent, which decides what an unexpected error may claim ("it was not written" or "it may or may
not have been written"). A record's own problems end it as ``rejected`` (``RecordRejected``),
Procurify's errors as ``rejected`` or ``failed`` (``result_for_error``).
"""

from __future__ import annotations

__all__ = [
    "JSON_HEADERS",
    "Attempt",
    "RecordRejected",
    "encode",
    "is_refusal",
    "rejected_for_fields",
    "result_for_error",
]

import json
from collections.abc import Mapping

import requests

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.errors import ApiError, ProcurifyError
from nexla_procurify.http import Answer
from nexla_procurify.messages import WriteResult
from nexla_procurify.validation import FieldProblems, describe

JSON_HEADERS = {"Content-Type": "application/json"}


class Attempt:
    """One input record's way to Procurify (never shared between records or threads).

    ``send`` is the one way to make a writing request (POST, PUT, PATCH, DELETE) for the record:
    from its first call on, the record may have been written. ``read_json`` makes a reading
    request (a lookup), which writes nothing.
    """

    __slots__ = ("_session", "_wrote", "index")

    def __init__(self, index: int, session: ProcurifySession) -> None:
        self.index = index
        self._session = session
        self._wrote = False

    @property
    def wrote(self) -> bool:
        """Whether a writing request was sent (or began to be) for this record."""
        return self._wrote

    def send(self, method: str, path: str, body: object = None) -> requests.Response:
        """A writing request, with ``body`` (when given) sent as JSON; from here on the record
        may have been written, whatever happens next."""
        self._wrote = True
        if body is None:
            return self._session.request(method, path)
        return self._session.request(method, path, data=encode(body), headers=JSON_HEADERS)

    def read_json(self, path: str, params: Mapping[str, str | int]) -> Answer:
        """A ``GET`` and its answer's JSON body (``None`` when it is not JSON)."""
        return self._session.request_json("GET", path, params=dict(params))

    def unexpected(self, error: Exception) -> WriteResult:
        """The result of an error no step expected: honest about whether it was written."""
        outcome = "it may or may not have been written" if self._wrote else "it was not written"
        return WriteResult(
            self.index,
            "failed",
            error=f"Unexpected {type(error).__name__} while writing this record; "
            f"{outcome}. Please report this.",
        )


class RecordRejected(Exception):
    """The record cannot be written as given: local validation or Procurify refused it."""

    def __init__(self, message: str, details: Mapping[str, tuple[str, ...]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})

    def result(self, index: int) -> WriteResult:
        """The record's result: rejected, with this message and its details."""
        return WriteResult(index, "rejected", error=self.message, details=self.details)


def rejected_for_fields(problems: FieldProblems) -> RecordRejected:
    """A ``RecordRejected`` naming every field problem found in the record."""
    details = {name: tuple(messages) for name, messages in problems.items()}
    return RecordRejected(f"Invalid record: {describe(problems)}.", details)


def result_for_error(index: int, error: ProcurifyError) -> WriteResult:
    """The result of a record whose write raised ``error``: rejected when Procurify refused it,
    failed otherwise."""
    if isinstance(error, ApiError) and is_refusal(error.status):
        return WriteResult(index, "rejected", error=error.message, details=error.field_errors)
    return WriteResult(index, "failed", error=error.message)


def is_refusal(status: int) -> bool:
    """A 4xx that is about the record itself (not the credential, permission or address)."""
    return 400 <= status < 500 and status not in (401, 403, 404, 429)


def encode(body: object) -> bytes:
    """A request body as sent: UTF-8 JSON, refusing NaN and infinity."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
