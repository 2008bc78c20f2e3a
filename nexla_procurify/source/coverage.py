"""What the answers of a list prove: the coverage of a read (the argument is in the docstring
of ``nexla_procurify.source``). ``Coverage`` watches records by the id they are ordered by,
``IdentityCoverage`` by their key when they do not show that id."""

from __future__ import annotations

__all__ = ["Coverage", "Identity", "IdentityCoverage", "OrderKey", "dense"]

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from nexla_procurify.source.pages import Page

OrderKey = int | str


class Coverage:
    """What the answers absorbed so far prove (the argument is in the package's docstring).

    An answer is a run of consecutive records of the selection as it was at one instant, in
    order of their order key (``id``); so it proves that every record that was in the selection
    then, with a key between its first and its last, is in it. ``through``: every record that
    stayed in the selection with a key up to it was emitted (``complete``: every one). An answer
    *connects* when nothing lies between ``through`` and its first key: its first key is at most
    ``through``, or the next whole number; or it is the selection's first page.
    """

    def __init__(
        self,
        order_key: Callable[[Mapping[str, Any]], OrderKey | None],
        through: OrderKey | None = None,
    ) -> None:
        self.order_key = order_key
        self.through = through
        self.complete = False
        self.doubt: str | None = None  # why nothing can be proved, when so

    def connects(self, page: Page) -> bool:
        """Whether nothing lies between what is covered and ``page``'s first record."""
        if self.complete or page.offset == 0:
            return True
        if not page.records or self.through is None:
            return False
        first = self.order_key(page.records[0])
        return first is not None and _at_most_next(first, self.through)

    def absorb(self, page: Page) -> list[dict[str, Any]]:
        """The records of ``page`` not proved emitted already; ``through`` moves past them."""
        if self.complete:
            return []
        keys = [self.order_key(record) for record in page.records]
        if not _ascending(keys):
            self.doubt = "Procurify's records were not in order of their id"
            self.through = None
            return list(page.records)
        through = self.through
        # The keys ascend: the records already covered are a prefix of the page.
        covered = 0
        if through is not None:
            while covered < len(keys) and _at_most(keys[covered], through):
                covered += 1
        fresh = page.records[covered:]
        if keys:
            last = keys[-1]
            assert last is not None
            self.through = last if through is None or not _at_most(last, through) else through
        if page.is_last and self.doubt is None:
            self.complete = True
        return fresh


# A record's identity (the values of the resource's key), for lists whose records do not show
# the id they are ordered by.
Identity = tuple[Any, ...]


class IdentityCoverage:
    """``Coverage`` for records that do not show the id they are ordered by (purchase orders):
    the same argument, with the records themselves as landmarks instead of their ids.

    ``through`` is the last record covered: every record that stayed in the selection and comes
    no later than it was emitted. An answer that holds that record connects, and everything
    after it in the answer is new; an answer whose last record lies within the last answer
    absorbed adds nothing. Otherwise (the landmark left the selection, or too much moved) it
    does not connect.
    """

    def __init__(
        self,
        identity: Callable[[Mapping[str, Any]], Identity | None],
        through: Identity | None = None,
    ) -> None:
        self.identity = identity
        self.through = through
        self.window: list[Identity | None] = [through] if through is not None else []
        self.complete = False
        self.doubt: str | None = None

    def connects(self, page: Page) -> bool:
        """Whether ``page`` holds the landmark record (or is the selection's first page)."""
        if self.complete or (self.through is None and page.offset == 0):
            return True
        if not page.records or self.through is None:
            return False
        keys = [self.identity(record) for record in page.records]
        return self.through in keys or keys[-1] in self.window

    def absorb(self, page: Page) -> list[dict[str, Any]]:
        """The records of ``page`` not yet emitted, moving what is covered past them."""
        if self.complete:
            return []
        keys = [self.identity(record) for record in page.records]
        if any(key is None for key in keys) or len(set(keys)) != len(keys):
            self.doubt = "Procurify's records had no key, or the same key twice"
            self.through = None
            self.window = []
            return list(page.records)
        if self.through is None:
            fresh = list(page.records)
        elif self.through in keys:
            fresh = page.records[keys.index(self.through) + 1 :]
        elif keys and keys[-1] in self.window:
            fresh = []  # within what the last answer covered
        else:  # taken without connecting (the read holds): all not just seen
            fresh = [
                record
                for record, key in zip(page.records, keys, strict=True)
                if key not in self.window
            ]
        if (fresh or self.through is None) and keys:
            self.through = keys[-1]
            self.window = list(keys)
        if page.is_last and self.doubt is None:
            self.complete = True
        return fresh


def _same_kind(a: OrderKey, b: OrderKey) -> bool:
    return isinstance(a, int) == isinstance(b, int)


def _at_most(key: OrderKey | None, through: OrderKey) -> bool:
    if key is None or not _same_kind(key, through):
        return False
    return key <= through  # type: ignore[operator]  # same kind, checked above


def _at_most_next(key: OrderKey, through: OrderKey) -> bool:
    """Nothing can lie strictly between ``through`` and ``key``."""
    if isinstance(key, int) and isinstance(through, int):
        return key <= through + 1
    return _at_most(key, through)


def _ascending(keys: list[OrderKey | None]) -> bool:
    if all(type(key) is int for key in keys):  # the usual ids: one kind, none missing
        return all(before < after for before, after in itertools.pairwise(keys))  # type: ignore[operator]
    for before, after in itertools.pairwise(keys):
        if before is None or after is None or not _same_kind(before, after):
            return False
        if not before < after:  # type: ignore[operator]  # same kind, checked above
            return False
    return all(key is not None for key in keys[:1])


def dense(page: Page, order_key: Callable[[Mapping[str, Any]], OrderKey | None]) -> bool:
    """Whether the page's keys are consecutive whole numbers (its neighbours likely too)."""
    keys = [order_key(record) for record in page.records]
    numbers = [key for key in keys if isinstance(key, int)]
    return len(numbers) == len(keys) and all(
        after == before + 1 for before, after in itertools.pairwise(numbers)
    )
