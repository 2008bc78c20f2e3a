"""What the schema generators share: reading the repository's JSON, the files' JSON style, and
bringing a folder of generated schemas up to date (or saying what is stale)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def load(relative: str) -> Any:
    return json.loads((REPO / relative).read_text(encoding="utf-8"))


def render(schema: Any) -> str:
    """The text a schema file holds (the repository's JSON style)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def sync(generated: Mapping[str, Any], folder: str, *, check: bool) -> int:
    """Write ``generated`` (relative path -> schema) and remove the other files of ``folder``;
    with ``check``, only report them. Returns the exit status: 1 when ``check`` found any."""
    stale = [
        relative
        for relative, schema in sorted(generated.items())
        if not (REPO / relative).is_file()
        or (REPO / relative).read_text(encoding="utf-8") != render(schema)
    ]
    orphans = sorted(
        path.relative_to(REPO).as_posix()
        for path in (REPO / folder).glob("*.json")
        if path.relative_to(REPO).as_posix() not in generated
    )
    for relative in stale:
        print(("stale: " if check else "wrote: ") + relative)
        if not check:
            (REPO / relative).write_text(render(generated[relative]), encoding="utf-8")
    for relative in orphans:
        print(("not generated: " if check else "removed: ") + relative)
        if not check:
            (REPO / relative).unlink()
    return 1 if check and (stale or orphans) else 0
