"""Reading: configuration, pagination with a bounded prefetching pool, incremental state.

The modules, one concern each: ``config`` (the configuration, checked in full), ``state`` (the
state handed back: ``ReadState.to_dict`` and ``ReadState.from_dict``), ``pages`` (fetching and
prefetching pages, the adaptive limit), ``coverage`` (what the answers prove), ``details``
(detail streams), ``times`` (dates, and which clock the next cursor follows), ``reader`` (a
read's messages), ``many`` (several resources read side by side in one request budget),
``discovery`` (the ``SCHEMA`` messages).

The promise: across consecutive runs, every record that was in the selection during a read and
is still in it afterwards is read at least once, whatever the order in which concurrent pages
are answered and whatever changes (edits, additions, removals) happen between any two answers.

The argument. Pages are asked for in order of ``id`` (``order_by``), which no edit changes. An
answer is then a run of consecutive records of the selection *as it was at one instant*: every
record in the selection then whose id lies between the answer's first and last id is in it.
Call a record *stable* when it stayed in the selection from the first answer to the last. A
stable record is in every answer's instant, so it is read as soon as its id falls within some
answer's span (page 1's span reaching down to the start, the last page's up to the end). The
reader keeps ``through`` (``Coverage``): every stable record with an id up to it was emitted.
An answer *connects* when nothing can lie between ``through`` and its first id (that id is at
most ``through``, or the next whole number); it then moves ``through`` to its last id. Pages of
one size never overlap, so when a page does not connect, the reader looks across the boundary:
a small page of another size holding the records on both sides of it (prefetched with the page
when the page's ids do not run on), then wider ones. Records found there are emitted: they are
exactly those that slid onto a page already read. If no look connects, nothing can be proved
and the read *holds*: the next run starts again from this run's starting cursor. When every
answer connected and the last one was the selection's last, every stable record was read.

A record that was not stable joined or changed during the read: Procurify then stamped its
cursor field at that time, after the server time the read started at, and the next cursor is
that start (its ``Date`` header, less a margin), so the next run's filter includes it. Records
are emitted at most once per read, resumes included: a resume starts at the last page emitted
and skips what ``through`` covers. Date-granular filters are sent a day early, so that no time
zone can hide a record.

Lists whose records do not show the id they are ordered by (purchase orders, orders) are
checked the same way with the records themselves as landmarks (``IdentityCoverage``): an answer
connects when it holds the last record covered. When that record leaves the selection during
the read, nothing can be proved and the read holds (and may emit a few records twice).

Limits: the premises are Procurify's: that ids never change, and that every change stamps the
cursor field. Records showing neither their id nor a key fall back to the count: the read holds
its cursor when the count changed in either direction or a page was gone, and a record leaving
while another joins between the same two answers goes unseen. A list without ``order_by``
(custom fields) has no guarantee.

A detail stream (``bill_details``, ...) is its list read exactly so, each page's records then
read again from their detail GET, in the list's order; the page's checkpoint follows its
details, so the same facts hold for it.
"""

from __future__ import annotations

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "DATE_FILTER_ALLOWANCE",
    "SERVER_TIME_MARGIN",
    "STATE_VERSION",
    "AdaptiveLimit",
    "FilterValue",
    "Page",
    "PoolFactory",
    "ReadPosition",
    "ReadState",
    "SourceConfig",
    "discover",
    "parse_config",
    "parse_state",
    "read",
    "read_streams",
    "schema_message",
]

from nexla_procurify.source.config import (
    FilterValue,
    SourceConfig,
    parse_config,
)
from nexla_procurify.source.discovery import discover, schema_message
from nexla_procurify.source.many import read_streams
from nexla_procurify.source.pages import AdaptiveLimit, Page, PoolFactory
from nexla_procurify.source.reader import read
from nexla_procurify.source.state import STATE_VERSION, ReadPosition, ReadState, parse_state
from nexla_procurify.source.times import (
    CLOCK_SKEW_ALLOWANCE,
    DATE_FILTER_ALLOWANCE,
    SERVER_TIME_MARGIN,
)
