"""Habits of the package's modules: each says what it exports (``__all__``, every name in it
defined) and stays small enough to change one part safely (about 400 lines, or says why)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from shared import REPO, optional_missing

PACKAGE = REPO / "nexla_procurify"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_declares_its_exports_at_the_top(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{module_name(path)} has no docstring stating its concern"
    top = [
        node
        for node in tree.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    first = top[0] if top else None
    targets = (
        first.targets
        if isinstance(first, ast.Assign)
        else [first.target]
        if isinstance(first, ast.AnnAssign)
        else []
    )
    assert any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets), (
        f"{module_name(path)}: __all__ is not the first statement after the docstring"
    )


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "__main__.py"], ids=module_name)
def test_every_exported_name_exists(path: Path) -> None:
    if optional_missing(module_name(path)):
        pytest.skip(f"{module_name(path)} needs an optional extra that is not installed")
    module = importlib.import_module(module_name(path))
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_every_module_is_small_or_says_why(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if len(text.splitlines()) > MAX_LINES:
        docstring = ast.get_docstring(ast.parse(text)) or ""
        assert "lines" in docstring, (
            f"{module_name(path)} is over {MAX_LINES} lines without its docstring saying why"
        )
