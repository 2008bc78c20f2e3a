"""The tap's state as Singer hosts keep it: ``{"bookmarks": {stream: <that resource's
state>}}``, each bookmark exactly the state ``source.read`` hands back for its resource."""

from __future__ import annotations

__all__ = ["bookmarks_from", "state_value"]

from collections.abc import Mapping
from typing import Any

from nexla_procurify.errors import ConfigurationError

_TOP_KEYS = frozenset({"bookmarks", "currently_syncing"})


def bookmarks_from(state: object) -> dict[str, Mapping[str, Any]]:
    """The bookmarks of a saved state (``{"bookmarks": {...}}``, or a whole ``STATE`` line
    holding one); ``{}`` for none. Each bookmark is checked by the read it belongs to."""
    if state is None:
        return {}
    if isinstance(state, Mapping) and state.get("type") == "STATE" and "value" in state:
        state = state["value"]
    if not isinstance(state, Mapping):
        raise ConfigurationError('The state must be a JSON object: {"bookmarks": {...}}.')
    unknown = sorted(str(key) for key in state if key not in _TOP_KEYS)
    if unknown:
        raise ConfigurationError(
            f"The state has unknown key(s) {', '.join(unknown)}: it must be "
            '{"bookmarks": {stream: state}}, as this tap\'s STATE messages hold it.'
        )
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        bookmarks = {}
    if not isinstance(bookmarks, Mapping) or not all(
        isinstance(value, Mapping) for value in bookmarks.values()
    ):
        raise ConfigurationError("The state's 'bookmarks' must map each stream to an object.")
    return {str(name): value for name, value in bookmarks.items()}


def state_value(bookmarks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The value of a ``STATE`` message holding ``bookmarks``. A bookmark with no read under
    way says so (``"in_progress": null``): a host that merges states key by key (Meltano's
    ``--merge-state``) then drops the position of an earlier, unfinished read instead of
    keeping it beside the newer cursor."""
    return {
        "bookmarks": {
            name: {**value, "in_progress": value.get("in_progress")}
            for name, value in bookmarks.items()
        }
    }
