"""Reading Procurify's answers: JSON decoded safely (``loads``), the ``Answer`` of a request
that wanted JSON, and the mapping of unsuccessful answers to ``ProcurifyError``s.
"""

from __future__ import annotations

__all__ = [
    "MAX_JSON_DEPTH",
    "Answer",
    "describe_field_errors",
    "error_for_response",
    "field_errors",
    "json_body",
    "loads",
    "not_json",
    "raise_for_response",
]

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.utils import guess_json_utf

from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    PermissionDeniedError,
    ProcurifyError,
    RateLimitError,
    TransientError,
)

# Deeper JSON is refused: no Procurify answer comes near it, and recursive code downstream
# (ours, and a host's) must not meet it.
MAX_JSON_DEPTH = 100

# The depth of valid JSON text is measured on its brackets alone, at the speed of bytes
# methods: escapes and then strings are taken out (a bracket in a string does not nest).
_ESCAPED = re.compile(rb"\\.", re.DOTALL)
_STRINGS = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_TO_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")
_UTF8 = frozenset({"utf-8", "utf8", "utf_8"})


@dataclass(frozen=True)
class Answer:
    """The final answer to a request that wanted JSON, and its decoded ``body``: ``None``
    for an unsuccessful answer, and for a POST whose successful answer was not JSON (it took
    effect and must not be sent again)."""

    response: requests.Response
    body: Any

    @property
    def status(self) -> int:
        """The answer's HTTP status."""
        return self.response.status_code


def loads(response: requests.Response) -> Any:
    """The answer's body as JSON; ``ValueError`` (saying why, never quoting the body, and
    chained to nothing that holds it) when it is not valid JSON, not in its declared
    character set, or nested deeper than ``MAX_JSON_DEPTH``."""
    reason = _undecodable(response)
    if isinstance(reason, str):
        raise ValueError(reason)
    return reason[0]


def _undecodable(response: requests.Response) -> str | tuple[Any]:
    content = response.content
    guessed: str | None = guess_json_utf(content)  # type: ignore[no-untyped-call]
    encoding = response.encoding or guessed or "utf-8"
    try:
        text = content.decode(encoding)
    except LookupError:
        return f"an unknown character set ({encoding[:40]})"
    except UnicodeDecodeError:
        return f"not valid {encoding}"
    try:
        value = json.loads(text)
    except RecursionError:
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return "not valid JSON"
    # The answer's own bytes when they are UTF-8 (no copy of a large page), else re-encoded.
    utf8 = content if encoding.lower() in _UTF8 else text.encode("utf-8", "surrogatepass")
    if _deeper_than(utf8, MAX_JSON_DEPTH):
        return f"nested more than {MAX_JSON_DEPTH} levels deep"
    return (value,)


def _deeper_than(data: bytes, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels in ``data``, UTF-8 JSON that
    decodes.

    Outside its strings, valid JSON holds no backslash, and every backslash inside one starts
    a two-character escape: once those pairs are gone, strings run from one quote to the
    next. What is left of the brackets outside them is balanced, and each pass that removes
    every empty pair takes one level off, so ``limit`` passes empty it unless it is deeper.
    Every step runs over bytes in C: a page of records costs a few milliseconds, not a walk
    over every value (the JSON is decoded by the caller; only its depth is looked at here)."""
    if b"\\" in data:
        data = _ESCAPED.sub(b"", data)
    # Adjacent quotes close a string and open the next, or make an empty one: either way
    # no bracket moves in or out of a string when both go.
    kept = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in kept:
        kept = _STRINGS.sub(b"", kept)
    nesting = kept.translate(_TO_PARENTHESES)
    for _ in range(limit):
        if not nesting:
            return False
        nesting = nesting.replace(b"()", b"")
    return bool(nesting)


def field_errors(response: requests.Response) -> dict[str, tuple[str, ...]]:
    """Procurify's (Django REST framework) field messages, flattened to dotted paths."""
    try:
        body = loads(response)
    except ValueError:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    _flatten(body, "", found)
    return found


def _flatten(value: Any, prefix: str, found: dict[str, tuple[str, ...]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), found)
    elif isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        found[prefix or "non_field_errors"] = tuple(value)
    elif isinstance(value, list):
        for position, inner in enumerate(value):
            _flatten(inner, f"{prefix}.{position}" if prefix else str(position), found)
    elif isinstance(value, str):
        found[prefix or "detail"] = (value,)


def describe_field_errors(errors: Mapping[str, tuple[str, ...]]) -> str:
    """Field messages as one sentence: ``name: message; other: message``."""
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items())


def error_for_response(response: requests.Response, action: str) -> ProcurifyError:
    """The typed error for an unsuccessful answer; ``action`` says what was being done."""
    status = response.status_code
    details = field_errors(response)
    if status == 401:
        return AuthenticationError(
            f"Procurify refused the access token while trying to {action} (HTTP 401): check "
            "that the API application still exists and its Client Secret was not rotated."
        )
    if status == 403:
        return PermissionDeniedError(
            f"The API application is not allowed to {action} (HTTP 403): ask a Procurify "
            "administrator to grant it the needed permission."
        )
    if status == 429:
        return RateLimitError(
            f"Procurify kept asking to slow down while trying to {action} (HTTP 429): "
            "try again later or lower 'concurrency'."
        )
    if status >= 500:
        return TransientError(
            f"Procurify is unavailable: it answered HTTP {status} while trying to {action}. "
            "Nothing is wrong with the configuration: try again later."
        )
    if 300 <= status < 400:
        return ApiError(
            f"Procurify redirected the request to {action} to another address (HTTP "
            f"{status}): check that the Base URL is your company's Procurify address.",
            status=status,
        )
    if status == 404:
        return ApiError(
            f"Not found while trying to {action} (HTTP 404).", status=status, field_errors=details
        )
    summary = describe_field_errors(details)
    return ApiError(
        f"Procurify refused the request to {action} (HTTP {status})"
        + (f": {summary}" if summary else "."),
        status=status,
        field_errors=details,
    )


def raise_for_response(response: requests.Response, action: str) -> None:
    """Raise ``error_for_response`` for any answer that is not a success (2xx)."""
    if response.status_code >= 300:
        raise error_for_response(response, action)


def json_body(response: requests.Response, action: str) -> Any:
    """The decoded JSON body, or a ``TransientError`` that says the answer was not JSON."""
    try:
        return loads(response)
    except ValueError as error:
        reason = str(error)
    raise not_json(action, f"{reason}; HTTP {response.status_code}")


def not_json(what: str, detail: str) -> TransientError:
    """The error for an answer to ``what`` that was not usable JSON (``detail`` says how)."""
    return TransientError(
        f"Procurify's answer to {what} was not usable JSON ({detail}); try again later."
    )
