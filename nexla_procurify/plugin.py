"""The ``procurify`` hook implementations: thin wiring of the modules that do the work.

What a hook hands back or raises never holds the session's client secret, even where a
configuration misplaces it (as a resource, a filter, a key): ``ProcurifyError`` messages and
``WriteResult`` errors are masked with it (``errors.masking``)."""

from __future__ import annotations

__all__ = [
    "CONNECTOR_TYPE",
    "authenticate",
    "connector_manifest",
    "read_source",
    "read_sources",
    "validate_credential",
    "write_destination",
]

import dataclasses
from collections.abc import Generator, Iterable, Iterator, Mapping
from typing import Any

from nexla_procurify import auth, destination, manifest, source
from nexla_procurify.credential import Secret, loopback_allowed, parse, redact_text, validate
from nexla_procurify.errors import ConfigurationError, masked, masking
from nexla_procurify.hookspecs import hookimpl
from nexla_procurify.messages import Checkpoint, Record, ValidationResult, WriteResult

CONNECTOR_TYPE = "procurify"


@hookimpl
def connector_manifest() -> dict[str, Any]:
    """Hook: the shipped ``connector.json``."""
    return manifest.connector_manifest()


@hookimpl
def validate_credential(
    connector_type: str, credential: dict[str, Any], live: bool
) -> ValidationResult | None:
    """Hook: check a Procurify credential, and when ``live`` that Procurify accepts it
    (``None`` for another connector type)."""
    if connector_type != CONNECTOR_TYPE:
        return None
    result = validate(credential, allow_loopback=loopback_allowed())
    if not result.ok or not live:
        return result
    return auth.check_connection(parse(credential, allow_loopback=loopback_allowed()))


@hookimpl
def authenticate(connector_type: str, credential: dict[str, Any]) -> auth.ProcurifySession | None:
    """Hook: a session with Procurify for a credential (``None`` for another connector type)."""
    if connector_type != CONNECTOR_TYPE:
        return None
    return auth.ProcurifySession(parse(credential, allow_loopback=loopback_allowed()))


@hookimpl
def read_source(
    connector_type: str,
    session: auth.ProcurifySession,
    config: dict[str, Any],
    state: Mapping[str, Any] | None,
) -> Iterator[Record | Checkpoint] | None:
    """Hook: read a source: records and checkpoints (``None`` for another connector type)."""
    if connector_type != CONNECTOR_TYPE:
        return None
    secrets = _secrets(session)
    with masking(secrets):
        return masked(source.read(_session(session), config, state), secrets)


@hookimpl
def read_sources(
    connector_type: str,
    session: auth.ProcurifySession,
    configs: Mapping[str, Mapping[str, Any]],
    state: Mapping[str, Any] | None,
) -> Iterator[Record | Checkpoint] | None:
    """Hook: read several sources side by side in one request budget: records named after
    their stream and checkpoints of every stream's state (``None`` for another connector
    type)."""
    if connector_type != CONNECTOR_TYPE:
        return None
    secrets = _secrets(session)
    with masking(secrets):
        streams = source.read_streams(_session(session), _stream_configs(configs), state)
        return masked(streams, secrets)


@hookimpl
def write_destination(
    connector_type: str,
    session: auth.ProcurifySession,
    config: dict[str, Any],
    records: Iterable[dict[str, Any]],
) -> Iterator[WriteResult] | None:
    """Hook: write records to a destination: one result per record, in input order (``None`` for
    another connector type)."""
    if connector_type != CONNECTOR_TYPE:
        return None
    secrets = _secrets(session)
    with masking(secrets):
        results = destination.write(_session(session), config, records)
    return _masked_results(results, secrets)


def _session(session: object) -> auth.ProcurifySession:
    """``session`` when it is one ``authenticate`` gave, else a ``ConfigurationError``."""
    if isinstance(session, auth.ProcurifySession):
        return session
    raise ConfigurationError(
        f"'session' must be the session the authenticate hook gave, not {type(session).__name__}."
    )


def _stream_configs(configs: object) -> Mapping[str, Mapping[str, Any]]:
    """``configs`` when it maps stream names (text) to configurations, else a
    ``ConfigurationError`` (each stream's configuration is checked by the read)."""
    if not isinstance(configs, Mapping):
        raise ConfigurationError(
            "'configs' must be an object of stream names and their source configurations, "
            f"not {type(configs).__name__}."
        )
    names = sorted({type(name).__name__ for name in configs if not isinstance(name, str)})
    if names:
        raise ConfigurationError(f"Stream names in 'configs' must be text, not {', '.join(names)}.")
    return configs


def _secrets(session: object) -> tuple[Secret, ...]:
    """The session's secret (none for what is not a session: the call then says so)."""
    secret = getattr(getattr(session, "credential", None), "client_secret", None)
    return (secret,) if isinstance(secret, Secret) else ()


def _masked_results(
    results: Iterator[WriteResult], secrets: tuple[Secret, ...]
) -> Generator[WriteResult, None, None]:
    taken = masked(results, secrets)
    try:
        for result in taken:
            if result.error is None and not result.details:
                yield result
                continue
            yield dataclasses.replace(
                result,
                error=None if result.error is None else redact_text(result.error, secrets),
                details={
                    redact_text(name, secrets): tuple(redact_text(each, secrets) for each in said)
                    for name, said in result.details.items()
                },
            )
    finally:
        taken.close()  # and with it the write run, when the host stops early
