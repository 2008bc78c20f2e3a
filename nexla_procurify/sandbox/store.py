"""The sandbox's tables: generated records plus the ones edited or created since.

A ``Table`` holds no generated record: position ``p`` (id ``p + 1``) comes from the ``Plan``
(compiled on first use) unless it was overwritten. Writes never mutate a record in place; they
store a new dict, so a page handed to the JSON encoder stays consistent. Each table has its own
re-entrant lock and a ``version`` bumped by every write (query results are cached per version).
"""

from __future__ import annotations

__all__ = ["Table"]

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

from nexla_procurify.sandbox.generate import Plan, Record


class Table:
    """One collection's records: generated on demand by position, the written ones kept, with
    indexes on chosen fields."""

    def __init__(
        self, name: str, plan: Callable[[], Plan], size: int, indexed: Sequence[str] = ()
    ) -> None:
        self.name = name
        self._compile = plan
        self._plan: Plan | None = None
        self.lock = threading.RLock()
        self.version = 0
        self.creates = 0
        self._size = size
        self._rows: dict[int, Record] = {}
        self._indexed = tuple(indexed)
        self._indexes: dict[str, dict[Hashable, set[int]]] = {}
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        # position -> list answers still to leave it out of (a list lagging behind writes)
        self._lagging: dict[int, int] = {}

    @property
    def plan(self) -> Plan:
        """The record generator, compiled on first use."""
        if self._plan is None:
            with self.lock:
                if self._plan is None:
                    self._plan = self._compile()
        return self._plan

    def __len__(self) -> int:
        return self._size

    def get(self, position: int) -> Record:
        """The record at ``position``: as written, else as generated."""
        row = self._rows.get(position)
        return row if row is not None else self.plan.record(position)

    def value(self, position: int, field: str) -> Any:
        """One field of the record at ``position``, without generating the rest."""
        row = self._rows.get(position)
        if row is not None:
            return row.get(field)
        return self.plan.value(position, field)

    def positions(self) -> range:
        """Every position of the table."""
        return range(self._size)

    def rows(self) -> Iterator[Record]:
        """Every record, in position order."""
        for position in range(self._size):
            yield self.get(position)

    # -- writes ---------------------------------------------------------------------------------

    def put(self, position: int, record: Record) -> None:
        """Write ``record`` at ``position`` (a new one at the end), keeping the indexes up to
        date."""
        with self.lock:
            if self._indexes:
                old = self.get(position) if position < self._size else {}
                for field, index in self._indexes.items():
                    _unindex(index, old.get(field), position)
                    _index(index, record.get(field), position)
            self._rows[position] = record
            self._size = max(self._size, position + 1)
            self.version += 1

    def append(self, build: Callable[[int], Record]) -> tuple[int, Record]:
        """Store ``build(position)`` at the next position; (position, record)."""
        with self.lock:
            position = self._size
            record = build(position)
            self.put(position, record)
            return position, record

    def lag(self, position: int, answers: int) -> None:
        """Leave ``position`` out of the next ``answers`` list answers."""
        if answers > 0:
            with self.lock:
                self._lagging[position] = answers

    def listed(self, positions: Sequence[int]) -> Sequence[int]:
        """``positions`` as one list answer shows them: without the lagging ones (each of
        which has one answer fewer to wait)."""
        with self.lock:
            if not self._lagging:
                return positions
            hidden = set(self._lagging)
            for position in hidden:
                self._lagging[position] -= 1
                if self._lagging[position] <= 0:
                    del self._lagging[position]
            return [position for position in positions if position not in hidden]

    def clear(self) -> None:
        """Remove every record (and the indexes and cached answers built on them)."""
        with self.lock:
            self._size = 0
            self._rows.clear()
            self._indexes.clear()
            self._cache.clear()
            self.version += 1

    def is_indexed(self, field: str) -> bool:
        """Whether lookups by ``field`` use an index."""
        return field in self._indexed

    # -- lookups --------------------------------------------------------------------------------

    def find(self, field: str, value: Any) -> list[int]:
        """Positions whose ``field`` equals ``value`` (an index for lookup fields)."""
        with self.lock:
            if field in self._indexed:
                index = self._indexes.get(field)
                if index is None:
                    index = self._indexes[field] = {}
                    for position in range(self._size):
                        _index(index, self.value(position, field), position)
                return sorted(index.get(_hashable(value), ()))
            return [p for p in range(self._size) if self.value(p, field) == value]

    def position_of(self, field: str, value: Any) -> int | None:
        """The position of the record whose ``field`` is ``value`` (ids: position + 1)."""
        try:
            position = int(value) - 1
        except (TypeError, ValueError):
            position = -1
        with self.lock:
            if 0 <= position < self._size and str(self.value(position, field)) == str(value):
                return position
            if field == "id":
                return None
            found = self.find(field, value)
        return found[0] if found else None

    def cached(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A value computed once per table version (small LRU)."""
        with self.lock:
            full_key = (self.version, key)
            if full_key in self._cache:
                self._cache.move_to_end(full_key)
                return self._cache[full_key]
            value = compute()
            self._cache[full_key] = value
            while len(self._cache) > 32:
                self._cache.popitem(last=False)
            return value


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        return None
    hashable: Hashable = value
    return hashable


def _index(index: dict[Hashable, set[int]], value: Any, position: int) -> None:
    if value is None or value == "":
        return
    index.setdefault(_hashable(value), set()).add(position)


def _unindex(index: dict[Hashable, set[int]], value: Any, position: int) -> None:
    if value is None or value == "":
        return
    found = index.get(_hashable(value))
    if found is not None:
        found.discard(position)
