"""The dlt source: ``procurify_source(credential, resources=[...])``, one ``dlt.resource`` per
Procurify resource, merged on its primary key, read incrementally from state kept in dlt's
resource state, its columns declared from the flattened stream schemas (optional extra
``dlt``: ``pip install 'nexla-procurify[dlt]'``).

    import dlt
    from nexla_procurify.dlt import procurify_source

    pipeline = dlt.pipeline("procurify", destination="duckdb", dataset_name="procurify")
    pipeline.run(procurify_source(credential, resources=["vendors", "bills"]))

The credential is the dict the hooks take (``credential.schema.json``); left out, dlt reads
it from its secrets (``[sources.procurify.credential]`` in ``.dlt/secrets.toml``, or the
environment variable ``SOURCES__PROCURIFY__CREDENTIAL`` holding its JSON).
"""

from __future__ import annotations

__all__ = ["procurify_source"]

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from nexla_procurify.dlt_reading import ResourcePlan, checked_plan, read_records

try:
    import dlt
except ImportError:  # pragma: no cover - the message is the behaviour
    raise ImportError("nexla_procurify.dlt needs dlt: pip install 'nexla-procurify[dlt]'") from None


def _procurify_source(
    credential: dict[str, Any] = dlt.secrets.value,
    resources: Sequence[str] | None = None,
    settings: dict[str, Any] | None = None,
    resource_settings: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """One ``dlt.resource`` per resource in ``resources`` (default: every readable one).

    ``settings`` go to every resource's read (``page_size``, ``start_date``, ``concurrency``),
    ``resource_settings`` by name to one resource's (``{"purchase_orders": {"role":
    "receivable"}}``). The credential and every setting are checked before any request: every
    problem comes at once in one ``CredentialError`` or ``ConfigurationError``."""
    plans = checked_plan(credential, resources, settings, resource_settings)
    return [_resource(credential, each) for each in plans]


# Decorated by a call: without dlt installed, mypy sees dlt as untyped.
procurify_source = dlt.source(
    _procurify_source, name="procurify", section="procurify", max_table_nesting=0
)


def _resource(credential: Mapping[str, Any], each: ResourcePlan) -> Any:
    columns = {name: dict(hint) for name, hint in each.columns.items()}
    if each.cursor in columns:
        # A record a read emits twice (edited while read): the newest one is kept.
        columns[each.cursor]["dedup_sort"] = "desc"

    def records() -> Iterator[dict[str, Any]]:
        state = dlt.current.resource_state(each.name)
        yield from read_records(credential, each.config, state)

    return dlt.resource(
        records,
        name=each.name,
        table_name=each.name,
        primary_key=list(each.primary_key),
        write_disposition="merge",
        columns=columns,
    )
