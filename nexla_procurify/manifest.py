"""The connector's shipped files: ``connector.json`` and ``schemas/``.

In a built wheel they live inside the package. In a source checkout (tests run from the
repository, editable installs) they are the top-level files of the repository.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

PACKAGE = "nexla_procurify"


def asset_root() -> Traversable:
    """Folder holding ``connector.json`` and ``schemas/``."""
    packaged = files(PACKAGE)
    if packaged.joinpath("connector.json").is_file():
        return packaged
    return Path(__file__).resolve().parent.parent


def _load(relative: str) -> Any:
    node = asset_root()
    for part in relative.split("/"):
        node = node.joinpath(part)
    return json.loads(node.read_text(encoding="utf-8"))


@cache
def _cached(relative: str) -> str:
    return json.dumps(_load(relative))


def load_json(relative: str) -> Any:
    """A fresh copy of a shipped JSON file, e.g. ``"schemas/credential.schema.json"``."""
    return json.loads(_cached(relative))


def connector_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = load_json("connector.json")
    return manifest


def schema(name: str) -> dict[str, Any]:
    """A schema under ``schemas/``, e.g. ``schema("streams/vendors.json")``."""
    loaded: dict[str, Any] = load_json(f"schemas/{name}")
    return loaded
