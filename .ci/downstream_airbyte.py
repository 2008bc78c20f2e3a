"""Downstream check of the Airbyte source under PyAirbyte, run by ``.ci/downstream`` in a
virtual environment holding PyAirbyte (``pip install airbyte``) but not the connector, against a
sandbox already running:

    AIRBYTE_OFFLINE_MODE=1 python .ci/downstream_airbyte.py CREDENTIAL_FILE WORK_DIR BIN

``BIN`` is the ``bin`` folder of the connector's own virtual environment: PyAirbyte runs
``BIN/source-procurify`` as a local executable; ``BIN/nexla-procurify`` counts the records and
closes a purchase order between the reads. Read 1 of vendors and purchase orders into
PyAirbyte's DuckDB cache: each stream's rows = its records (distinct keys). Then one purchase
order is closed, and read 2 (a new source object, the same cache) continues from the state
PyAirbyte kept: purchase orders are read from their cursor (fewer records than read 1), the row
counts are unchanged (merged on the key), the closed one's row is updated. Exit status 0 when
every check holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import airbyte as ab

STREAMS = ["vendors", "purchase_orders"]
CLOSED = 3  # a purchase order's ``state`` once closed


def check(holds: bool, failure: str) -> None:
    if not holds:
        print(f"downstream airbyte: FAILED: {failure}", file=sys.stderr)
        raise SystemExit(1)


def expected_counts(cli: Path, credential: Path) -> dict[str, int]:
    """Distinct keys per stream, as ``nexla-procurify read`` reads them."""
    counts = {}
    for stream in STREAMS:
        out = subprocess.run(  # noqa: S603
            [str(cli), "read", stream, "--credential", str(credential)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        keys: list[str] = []
        seen = set()
        for line in out.splitlines():
            message = json.loads(line)
            if message["type"] == "SCHEMA":
                keys = message["key_properties"]
            elif message["type"] == "RECORD":
                seen.add(tuple(message["record"].get(k) for k in keys))
        counts[stream] = len(seen)
    return counts


def read(executable: Path, config: dict[str, Any], cache: Any) -> tuple[int, dict[str, Any]]:
    """One PyAirbyte read of the streams: records processed, and each stream's rows."""
    source = ab.get_source(
        "source-procurify", local_executable=str(executable), config=config, streams=STREAMS
    )
    source.check()
    result = source.read(cache=cache)
    return result.processed_records, {name: result[name].to_pandas() for name in STREAMS}


def close_one(cli: Path, credential: Path, orders: Any) -> str:
    """Close the first purchase order (by uuid) that is not closed; its uuid."""
    row = orders[orders["state"] != CLOSED].sort_values("uuid").iloc[0]
    number = row["procurify_po"]  # PyAirbyte's cache names columns in lower case
    number = number.item() if hasattr(number, "item") else number  # numpy to Python
    done = subprocess.run(  # noqa: S603
        [
            str(cli),
            "write",
            "purchase_orders",
            "--operation",
            "close",
            "--credential",
            str(credential),
        ],
        input=json.dumps({"procurify_PO": number}) + "\n",
        capture_output=True,
        text=True,
    )
    check(
        done.returncode == 0 and '"updated"' in done.stdout,
        f"closing purchase order {number}: {done.stdout} {done.stderr}",
    )
    return str(row["uuid"])


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: downstream_airbyte.py CREDENTIAL_FILE WORK_DIR BIN", file=sys.stderr)
        return 2
    credential, work, bin_dir = Path(argv[1]), Path(argv[2]), Path(argv[3])
    config = {
        key: value
        for key, value in json.loads(credential.read_text()).items()
        if key in ("client_id", "client_secret", "base_url")
    }
    executable, cli = bin_dir / "source-procurify", bin_dir / "nexla-procurify"
    expected = expected_counts(cli, credential)
    check(all(expected.values()), f"a stream reads no record: {expected}")
    cache = ab.new_local_cache("procurify", cache_dir=str(work / "cache"))

    processed_1, rows_1 = read(executable, config, cache)
    counts_1 = {name: len(rows) for name, rows in rows_1.items()}
    check(counts_1 == expected, f"rows {counts_1}, records {expected}")
    check(processed_1 == sum(expected.values()), f"{processed_1} records read, {expected}")
    print(
        f"downstream airbyte: read 1 of {', '.join(STREAMS)}: rows {counts_1} = the records "
        "read (PyAirbyte's DuckDB cache)"
    )

    closed = close_one(cli, credential, rows_1["purchase_orders"])
    processed_2, rows_2 = read(executable, config, cache)
    counts_2 = {name: len(rows) for name, rows in rows_2.items()}
    check(counts_2 == expected, f"rows after read 2 {counts_2}, records {expected}")
    orders_2 = processed_2 - expected["vendors"]  # vendors have no cursor: read in full
    check(
        0 < orders_2 < expected["purchase_orders"],
        f"purchase orders not read from the state: {orders_2} of {expected['purchase_orders']}",
    )
    orders = rows_2["purchase_orders"]
    state = orders[orders["uuid"] == closed]["state"].tolist()
    check(state == [CLOSED], f"the closed purchase order's row: state {state}")
    print(
        f"downstream airbyte: read 2 continued from PyAirbyte's state: {orders_2} of "
        f"{expected['purchase_orders']} purchase orders read, row counts unchanged, the closed "
        "one updated"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
