"""The repository's development tools (``tools/*.py``), imported for tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (the tools import their siblings by name)."""
    folder = str(REPO / "tools")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
