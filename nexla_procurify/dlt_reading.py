"""What the dlt source reads, without dlt: the plan of each selected resource (its table's
primary key, column hints and read configuration, every problem found at once) and the
records of one resource read through the hooks, its state kept in a mapping that dlt persists
(the resource's ``dlt.current.resource_state()``).

State: the last ``Checkpoint``'s value (``ReadState.to_dict``) under :data:`STATE_KEY`,
replaced after each page's records, so that the state dlt commits with a load is the state
that follows the records in it. dlt commits state only with a completed load: a run that
fails starts again from the last committed state, and the merge on the primary key absorbs
the records read twice.
"""

from __future__ import annotations

__all__ = ["STATE_KEY", "ResourcePlan", "checked_plan", "plan", "read_records"]

from collections.abc import Generator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from nexla_procurify import plugin, source
from nexla_procurify.credential import loopback_allowed, parse
from nexla_procurify.dlt_columns import column_hints
from nexla_procurify.errors import ConfigurationError, masking
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.resources import catalogue
from nexla_procurify.secret import secrets_in

# Where a resource's read state lives in its dlt resource state.
STATE_KEY = "procurify_state"


@dataclass(frozen=True)
class ResourcePlan:
    """One resource as a dlt resource: its table ``name``, ``primary_key``, ``columns`` hints,
    the ``cursor`` field of an incremental resource (``None``: read in full each run), and the
    source ``config`` its reads take."""

    name: str
    primary_key: tuple[str, ...]
    columns: Mapping[str, Mapping[str, Any]]
    cursor: str | None
    config: Mapping[str, Any]


def checked_plan(
    credential: object,
    resources: Sequence[str] | None,
    settings: Mapping[str, Any] | None = None,
    resource_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[ResourcePlan, ...]:
    """The credential checked (every field problem in one ``CredentialError``), then the
    ``plan`` of the resources; neither error quotes the credential's secret, wherever the
    settings misplace it (as a resource's name, a filter's)."""
    with masking(secrets_in(credential)):
        parse(credential, allow_loopback=loopback_allowed())
        return plan(resources, settings, resource_settings)


def plan(
    resources: Sequence[str] | None,
    settings: Mapping[str, Any] | None = None,
    resource_settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[ResourcePlan, ...]:
    """The plans of ``resources`` (default: every readable resource), in the given order.

    ``settings`` go to every resource's read (``page_size``, ``start_date``, ``concurrency``);
    ``resource_settings`` by resource name to that resource's only (purchase orders' ``role``,
    ``filters``). Every problem (unknown or repeated resources, settings a read refuses) is
    reported at once in one ``ConfigurationError``, before any request."""
    _check_types(resources, settings, resource_settings)
    readable = catalogue().names("source")
    names = list(readable if resources is None else resources)
    problems: list[str] = []
    unknown = [str(name) for name in names if name not in readable]
    if unknown:
        problems.append(
            f"Unknown source resource(s) {', '.join(map(repr, unknown))}; choose "
            f"from: {', '.join(readable)}."
        )
    repeated = sorted({str(name) for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"Resource(s) named more than once: {', '.join(repeated)}.")
    if not names and not problems:
        problems.append("No resource selected: name at least one.")
    common = dict(settings or {})
    if "resource" in common:
        problems.append("'settings' must not name a 'resource': choose them with 'resources'.")
        common.pop("resource")
    own = dict(resource_settings or {})
    stray = sorted(str(name) for name in own if name not in names)
    if stray:
        problems.append(f"'resource_settings' names resource(s) not selected: {', '.join(stray)}.")
    plans: list[ResourcePlan] = []
    for name in dict.fromkeys(name for name in names if name in readable):
        extra = own.get(name) or {}
        if not isinstance(extra, Mapping):
            problems.append(f"{name}: its resource settings must be an object.")
            continue
        config = {**common, **extra, "resource": name}
        try:
            source.parse_config(config)
        except ConfigurationError as error:
            problems.append(f"{name}: {error.message}")
            continue
        plans.append(_plan(name, config))
    if problems:
        raise ConfigurationError(" ".join(problems))
    return tuple(plans)


def _check_types(resources: object, settings: object, resource_settings: object) -> None:
    """A ``ConfigurationError`` naming each argument of ``plan`` that has the wrong type (a
    caller's mistake said in words, not a ``TypeError`` from deep inside)."""
    problems = []
    if isinstance(resources, str):
        problems.append("'resources' must be a list of resource names, not one string.")
    elif resources is not None and not isinstance(resources, list | tuple):
        problems.append(
            "'resources' must be a list of resource names, such as [\"vendors\"], "
            f"not {_kind(resources)}."
        )
    elif resources is not None and not all(isinstance(name, str) for name in resources):
        problems.append("'resources' must hold resource names (text), such as [\"vendors\"].")
    if settings is not None and not isinstance(settings, Mapping):
        problems.append(
            "'settings' must be an object of read settings, such as {\"page_size\": 100}, "
            f"not {_kind(settings)}."
        )
    if resource_settings is not None and not isinstance(resource_settings, Mapping):
        problems.append(
            "'resource_settings' must be an object, resource name -> its settings, such as "
            f'{{"purchase_orders": {{"role": "receivable"}}}}, not {_kind(resource_settings)}.'
        )
    if problems:
        raise ConfigurationError(" ".join(problems))


def _kind(value: object) -> str:
    return type(value).__name__


def _plan(name: str, config: Mapping[str, Any]) -> ResourcePlan:
    resource = catalogue().resources[name]
    schema = source.schema_message(resource).schema
    return ResourcePlan(
        name=name,
        primary_key=resource.key,
        columns=MappingProxyType(
            {
                name: MappingProxyType(hint)
                for name, hint in column_hints(schema, resource.key).items()
            }
        ),
        cursor=resource.incremental.cursor_field if resource.incremental else None,
        config=MappingProxyType(dict(config)),
    )


def read_records(
    credential: Mapping[str, Any],
    config: Mapping[str, Any],
    state: MutableMapping[str, Any],
) -> Generator[dict[str, Any], None, None]:
    """The records of one read through the ``procurify`` hooks, from the read state saved in
    ``state`` (:data:`STATE_KEY`), which each checkpoint replaces (see the module docstring).
    The session is opened when the first record is asked for and closed when the read ends."""
    parse(credential, allow_loopback=loopback_allowed())  # every field problem, at once
    session = plugin.authenticate(connector_type=plugin.CONNECTOR_TYPE, credential=dict(credential))
    assert session is not None
    messages = plugin.read_source(
        connector_type=plugin.CONNECTOR_TYPE,
        session=session,
        config=dict(config),
        state=state.get(STATE_KEY),
    )
    assert messages is not None
    with session:
        try:
            for message in messages:
                if isinstance(message, Record):
                    yield dict(message.record)
                elif isinstance(message, Checkpoint):
                    state[STATE_KEY] = dict(message.value)
        finally:
            # When dlt closes this generator early, the read is closed in turn (its prefetching
            # stops) before the session.
            close = getattr(messages, "close", None)
            if callable(close):
                close()
