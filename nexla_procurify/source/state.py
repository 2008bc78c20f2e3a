"""The state a read hands back: the cursor of the next run, where an interrupted read stands,
and the fingerprints that tie both to their selection; written by ``ReadState.to_dict`` and
read back, checked field by field, by ``ReadState.from_dict``."""

from __future__ import annotations

__all__ = ["MAX_STATE_PAGE", "STATE_VERSION", "ReadPosition", "ReadState", "parse_state"]

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nexla_procurify.errors import ConfigurationError
from nexla_procurify.resources import catalogue
from nexla_procurify.source.config import SourceConfig
from nexla_procurify.source.times import iso, parse_when

log = logging.getLogger("nexla_procurify.source")

STATE_VERSION = 2
# The most pages a saved position may name: far beyond any real selection, and small enough that
# every computation on it stays exact.
MAX_STATE_PAGE = 10**9
_STATE_KEYS = frozenset({"version", "resource", "cursor", "query", "in_progress"})
_POSITION_KEYS = frozenset(
    {"page", "page_size", "query", "next_cursor", "through", "held", "counts"}
)


@dataclass(frozen=True)
class ReadPosition:
    """Where an interrupted read stands: pages up to ``page`` (of ``page_size``) were emitted,
    and every record that stayed in the selection with an order key up to ``through`` was
    emitted. ``held``: the read could not prove that nothing slipped between its pages, so the
    next run starts again from this run's starting cursor."""

    page: int
    page_size: int
    query: str
    next_cursor: str | None
    through: int | str | tuple[Any, ...] | None = None  # an id, or a record's key values
    held: bool = False
    counts: tuple[int, int] | None = None  # fewest and most records counted, without keys


@dataclass(frozen=True)
class ReadState:
    """The state of one resource's reads: the next run's ``cursor`` and the fingerprint of the
    selection it belongs to (``query``), and the ``position`` of a read under way.

    ``ReadState.from_dict(state.to_dict()) == state``, except that a ``query`` without a
    ``cursor`` is not written (it ties nothing to its selection).
    """

    resource: str
    cursor: datetime | None
    position: ReadPosition | None
    query: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The state as the ``value`` of a ``Checkpoint`` (plain JSON)."""
        value: dict[str, Any] = {"version": STATE_VERSION, "resource": self.resource}
        if self.cursor is not None:
            value["cursor"] = iso(self.cursor)
            value["query"] = self.query
        if self.position is not None:
            value["in_progress"] = {
                "page": self.position.page,
                "page_size": self.position.page_size,
                "query": self.position.query,
                "next_cursor": self.position.next_cursor,
                "through": (
                    list(self.position.through)
                    if isinstance(self.position.through, tuple)
                    else self.position.through
                ),
                "held": self.position.held,
                "counts": list(self.position.counts) if self.position.counts else None,
            }
        return value

    @classmethod
    def from_dict(cls, value: object) -> ReadState:
        """A state ``to_dict`` wrote (this version or the one before), checked field by field
        (no recursion: the state is a flat object); any damage is a ``ConfigurationError`` that
        names the field and says to start without state. A version 1 position cannot say what
        it covered: it is dropped, and the read starts again from its cursor."""
        if not isinstance(value, Mapping) or not isinstance(value.get("resource"), str):
            raise ConfigurationError(
                "The saved state is not one this connector wrote (an object naming its "
                "resource): start without state (a full read) or use the state a run emitted."
            )
        name = value["resource"]
        try:
            return _checked_state(value)
        except _DamagedState as damage:
            raise ConfigurationError(
                f"The saved state for {name!r} is damaged ({damage}); start without state for "
                "a full read, or pass the last STATE this resource's run emitted, unchanged."
            ) from None


def parse_state(state: object, config: SourceConfig) -> ReadState:
    """The saved state as it applies to the read ``config`` asks for: a cursor made for other
    filters is ignored (with a warning), a position made for another read is dropped."""
    name = config.resource.name
    if state is None or state == {}:
        return ReadState(name, None, None)
    if not isinstance(state, Mapping) or state.get("resource") != name:
        raise ConfigurationError(
            f"The saved state does not belong to resource {name!r}: start without state "
            "(a full read) or use the state this resource's last run emitted."
        )
    saved = ReadState.from_dict(state)
    fingerprint = config.query_fingerprint
    cursor = saved.cursor
    if cursor is not None and saved.query not in (None, fingerprint):
        log.warning(
            "The saved state of %s was made with other filters: its cursor is "
            "ignored and records are read from the start date.",
            name,
        )
        cursor = None
    position = saved.position
    if position is not None and position.query != config.position_fingerprint(
        cursor or config.start
    ):
        position = None
    return ReadState(name, cursor, position, fingerprint)


class _DamagedState(Exception):
    """A field of the saved state that cannot be what this connector wrote."""


def _checked_state(state: Mapping[Any, Any]) -> ReadState:
    unknown = sorted(str(key) for key in state if key not in _STATE_KEYS)
    if unknown:
        raise _DamagedState(f"unknown field(s) {', '.join(unknown)}")
    version = state.get("version", STATE_VERSION)
    if version not in (1, STATE_VERSION) or isinstance(version, bool):
        raise _DamagedState(f"'version' must be 1 or {STATE_VERSION}")
    cursor_text = state.get("cursor")
    cursor = None
    if cursor_text is not None:
        if not isinstance(cursor_text, str):
            raise _DamagedState("'cursor' must be an ISO 8601 date-time")
        try:
            cursor = parse_when(cursor_text, "state cursor")
        except ConfigurationError:
            raise _DamagedState("'cursor' must be an ISO 8601 date-time") from None
    query = state.get("query")
    if query is not None and not isinstance(query, str):
        raise _DamagedState("'query' must be text")
    progress = state.get("in_progress")
    position = None
    if progress is not None:
        if not isinstance(progress, Mapping):
            raise _DamagedState("'in_progress' must be an object")
        if version == STATE_VERSION:
            position = _checked_position(progress)
    return ReadState(state["resource"], cursor, position, query)


def _checked_position(progress: Mapping[Any, Any]) -> ReadPosition:
    unknown = sorted(str(key) for key in progress if key not in _POSITION_KEYS)
    if unknown:
        raise _DamagedState(f"unknown field(s) in 'in_progress': {', '.join(unknown)}")
    page = _state_int(progress, "page", MAX_STATE_PAGE)
    page_size = _state_int(progress, "page_size", catalogue().max_page_size)
    query = progress.get("query")
    if not isinstance(query, str):
        raise _DamagedState("'in_progress.query' must be text")
    next_cursor = progress.get("next_cursor")
    if next_cursor is not None:
        if not isinstance(next_cursor, str):
            raise _DamagedState("'in_progress.next_cursor' must be an ISO 8601 date-time")
        try:
            parse_when(next_cursor, "state")
        except ConfigurationError:
            raise _DamagedState("'in_progress.next_cursor' must be an ISO 8601 date-time") from None
    through = progress.get("through")
    if (
        isinstance(through, list)
        and 0 < len(through) <= 8
        and all(
            value is None or (isinstance(value, int | str) and not isinstance(value, bool))
            for value in through
        )
    ):
        through = tuple(through)
    elif through is not None and (isinstance(through, bool) or not isinstance(through, int | str)):
        raise _DamagedState("'in_progress.through' must be a record id or key")
    held = progress.get("held", False)
    if not isinstance(held, bool):
        raise _DamagedState("'in_progress.held' must be true or false")
    counts = progress.get("counts")
    if counts is not None:
        if not (
            isinstance(counts, list)
            and len(counts) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts)
        ):
            raise _DamagedState("'in_progress.counts' must be two whole numbers")
        counts = (counts[0], counts[1])
    return ReadPosition(page, page_size, query, next_cursor, through, held, counts)


def _state_int(progress: Mapping[Any, Any], key: str, maximum: int) -> int:
    value = progress.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise _DamagedState(f"'in_progress.{key}' must be a whole number from 1 to {maximum}")
    return value
