"""The one exception hierarchy: every error a user can meet is a ``ProcurifyError``.

Messages say what happened and what to do. They never contain a client secret or a token:
nothing secret is ever passed to these constructors on purpose, and where a message quotes
what a user gave (a key, a name, a path) that may be the secret misplaced, the code that
knows the secret masks it with ``masking`` (or ``masked`` for an iterator).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailedError",
    "CredentialError",
    "PermissionDeniedError",
    "ProcurifyError",
    "RateLimitError",
    "TransientError",
    "masked",
    "masking",
]

import contextlib
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Self, TypeVar

from nexla_procurify.secret import Secret, redact_text


class ProcurifyError(Exception):
    """Base of every error the connector raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def in_context(self, context: str) -> Self:
        """The same error (same type, same fields), its message prefixed with what was being
        done."""
        message = f"{context}: {self.message}"
        return _rebuilt(type(self), (message,), {**vars(self), "message": message})

    def mask(self, secrets: Sequence[Secret]) -> None:
        """Mask ``secrets`` in the message and every field (``CredentialError.errors``,
        ``ApiError.field_errors``), in place: the error goes on as it is, and no copy holding
        the words unmasked stays chained to it."""
        if secrets:
            for name, value in vars(self).items():
                setattr(self, name, _masked_value(value, secrets))
            self.args = _masked_value(self.args, secrets)

    def __reduce__(self) -> tuple[Any, ...]:
        # ``copy``, ``deepcopy`` and ``pickle`` rebuild an exception by calling its class with
        # ``args`` alone, which fails for subclasses with their own constructor arguments
        # (``ApiError(status=...)``): rebuild from the fields instead.
        return (_rebuilt, (type(self), self.args, dict(vars(self))))


def _rebuilt(kind: type[_E], args: tuple[Any, ...], fields: dict[str, Any]) -> _E:
    """An instance of ``kind`` holding ``args`` and ``fields``, without calling its
    constructor (whose arguments differ from one subclass to the next)."""
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(fields)
    return error


_E = TypeVar("_E", bound=ProcurifyError)
_T = TypeVar("_T")


def _masked_value(value: Any, secrets: Sequence[Secret]) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, tuple | list):
        return type(value)(_masked_value(each, secrets) for each in value)
    if isinstance(value, dict):
        return {
            _masked_value(key, secrets): _masked_value(each, secrets) for key, each in value.items()
        }
    return value


@contextlib.contextmanager
def masking(secrets: Iterable[Secret]) -> Iterator[None]:
    """Every ``ProcurifyError`` raised inside masks ``secrets`` before it goes on (and so do
    the ``ProcurifyError``s chained to it, which a traceback would show)."""
    hidden = tuple(secrets)
    try:
        yield
    except ProcurifyError as error:
        seen: set[int] = set()
        link: BaseException | None = error
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            if isinstance(link, ProcurifyError):
                link.mask(hidden)
            link = link.__cause__ or link.__context__
        raise


def masked(items: Iterable[_T], secrets: Iterable[Secret]) -> Generator[_T, None, None]:
    """``items``, each ``ProcurifyError`` raised while they are taken masking ``secrets``."""
    with masking(secrets):
        yield from items


class ConfigurationError(ProcurifyError):
    """A source or destination configuration (or a call) that cannot work as given."""


class CredentialError(ProcurifyError):
    """The credential failed validation; ``errors`` holds ``(field, message)`` pairs."""

    def __init__(self, errors: Sequence[tuple[str | None, str]]) -> None:
        self.errors = tuple(errors)
        lines = [f"{field}: {message}" if field else message for field, message in self.errors]
        super().__init__("Invalid Procurify credential. " + " ".join(lines))


class AuthenticationError(ProcurifyError):
    """Procurify refused the Client ID / Client Secret (not retried)."""


class PermissionDeniedError(ProcurifyError):
    """The API application is authenticated but not allowed to do this (HTTP 403)."""


class TransientError(ProcurifyError):
    """Procurify was unavailable (5xx, timeouts, dropped connections) until retries ran out:
    nothing is wrong with the request, and the same call may work later."""


class RateLimitError(TransientError):
    """Procurify kept answering 429 until the retry budget ran out.

    A ``TransientError`` (a caller that tries again later on one tries again on this too);
    a caller that must slow down rather than wait (the destination stops its run at the
    first one) tells it apart by its type."""


class ConnectionFailedError(TransientError):
    """No HTTP answer came at all.

    ``request_sent`` tells whether the request may have reached Procurify (a timeout or a
    connection dropped after sending) or surely did not (connection refused).
    """

    def __init__(self, message: str, *, request_sent: bool) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class ApiError(ProcurifyError):
    """Procurify answered with an error; ``field_errors`` holds its per-field messages."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        field_errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field_errors: dict[str, tuple[str, ...]] = {
            key: tuple(value) for key, value in (field_errors or {}).items()
        }
