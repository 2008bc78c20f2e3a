"""Reading one resource: the messages of a read (records, then a checkpoint per page), how
each page joins what was read before it, and where the next run starts."""

from __future__ import annotations

__all__ = ["read"]

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.http import error_for_response
from nexla_procurify.messages import Checkpoint, Record
from nexla_procurify.source import times
from nexla_procurify.source.config import FilterValue, SourceConfig, parse_config
from nexla_procurify.source.coverage import (
    Coverage,
    Identity,
    IdentityCoverage,
    OrderKey,
    dense,
)
from nexla_procurify.source.details import with_details, without_details
from nexla_procurify.source.pages import (
    PROBE_REACHES,
    WITNESS_REACH,
    Page,
    PageFetcher,
    PoolFactory,
    no_records,
)
from nexla_procurify.source.state import ReadPosition, ReadState, parse_state
from nexla_procurify.source.times import DATE_FILTER_ALLOWANCE, iso, parse_when

log = logging.getLogger("nexla_procurify.source")


def read(
    session: ProcurifySession,
    config: Mapping[str, Any],
    state: Mapping[str, Any] | None,
    *,
    pools: PoolFactory = ThreadPoolExecutor,
) -> Iterator[Record | Checkpoint]:
    """``Record`` and ``Checkpoint`` messages; configuration problems raise before any request."""
    parsed = parse_config(config)
    saved = parse_state(state, parsed)
    return _Reader(session, parsed, saved, pools).messages()


class _Reader:
    """One read: its pages settled against what was read before them, in order."""

    def __init__(
        self,
        session: ProcurifySession,
        config: SourceConfig,
        state: ReadState,
        pools: PoolFactory = ThreadPoolExecutor,
    ) -> None:
        self.config = config
        self.state = state
        self.resource = config.resource
        self.fetcher = PageFetcher(session, config, pools)
        # Whether page boundaries are checked by the records' order keys (``Coverage``) or
        # identities (``IdentityCoverage``), or, for records that show neither, by the
        # selection's count (``_counted``).
        self.keyed = self.resource.order_by is not None
        position = state.position
        self.counts = position.counts if position else None
        self._ended = False  # whether the last page answered was the selection's last
        self._ordered = True  # whether records show the id they are ordered by
        self._doubtful = False  # whether the coverage gave up (no more looks across boundaries)

    def messages(self) -> Iterator[Record | Checkpoint]:
        if self.resource.pagination != "page":
            yield from self._unpaginated()
            return
        first_page = 1
        next_cursor: datetime | None = None
        position = self.state.position
        saved_through = position.through if position else None
        held = False
        if position is not None:
            # Start again at the last emitted page: what it covered is skipped by key.
            first_page = (position.page - 1) * position.page_size // self.config.page_size + 1
            held = position.held
            if position.next_cursor:
                next_cursor = parse_when(position.next_cursor, "state")
        params = self._params()
        first = self.fetcher.fetch(first_page, params) or self.fetcher.fetch_first(params)
        coverage: Coverage | IdentityCoverage = Coverage(self._order_key)
        if any(self._order_key(record) is None for record in first.records):
            coverage = IdentityCoverage(self._key)
            self.keyed = self.keyed and all(
                self._key(record) is not None for record in first.records
            )
        self._ordered = isinstance(coverage, Coverage)
        if isinstance(saved_through, tuple) == isinstance(coverage, IdentityCoverage):
            coverage.through = saved_through
            if isinstance(coverage, IdentityCoverage) and isinstance(saved_through, tuple):
                coverage.window = [saved_through]
        elif saved_through is not None and first.number != 1:
            first = self.fetcher.fetch_first(params)  # the records changed kind: start again
        if next_cursor is None:
            next_cursor = times.next_cursor(
                first.server_time, datetime.now(UTC), self.resource.name
            )
        stream = self.resource.name
        previous_keys: set[Any] = set()
        last_number = first.number
        for page, witness in self.fetcher.pages(first, params, self._looks_across):
            last_number = page.number
            self._ended = page.is_last
            if not self.keyed:
                fresh, previous_keys = self._unordered(page, previous_keys)
                held = self._counted(page, held)
            else:
                fresh = self._settle(coverage, page, witness, params)
                held = self._doubted(coverage, held)
            # A detail stream emits each record's detail; the page's checkpoint follows them.
            missing: list[Any] = []
            for record in with_details(self.fetcher, fresh, missing):
                yield Record(stream, record)
            held = without_details(self.fetcher, missing, len(fresh), page.number, held)
            position = self._position(page.number, next_cursor, coverage.through, held)
            state = ReadState(stream, self.state.cursor, position, self.config.query_fingerprint)
            yield Checkpoint(state.to_dict())
        if self.keyed and not coverage.complete and coverage.doubt is None:
            # The last page was gone, or not the last when it was answered: look at the end.
            fresh = self._close(coverage, last_number, params)
            held = self._doubted(coverage, held)
            missing = []
            for record in with_details(self.fetcher, fresh, missing):
                yield Record(stream, record)
            held = without_details(self.fetcher, missing, len(fresh), last_number, held)
        if not self.keyed and not self._ended:
            held = self._counted(None, held)
        yield Checkpoint(self._final_state(next_cursor, held).to_dict())

    def _counted(self, page: Page | None, held: bool) -> bool:
        """For records that do not show their order key: the read holds its cursor when the
        selection's count changed in either direction, or a page announced was gone (``page``
        ``None``). A record leaving while another joins between two answers is not seen."""
        if page is not None and page.count is not None:
            low, high = self.counts or (page.count, page.count)
            self.counts = (min(low, page.count), max(high, page.count))
        changed = page is None or (self.counts is not None and self.counts[0] != self.counts[1])
        if held or not changed:
            return held
        log.warning(
            "The %s selection changed while it was read (its count or its pages); its "
            "records do not show the id they are ordered by, so %s.",
            self.resource.name,
            "the next run starts again from this run's starting cursor"
            if self.resource.incremental
            else "the next full read includes any missed",
        )
        return True

    def _unordered(
        self, page: Page, previous_keys: set[Any]
    ) -> tuple[list[dict[str, Any]], set[Any]]:
        """A list without a stable order: records repeated from the page before are dropped."""
        keys = set()
        fresh = []
        for record in page.records:
            key = self._key(record)
            keys.add(key)
            if key is None or key not in previous_keys:
                fresh.append(record)
        return fresh, keys

    def _settle(
        self,
        coverage: Coverage | IdentityCoverage,
        page: Page,
        witness: Page | None,
        params: dict[str, FilterValue],
    ) -> list[dict[str, Any]]:
        """The records to emit for ``page``: first those of the looks across its boundary with
        what is covered (records that moved there while the pages were answered), then its own
        not yet covered. When no look connects, the page is taken anyway and the read holds
        its cursor."""
        if coverage.doubt is not None:  # the read holds already: nothing left to prove
            return coverage.absorb(page)
        fresh: list[dict[str, Any]] = []
        if not coverage.connects(page) and witness is not None and coverage.connects(witness):
            fresh += coverage.absorb(witness)
        for reach in PROBE_REACHES:
            if coverage.connects(page):
                break
            probe = self.fetcher.probe(page.offset, reach, params)
            if probe is not None and coverage.connects(probe):
                fresh += coverage.absorb(probe)
        if not coverage.connects(page) and coverage.doubt is None:
            coverage.doubt = (
                f"page {page.number} did not join the pages before it, even "
                "looked at from inside wider answers"
            )
        return fresh + coverage.absorb(page)

    def _close(
        self,
        coverage: Coverage | IdentityCoverage,
        last_number: int,
        params: dict[str, FilterValue],
    ) -> list[dict[str, Any]]:
        """Look at the end of the selection until an answer that connects is its last."""
        fresh: list[dict[str, Any]] = []
        boundary = last_number * self.config.page_size
        for reach in (WITNESS_REACH, *PROBE_REACHES):
            probe = self.fetcher.probe(boundary, reach, params)
            if probe is not None and coverage.connects(probe):
                fresh += coverage.absorb(probe)
                if coverage.complete:
                    return fresh
                boundary = probe.offset + len(probe.records)
        if coverage.doubt is None:
            coverage.doubt = "the end of the selection moved while it was read"
        return fresh

    def _doubted(self, coverage: Coverage | IdentityCoverage, held: bool) -> bool:
        """Whether the read must hold its cursor (said once, in the log)."""
        if coverage.doubt is not None:
            self._doubtful = True
        if held or coverage.doubt is None:
            return held
        if self.resource.incremental is None:
            consequence = "this run may have missed some; the next full read includes them"
        else:
            consequence = (
                "the next run starts again from this run's starting cursor so that none is missed"
            )
        log.warning(
            "The %s selection changed while it was read and the read could not prove "
            "that no record slipped between its pages (%s): %s.",
            self.resource.name,
            coverage.doubt,
            consequence,
        )
        return True

    def _final_state(self, next_cursor: datetime, held: bool) -> ReadState:
        if self.resource.incremental is None:
            return ReadState(self.resource.name, None, None)
        start = self.state.cursor or self.config.start
        cursor = start if held else next_cursor
        return ReadState(self.resource.name, cursor, None, self.config.query_fingerprint)

    def _unpaginated(self) -> Iterator[Record | Checkpoint]:
        path = self.resource.list_path(self.config.path_values)
        action = f"read {self.resource.name}"
        answer = self.fetcher.request(path, dict(self.config.filters), action)
        response, body = answer.response, answer.body
        if response.status_code >= 300:
            raise error_for_response(response, action)
        data = body.get("data") if isinstance(body, Mapping) else None
        records = [data] if isinstance(data, dict) else self.fetcher.records(body, action)
        if records is None:
            raise no_records(action)
        for record in records:
            yield Record(self.resource.name, record)
        yield Checkpoint(ReadState(self.resource.name, None, None).to_dict())

    def _params(self) -> dict[str, FilterValue]:
        params = dict(self.config.filters)
        params["page_size"] = str(self.config.page_size)
        if self.resource.order_by:
            params["order_by"] = self.resource.order_by
        incremental = self.resource.incremental
        since = self.state.cursor or self.config.start
        if incremental is not None and since is not None:
            if incremental.granularity == "date":
                params[incremental.filter] = (since - DATE_FILTER_ALLOWANCE).date().isoformat()
            else:
                params[incremental.filter] = iso(since)
        return params

    def _position(
        self, page: int, next_cursor: datetime, through: OrderKey | Identity | None, held: bool
    ) -> ReadPosition:
        return ReadPosition(
            page=page,
            page_size=self.config.page_size,
            query=self.config.position_fingerprint(self.state.cursor or self.config.start),
            next_cursor=iso(next_cursor) if self.resource.incremental else None,
            through=through,
            held=held,
            counts=self.counts,
        )

    def _key(self, record: Mapping[str, Any]) -> Identity | None:
        values = tuple(record.get(name) for name in self.resource.key)
        if any(isinstance(value, dict | list) for value in values):
            return None
        return None if all(value is None for value in values) else values

    def _order_key(self, record: Mapping[str, Any]) -> OrderKey | None:
        value = record.get(self.resource.order_by or "")
        if isinstance(value, bool) or not isinstance(value, int | str):
            return None
        return value

    def _looks_across(self, page: Page) -> bool:
        """Whether ``page`` is fetched with a look across its boundary with the page before
        (asked from the pool's threads): not when its own keys run on, nor once the coverage
        gave up."""
        return (
            self.keyed
            and not self._doubtful
            and not (self._ordered and dense(page, self._order_key))
        )
