"""What the downstream checks share (``.ci/downstream_dlt.py``, ``.ci/downstream_meltano.py``,
``.ci/downstream_target.sh``): a check that fails the run with a clear line, the purchase order
closed through the hooks between two runs, and the head of a Meltano project that declares
``tap-procurify`` (installed from this clone) as a custom plugin.

Imported by the Python checks (their folder is the first entry of ``sys.path``); the shell
check runs it with a Python of its own, which need not hold the connector:

    python3 .ci/downstream_common.py meltano-head PROJECT_ID ROOT CREDENTIAL_FILE SELECT

prints that head (through the extractor's ``select``) for the script to append its own plugins.
"""

from __future__ import annotations

__all__ = ["CLOSED", "Check", "checker", "close_purchase_order", "meltano_head", "read_credential"]

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

CLOSED = 3  # a purchase order's ``state`` once closed

Check = Callable[[bool, str], None]


def checker(name: str) -> Check:
    """``check(holds, failure)`` for the check ``name``: when ``holds`` is false, prints
    ``downstream NAME: FAILED: failure`` on standard error and exits with status 1."""

    def check(holds: bool, failure: str) -> None:
        if not holds:
            print(f"downstream {name}: FAILED: {failure}", file=sys.stderr)
            raise SystemExit(1)

    return check


def read_credential(path: str) -> dict[str, Any]:
    """The sandbox's credential file (``nexla-procurify sandbox --write-credential``)."""
    credential: dict[str, Any] = json.loads(Path(path).read_text())
    return credential


def close_purchase_order(credential: dict[str, Any], number: str, check: Check) -> None:
    """Close purchase order ``number`` (its ``procurify_PO``) through the hooks."""
    # Here, not at the top: the shell check runs this module with a Python without the connector.
    from nexla_procurify import plugin
    from nexla_procurify.host import Host

    host = Host(plugins=[plugin])
    with host.authenticate("procurify", credential) as session:
        results = list(
            host.write(
                "procurify",
                session,
                {"resource": "purchase_orders", "operation": "close"},
                [{"procurify_PO": number}],
            )
        )
    check(results[0].status == "updated", f"closing purchase order {number}: {results[0]}")


def meltano_head(
    project_id: str,
    root: Path | str,
    credential: Mapping[str, Any],
    select: str,
    settings: Sequence[str] = (),
) -> str:
    """A ``meltano.yml`` through its ``tap-procurify`` extractor: the environment ``dev``, no usage
    reports, the tap installed from ``root`` with the credential's base URL and client id (its
    secret belongs in the project's ``.env``), ``settings`` declared after the credential's
    (``{name: ..., kind: ...}``), streams selected by ``select``. The caller appends the rest of
    ``plugins`` (``mappers:``, ``loaders:``)."""
    declared = "".join(f"    - {setting}\n" for setting in settings)
    return f"""\
default_environment: dev
project_id: {project_id}
send_anonymous_usage_stats: false
environments:
- name: dev
plugins:
  extractors:
  - name: tap-procurify
    namespace: tap_procurify
    pip_url: {root}
    executable: tap-procurify
    capabilities: [catalog, discover, state, about]
    settings:
    - {{name: client_id}}
    - {{name: client_secret, sensitive: true}}
    - {{name: base_url}}
{declared}    config:
      base_url: {credential["base_url"]}
      client_id: {credential["client_id"]}
    select:
    - {select}
"""


def main(argv: list[str]) -> int:
    if len(argv) != 6 or argv[1] != "meltano-head":
        print(
            "usage: downstream_common.py meltano-head PROJECT_ID ROOT CREDENTIAL_FILE SELECT",
            file=sys.stderr,
        )
        return 2
    _, _, project_id, root, credential_file, select = argv
    print(meltano_head(project_id, root, read_credential(credential_file), select), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
