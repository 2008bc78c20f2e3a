"""Downstream check of the dlt source, run by ``.ci/downstream`` in a virtual environment
holding ``nexla-procurify[dlt]`` and duckdb, against a sandbox already running:

    python .ci/downstream_dlt.py CREDENTIAL_FILE WORK_DIR

Run 1 loads every readable resource into DuckDB: each table has one row per record the
connector reads (distinct keys) and a column for every property of the flattened schema (all
null ones included), and each incremental resource saved its cursor in dlt's resource state.
Then one purchase order is closed through the hooks, and run 2 starts from an empty pipelines
directory (so dlt restores its state from the destination): every table keeps its row count
(merged on the primary key), purchase orders are read incrementally (fewer rows than run 1,
the closed one among them) and the closed one's row shows its new state. The client secret is
nowhere in the pipelines directories nor in the database. Exit status 0 when every check holds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dlt
import duckdb
from downstream_common import CLOSED, checker, close_purchase_order, read_credential

from nexla_procurify import plugin
from nexla_procurify.dlt import procurify_source
from nexla_procurify.dlt_reading import STATE_KEY, plan
from nexla_procurify.host import Host
from nexla_procurify.messages import Record

DATASET = "procurify"
check = checker("dlt")


def expected_counts(credential: dict[str, Any], names: list[str]) -> dict[str, int]:
    """Distinct keys per resource, as the connector itself reads them."""
    host = Host(plugins=[plugin])
    counts = {}
    with host.authenticate("procurify", credential) as session:
        for each in plan(names):
            keys = {
                tuple(message.record.get(k) for k in each.primary_key)
                for message in host.read("procurify", session, dict(each.config), None)
                if isinstance(message, Record)
            }
            counts[each.name] = len(keys)
    return counts


def pipeline(db: Path, pipelines: Path) -> Any:
    return dlt.pipeline(
        "procurify_downstream",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name=DATASET,
        pipelines_dir=str(pipelines),
    )


def run(credential: dict[str, Any], db: Path, pipelines: Path) -> tuple[Any, dict[str, int]]:
    """A pipeline run of every resource, and the rows it extracted per table."""
    loading = pipeline(db, pipelines)
    loading.run(procurify_source(credential)).raise_on_failed_jobs()
    return loading, dict(loading.last_trace.last_normalize_info.row_counts)


def tables(db: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Row counts and column names of every table of the dataset."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [DATASET]
            ).fetchall()
        ]
        # Table names from DuckDB's own catalog, not from any input.
        counts = {
            name: con.execute(f'select count(*) from {DATASET}."{name}"').fetchone()[0]  # noqa: S608
            for name in names
        }
        columns: dict[str, set[str]] = {name: set() for name in names}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns where table_schema = ?",
            [DATASET],
        ).fetchall():
            columns[table].add(column)
    return counts, columns


def close_one_purchase_order(credential: dict[str, Any], db: Path) -> str:
    """Close the first purchase order loaded; its uuid."""
    with duckdb.connect(str(db), read_only=True) as con:
        uuid, number = con.execute(
            "select uuid, procurify_po from procurify.purchase_orders "
            "where state <> ? order by uuid limit 1",
            [CLOSED],
        ).fetchone()
    close_purchase_order(credential, number, check)
    return str(uuid)


def secret_nowhere(secret: str, places: list[Path]) -> None:
    needle = secret.encode()
    for place in places:
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
        for file in files:
            check(needle not in file.read_bytes(), f"the client secret is in {file}")


def incremental_cursors(loading: Any, names: list[str]) -> dict[str, Any]:
    resources: Mapping[str, Any] = loading.state["sources"]["procurify"]["resources"]
    return {name: resources.get(name, {}).get(STATE_KEY, {}).get("cursor") for name in names}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: downstream_dlt.py CREDENTIAL_FILE WORK_DIR", file=sys.stderr)
        return 2
    os.environ.setdefault("NEXLA_PROCURIFY_ALLOW_LOOPBACK", "1")
    credential = read_credential(argv[1])
    work = Path(argv[2])
    db = work / "downstream.duckdb"  # not the dataset's name (DuckDB would find both)
    plans = plan(None)
    names = [each.name for each in plans]
    incremental = [each.name for each in plans if each.cursor]
    expected = expected_counts(credential, names)
    check(all(expected.values()), f"a resource reads no record: {expected}")

    first, rows_1 = run(credential, db, work / "pipelines-1")
    counts, columns = tables(db)
    for each in plans:
        check(
            counts.get(each.name) == expected[each.name],
            f"{each.name}: {counts.get(each.name)} rows, {expected[each.name]} records",
        )
        naming = first.default_schema.naming
        wanted = {naming.normalize_identifier(name) for name in each.columns}
        lost = sorted(wanted - columns[each.name])
        check(not lost, f"{each.name}: columns lost: {lost}")
    cursors = incremental_cursors(first, incremental)
    check(all(cursors.values()), f"an incremental resource saved no cursor: {cursors}")
    print(
        f"downstream dlt: run 1 loaded {len(names)} tables, {sum(counts.values())} rows "
        f"(each table's rows = the records read, every declared column present)"
    )

    closed = close_one_purchase_order(credential, db)
    _, rows_2 = run(credential, db, work / "pipelines-2")
    # A fresh pipelines directory: an incremental read below proves the state came from DuckDB.
    counts_2, _ = tables(db)
    for name in names:
        check(
            counts_2[name] == expected[name],
            f"{name} after run 2: {counts_2[name]} rows, {expected[name]} records",
        )
    check(
        0 < rows_2.get("purchase_orders", 0) < rows_1["purchase_orders"],
        f"purchase orders not read incrementally: run 1 {rows_1['purchase_orders']} rows, "
        f"run 2 {rows_2.get('purchase_orders', 0)}",
    )
    with duckdb.connect(str(db), read_only=True) as con:
        state = con.execute(
            "select state from procurify.purchase_orders where uuid = ?", [closed]
        ).fetchone()[0]
    check(state == CLOSED, f"the closed purchase order's row was not merged (state {state})")
    secret_nowhere(credential["client_secret"], [work / "pipelines-1", work / "pipelines-2", db])
    print(
        f"downstream dlt: run 2 merged: purchase orders read incrementally "
        f"({rows_2['purchase_orders']} of {rows_1['purchase_orders']} rows, the closed one "
        f"updated), every table's row count unchanged, state restored from DuckDB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
