"""Times of a read: the forms a date is given in, how a cursor is written, and which clock the
next cursor follows (Procurify's ``Date`` header, or ours)."""

from __future__ import annotations

__all__ = [
    "CLOCK_SKEW_ALLOWANCE",
    "DATE_FILTER_ALLOWANCE",
    "SERVER_TIME_MARGIN",
    "WHEN_FORM",
    "iso",
    "next_cursor",
    "parse_when",
    "server_time",
]

import email.utils
import logging
import re
from datetime import UTC, date, datetime, timedelta

import requests

from nexla_procurify.errors import ConfigurationError

log = logging.getLogger("nexla_procurify.source")

# Without a server clock, assume ours may be this far ahead of Procurify's.
CLOCK_SKEW_ALLOWANCE = timedelta(hours=1)
# Procurify stamps its Date header after running the query: records changed in between must
# still be inside the next run's filter.
SERVER_TIME_MARGIN = timedelta(minutes=5)
# Date-granular filters are interpreted in the company's time zone, at most a day from UTC.
DATE_FILTER_ALLOWANCE = timedelta(days=1)

# The forms source.schema.json allows for start_date: a date, or a date-time.
WHEN_FORM = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)


def parse_when(value: str, what: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time (UTC when it has no zone); anything
    else is a ``ConfigurationError`` that starts with ``what``."""
    try:
        if not WHEN_FORM.match(value):
            raise ValueError(value)
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{what} must be a date (YYYY-MM-DD) or an ISO 8601 date-time."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """``moment`` as a cursor is written: UTC, to the second, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_time(response: requests.Response) -> datetime | None:
    """Procurify's clock from its ``Date`` header, or ``None`` when it cannot be placed."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:  # no zone (or "-0000"): a time we cannot place
        return None
    return parsed.astimezone(UTC)


def next_cursor(server: datetime | None, local_now: datetime, resource: str) -> datetime:
    """Where the next run of ``resource`` starts: the earlier of Procurify's clock and ours (a
    clock running ahead, on either side, must never move the cursor past records not yet
    read), less a margin; an hour before our clock when Procurify's is not known."""
    if server is None:
        return local_now - CLOCK_SKEW_ALLOWANCE
    if server - local_now > CLOCK_SKEW_ALLOWANCE:
        log.warning(
            "Procurify's clock (its Date header, %s) is more than %s ahead of this "
            "machine's (%s): the next %s run starts from this machine's.",
            server.isoformat(),
            CLOCK_SKEW_ALLOWANCE,
            local_now.isoformat(),
            resource,
        )
    return min(server, local_now) - SERVER_TIME_MARGIN
