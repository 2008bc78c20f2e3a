"""The repository's development tools (``tools/*.py``), imported for tests."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from shared import REPO


def tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a module (the tools import their siblings by name)."""
    folder = str(REPO / "tools")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)
