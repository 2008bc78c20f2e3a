"""The connector's shipped files: ``connector.json`` and ``schemas/``, and the check of
``connector.json`` against its own schema, ``schemas/connector.schema.json``.

In a built wheel they live inside the package. In a source checkout (tests run from the
repository, editable installs) they are the top-level files of the repository.
"""

from __future__ import annotations

__all__ = [
    "CONNECTOR_SCHEMA",
    "asset_root",
    "check_connector_manifest",
    "connector_manifest",
    "load_json",
    "schema",
]

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from nexla_procurify.errors import ConfigurationError

PACKAGE = "nexla_procurify"
# The schema of connector.json itself, under schemas/.
CONNECTOR_SCHEMA = "connector.schema.json"


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
    """A fresh copy of ``connector.json``, as read (``check_connector_manifest`` checks it)."""
    manifest: dict[str, Any] = load_json("connector.json")
    return manifest


def schema(name: str) -> dict[str, Any]:
    """A schema under ``schemas/``, e.g. ``schema("streams/vendors.json")``."""
    loaded: dict[str, Any] = load_json(f"schemas/{name}")
    return loaded


def check_connector_manifest(document: Any) -> None:
    """Raise a ``ConfigurationError`` naming every fault of a ``connector.json`` document: a key
    its schema does not know (a typo), a missing or mistyped one, a detail stream of an unknown
    list. Nothing is raised for a sound document."""
    validator = Draft202012Validator(schema(CONNECTOR_SCHEMA))
    problems = [
        f"{_where(document, error.absolute_path)}: {_fault(error)}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]
    if not problems and isinstance(document, Mapping):
        problems = _catalogue_problems(document["resources"])
    if problems:
        raise ConfigurationError(
            "connector.json does not match schemas/connector.schema.json (the package's "
            "catalogue is damaged: reinstall it, or fix the file): " + "; ".join(problems) + "."
        )


def _catalogue_problems(resources: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the schema cannot say: names are unique, a detail stream reads a readable list."""
    problems: list[str] = []
    names = [resource["name"] for resource in resources]
    problems.extend(
        f"resource {name!r} is listed twice" for name in sorted(set(names)) if names.count(name) > 1
    )
    listed = {resource["name"]: resource for resource in resources}
    for resource in resources:
        detail = resource.get("detail")
        if detail is None:
            continue
        of = listed.get(detail["of"])
        if of is None or "path" not in of or "source" not in of["modes"]:
            problems.append(
                f"resource {resource['name']!r}: detail.of {detail['of']!r} is not "
                "a readable resource with a path"
            )
    return problems


def _where(document: Any, path: Sequence[str | int]) -> str:
    """``resources[0] (vendors).operations.create``: the resource named, not only counted."""
    parts: list[str] = []
    node = document
    for step in path:
        if isinstance(step, int):
            name = node[step].get("name") if isinstance(node[step], Mapping) else None
            parts.append(f"[{step}]" + (f" ({name})" if isinstance(name, str) else ""))
        else:
            parts.append(("." if parts else "") + step)
        node = node[step]
    return "".join(parts) or "the document"


def _fault(error: ValidationError) -> str:
    instance, rule = error.instance, error.validator
    if rule == "additionalProperties" and isinstance(instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        unknown = ", ".join(repr(key) for key in instance if key not in known)
        return f"unknown key {unknown} (known: {', '.join(known) or 'none'})"
    if rule == "required" and isinstance(instance, Mapping):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        missing = ", ".join(repr(key) for key in required if key not in instance)
        return f"missing key {missing}"
    return error.message
