"""Downstream check of the Singer tap under Meltano, run by ``.ci/downstream`` with the
connector's own virtual environment, against a sandbox and a PostgreSQL server already running:

    python .ci/downstream_meltano.py CREDENTIAL_FILE PROJECT_DIR MELTANO PSQL

(``MELTANO`` and ``PSQL`` are the executables; the server is named by the ``PGHOST``, ``PGPORT``,
``PGUSER``, ``PGPASSWORD`` and ``PGDATABASE`` environment variables.)

A Meltano project declares ``tap-procurify`` (installed from this clone) and
``meltanolabs-target-postgres`` as custom plugins (no Meltano Hub), every stream selected.
``meltano invoke tap-procurify`` counts the records (distinct keys per stream). Run 1
(``meltano run tap-procurify target-postgres``) loads every stream the tap discovers into its
own table, whose primary key constraint is the stream's key properties and whose row count is
its record count; Meltano's state backend then holds a bookmark for every stream, with a cursor
for the incremental ones. One purchase order is closed through the hooks; run 2 leaves every
row count unchanged, re-reads purchase orders from their cursor only (fewer rows touched than
run 1) and updates the closed one's row. Exit status 0 when every check holds.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from downstream_common import CLOSED, checker, close_purchase_order, meltano_head, read_credential

SCHEMA = "procurify"  # the target's schema in the database
STATE_ID = "dev:tap-procurify-to-target-postgres"

check = checker("meltano-tap")


def meltano_yml(root: Path, credential: dict[str, Any]) -> str:
    env = os.environ
    head = meltano_head(
        "procurify-downstream-tap",
        root,
        credential,
        "'*.*'",
        settings=["{name: concurrency, kind: integer}"],
    )
    return f"""{head}\
  loaders:
  - name: target-postgres
    namespace: target_postgres
    pip_url: meltanolabs-target-postgres
    executable: target-postgres
    settings:
    - {{name: host}}
    - {{name: port, kind: integer}}
    - {{name: user}}
    - {{name: password, sensitive: true}}
    - {{name: database}}
    - {{name: default_target_schema}}
    - {{name: load_method}}
    - {{name: add_record_metadata, kind: boolean}}
    config:
      host: {env["PGHOST"]}
      port: {env["PGPORT"]}
      user: {env["PGUSER"]}
      database: {env["PGDATABASE"]}
      default_target_schema: {SCHEMA}
      load_method: upsert
      add_record_metadata: true
"""


def meltano(project: Path, executable: str, *args: str, log: str) -> str:
    """Runs ``meltano ARGS`` in the project; its standard output (its log in ``log``)."""
    with (project / log).open("w") as errors:
        done = subprocess.run(  # noqa: S603
            [executable, *args], cwd=project, stdout=subprocess.PIPE, stderr=errors, text=True
        )
    if done.returncode:
        print((project / log).read_text()[-6000:], file=sys.stderr)
        check(False, f"meltano {' '.join(args)} exited {done.returncode} (log above)")
    return done.stdout


def sql(psql: str, query: str, **variables: object) -> list[list[str]]:
    """Rows of a query, through psql (unaligned, tab-separated). The query names each variable
    as psql quotes it: ``:'name'`` a literal, ``:"name"`` an identifier."""
    options = [f"--variable={name}={value}" for name, value in variables.items()]
    done = subprocess.run(  # noqa: S603
        [psql, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", *options],
        input=query,
        capture_output=True,
        text=True,
    )
    check(done.returncode == 0, f"psql: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines()]


def records(output: str) -> tuple[dict[str, list[str]], dict[str, int], dict[str, int]]:
    """Key properties, record count and distinct keys per stream of a tap's output."""
    keys: dict[str, list[str]] = {}
    count: collections.Counter[str] = collections.Counter()
    seen: dict[str, set[tuple[Any, ...]]] = collections.defaultdict(set)
    for line in output.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            keys[message["stream"]] = list(message["key_properties"])
        elif message["type"] == "RECORD":
            stream = message["stream"]
            count[stream] += 1
            seen[stream].add(tuple(message["record"].get(k) for k in keys[stream]))
    return keys, dict(count), {stream: len(values) for stream, values in seen.items()}


def tables(psql: str) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Row count and primary key columns of every table of the schema."""
    names = [
        row[0]
        for row in sql(
            psql,
            "select table_name from information_schema.tables "
            "where table_schema = :'schema' and table_type = 'BASE TABLE'",
            schema=SCHEMA,
        )
    ]
    counts = {
        name: int(
            sql(psql, 'select count(*) from :"schema".:"table"', schema=SCHEMA, table=name)[0][0]
        )
        for name in names
    }
    primary: dict[str, list[str]] = {}
    for table, column in sql(
        psql,
        "select tc.table_name, k.column_name from information_schema.table_constraints tc "
        "join information_schema.key_column_usage k on k.constraint_schema = tc.constraint_schema "
        "and k.constraint_name = tc.constraint_name "
        "where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = :'schema' "
        "order by tc.table_name, k.ordinal_position",
        schema=SCHEMA,
    ):
        primary.setdefault(table, []).append(column)
    return counts, primary


def touched_since(psql: str, table: str, mark: str) -> int:
    """Rows of a table the target wrote after ``mark`` (a timestamp from the database)."""
    query = 'select count(*) from :"schema".:"table" where _sdc_batched_at > :\'mark\''
    return int(sql(psql, query, schema=SCHEMA, table=table, mark=mark)[0][0])


def close_one_purchase_order(credential: dict[str, Any], psql: str) -> str:
    """Close the first purchase order loaded that is not closed; its uuid."""
    uuid, number = sql(
        psql,
        'select uuid, "procurify_PO" from :"schema".purchase_orders '
        "where state <> :closed order by uuid limit 1",
        schema=SCHEMA,
        closed=CLOSED,
    )[0]
    close_purchase_order(credential, number, check)
    return uuid


def stored_state(project: Path, executable: str) -> dict[str, Any]:
    out = meltano(project, executable, "state", "get", STATE_ID, log="state.log")
    state: dict[str, Any] = json.loads(out[out.index("{") :])
    return state


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(
            "usage: downstream_meltano.py CREDENTIAL_FILE PROJECT_DIR MELTANO PSQL", file=sys.stderr
        )
        return 2
    credential = read_credential(argv[1])
    project, executable, psql = Path(argv[2]), argv[3], argv[4]
    root = Path(__file__).resolve().parent.parent
    project.mkdir(parents=True, exist_ok=True)
    (project / "meltano.yml").write_text(meltano_yml(root, credential))
    # Secrets in the project's .env, where Meltano keeps them (never in meltano.yml).
    env_file = project / ".env"
    env_file.touch(mode=0o600)
    env_file.write_text(
        f"TAP_PROCURIFY_CLIENT_SECRET={credential['client_secret']}\n"
        f"TARGET_POSTGRES_PASSWORD={os.environ['PGPASSWORD']}\n"
    )
    meltano(project, executable, "install", log="install.log")

    catalog = json.loads(
        meltano(project, executable, "invoke", "tap-procurify", "--discover", log="discover.log")
    )
    discovered = sorted(stream["tap_stream_id"] for stream in catalog["streams"])
    keys, count, distinct = records(
        meltano(project, executable, "invoke", "tap-procurify", log="invoke.log")
    )
    check(sorted(keys) == discovered, f"streams read {sorted(keys)}, discovered {discovered}")
    check(all(distinct.get(s) for s in discovered), f"a stream read no record: {distinct}")

    meltano(project, executable, "run", "tap-procurify", "target-postgres", log="run-1.log")
    counts, primary = tables(psql)
    for stream in discovered:
        check(
            counts.get(stream) == distinct[stream],
            f"{stream}: {counts.get(stream)} rows, {distinct[stream]} records",
        )
        check(
            primary.get(stream) == keys[stream],
            f"{stream}: primary key {primary.get(stream)}, key properties {keys[stream]}",
        )
    state = stored_state(project, executable)
    bookmarks = state.get("singer_state", {}).get("bookmarks", {})
    check(sorted(bookmarks) == discovered, f"Meltano's state has bookmarks for {sorted(bookmarks)}")
    cursor = bookmarks["purchase_orders"].get("cursor")
    check(
        bool(cursor),
        f"no purchase orders cursor in Meltano's state: {bookmarks['purchase_orders']}",
    )
    print(
        f"downstream meltano-tap: run 1 loaded {len(discovered)} streams into PostgreSQL, "
        f"{sum(counts.values())} rows (each table's rows = its records, {sum(count.values())} "
        "read; primary key = key properties); Meltano's state holds every bookmark"
    )

    closed = close_one_purchase_order(credential, psql)
    latest = 'select max(_sdc_batched_at) from :"schema".purchase_orders'
    mark = sql(psql, latest, schema=SCHEMA)[0][0]
    meltano(project, executable, "run", "tap-procurify", "target-postgres", log="run-2.log")
    counts_2, _ = tables(psql)
    check(counts_2 == counts, f"row counts changed in run 2: {counts} then {counts_2}")
    reread = touched_since(psql, "purchase_orders", mark)
    check(
        0 < reread < counts["purchase_orders"],
        f"purchase orders not read incrementally: {reread} of {counts['purchase_orders']} rows "
        "re-read",
    )
    query = "select state from :\"schema\".purchase_orders where uuid = :'uuid'"
    state_2 = sql(psql, query, schema=SCHEMA, uuid=closed)[0][0]
    check(
        int(state_2) == CLOSED, f"the closed purchase order's row was not updated (state {state_2})"
    )
    after = stored_state(project, executable)["singer_state"]["bookmarks"]
    check(sorted(after) == discovered, f"Meltano's state after run 2: {sorted(after)}")
    print(
        f"downstream meltano-tap: run 2 merged: row counts unchanged, purchase orders read "
        f"from Meltano's state ({reread} of {counts['purchase_orders']} rows re-read, the closed "
        "one updated, not duplicated)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
