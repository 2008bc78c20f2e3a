"""``target-procurify --about``: what the target is, its capabilities, its settings (with their
environment variables) and the streams it writes, as text, Markdown or JSON (``--format``)."""

from __future__ import annotations

__all__ = ["FORMATS", "NAME", "about", "about_info"]

import json
from typing import Any

from nexla_procurify import __version__
from nexla_procurify.resources import catalogue
from nexla_procurify.target.config import ENV_PREFIX, SETTINGS_SCHEMA

NAME = "target-procurify"
DESCRIPTION = (
    "Singer target for Procurify: writes each stream's records into a Procurify "
    "resource (upsert by key by default where the resource has one), with one "
    "result per record, and echoes a STATE only once every record before it is "
    "written."
)
CAPABILITIES = ("about",)
FORMATS = ("text", "markdown", "json")


def about_info() -> dict[str, Any]:
    """The ``--about --format json`` object, in the Meltano SDK's shape."""
    resources = {}
    for name in catalogue().names("destination"):
        resource = catalogue().get(name, "destination")
        resources[name] = {
            "operations": list(resource.write_operations),
            "default_operation": "upsert" if resource.upsert_key else None,
            "upsert_key": resource.upsert_key,
        }
    return {
        "name": NAME,
        "description": DESCRIPTION,
        "version": __version__,
        "capabilities": list(CAPABILITIES),
        "settings": dict(SETTINGS_SCHEMA),
        "env_prefix": ENV_PREFIX,
        "resources": resources,
    }


def about(format_name: str) -> str:
    """The ``--about`` text in ``format_name`` (one of ``FORMATS``)."""
    info = about_info()
    if format_name == "json":
        return json.dumps(info, indent=2)
    markdown = format_name == "markdown"
    required = set(SETTINGS_SCHEMA["required"])
    lines = [
        f"# {NAME}" if markdown else f"Name: {NAME}",
        "",
        info["description"],
        "",
        f"Version: {__version__}",
        f"Capabilities: {', '.join(CAPABILITIES)}",
        "",
        "## Settings" if markdown else "Settings:",
    ]
    for key, spec in SETTINGS_SCHEMA["properties"].items():
        flag = " (required)" if key in required else ""
        env = f"{ENV_PREFIX}{key.upper()}"
        text = spec.get("description", "")
        lines.append(
            f"- `{key}`{flag}, env `{env}`: {text}"
            if markdown
            else f"  {key}{flag} [{env}]: {text}"
        )
    lines += ["", "## Resources" if markdown else "Resources:"]
    for name, resource in info["resources"].items():
        default = resource["default_operation"] or "none: set the operation"
        line = f"{name}: {', '.join(resource['operations'])} (default: {default})"
        lines.append(f"- {line}" if markdown else f"  {line}")
    return "\n".join(lines)
