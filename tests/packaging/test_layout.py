"""The README's table of how the code is laid out is the code's: it names every module of the
package once, and a module imports only from its own row and the rows above it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from shared import REPO

PACKAGE = REPO / "nexla_procurify"
HEADING = "### How the code is laid out"
NAMED_PACKAGE = re.compile(r"`(\w+)/`(?::((?:\s*`\w+\.py`,?)*))?")
NAMED_MODULE = re.compile(r"`(\w+)\.py`")


def layers() -> dict[str, int]:
    """Each module the README's table names (dotted, under the package), and its row."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith(("| layer", "| ---")):
            rows.append(line.split(" | ")[1])
    found: dict[str, int] = {}
    for row, modules in enumerate(rows):
        rest = modules
        for match in NAMED_PACKAGE.finditer(modules):
            package, members = match.group(1), match.group(2) or ""
            found[package] = row
            for member in NAMED_MODULE.findall(members):
                found[f"{package}.{member}"] = row
            rest = rest.replace(match.group(0), "")
        for module in NAMED_MODULE.findall(rest):
            found[module] = row
    return found


def modules() -> dict[str, Path]:
    """Every module of the package, dotted under the package (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            found[".".join(parts)] = path
    return found


def imported(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, dotted under the package, wherever the
    import is written (a function's lazy import counts too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "nexla_procurify":
                names.update(alias.name for alias in node.names)
            elif node.module.startswith("nexla_procurify."):
                names.add(node.module.removeprefix("nexla_procurify."))
        elif isinstance(node, ast.Import):
            names.update(
                alias.name.removeprefix("nexla_procurify.")
                for alias in node.names
                if alias.name.startswith("nexla_procurify.")
            )
    return names


def row_of(name: str, table: dict[str, int]) -> int | None:
    while name and name not in table:
        name = name.rpartition(".")[0]
    return table.get(name)


def test_the_table_names_every_module_once_and_no_other() -> None:
    table = layers()
    assert set(table) == set(modules()), (
        f"not in the README's table: {sorted(set(modules()) - set(table))}; "
        f"in it but not in the package: {sorted(set(table) - set(modules()))}"
    )


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_module_imports_only_from_its_row_and_the_rows_above(name: str) -> None:
    table = layers()
    own = row_of(name, table)
    assert own is not None
    below = {
        target
        for target in imported(modules()[name])
        if (row := row_of(target, table)) is not None and row > own
    }
    assert not below, f"{name} imports from a later row of the README's table: {sorted(below)}"
