"""Writing records into Procurify: one honest ``WriteResult`` per input record, no duplicates.

Public API: ``parse_config(config) -> DestinationConfig`` and
``write(session, config, records) -> Iterator[WriteResult]``; for a caller that resolves the
configuration itself, ``Plan.of(config)`` and ``write_planned(session, plan, records)``; and
``FLUSH``, an input item that hands back every result so far (the Singer target's STATEs).

The package, one concern per module: ``config`` (the configuration, parsed and checked),
``prepare`` (pure: the ``Plan`` a configuration resolves to, and each record validated and
made ready to send), ``attempt`` (one record's way to Procurify, and how it ends), ``lookup``
(finding a record by its key; "is this ours"), ``create`` (the POST whose outcome may be
unknown, and its confirmation), ``operations`` (update, patch, actions, upsert), ``circuit``
(when the run stops calling Procurify, or stops writing), ``record`` (one record from input to
result) and ``run`` (ordering, concurrency, one result per record).

Decisions where the design is silent (also in the README's destination section):

* ``update``, ``patch``, ``revise`` and the actions (``close``, ``reopen``, ``deactivate``) take
  the record's id from the operation's ``id_field`` (``id``, or ``procurify_PO`` for purchase
  orders): a whole number (or its digits as text), as every id in Procurify's write paths is an
  integer. The id goes into the path and is left out of the body unless the request schema
  declares it as a field. What is sent (not the record with its path id) is what is validated.
* Request schemas are Procurify's (generated from the contract), and refuse undeclared fields.
  An operation's ``defaults`` fill fields Procurify requires but computes (a vendor's
  ``overall_score``: ``null``) when the record leaves them out; such a field is never compared
  with, nor patched onto, an existing record by an upsert.
* A users ``create`` is one invitation: ``POST /api/v3/users`` takes a list, so each record is
  sent as ``[record]`` and the answer's ``data`` list must hold exactly the one new user.
* ``deactivate`` (``DELETE /api/v3/users/{id}``) reports ``updated``: the user is deactivated,
  not deleted, and the status vocabulary has nothing closer. ``revise`` (Procurify's older
  purchase-order update, deprecated in favour of ``update``) works like ``update`` and logs a
  warning.
* ``upsert`` validates the record against the resource's ``create`` schema (an upsert must be able
  to create) and needs the upsert key. A single match is changed with ``PATCH`` where the resource
  has it (only the fields sent change, which is what an upsert of a partial record means) and
  with ``PUT`` otherwise. A match whose fields already equal every field sent is ``unchanged``.
* A dry run sends no ``POST``/``PUT``/``PATCH``. An upsert still looks the key up (a ``GET``):
  ``validated`` with ``id`` set means "would update that record", without ``id`` "would create",
  and ``unchanged`` means nothing would be written.
* Records that address the same Procurify record (same id or same upsert/lookup key) are written
  one after the other, in input order, even with ``concurrency`` > 1: the last one wins, and two
  upserts of one key cannot both create.
* ``on_error: abort`` stops at the first ``failed`` record (``rejected`` is the record's own
  problem and does not stop the run). Records already taken from the input still get a result:
  those before the failed one are written, later ones not yet started are reported ``failed``
  with "not written".
* Once Procurify refuses the credential, later records are reported ``failed`` with the same
  message without calling Procurify again (a million records must not become a million token
  requests).
* The same circuit for overload and outages. Once a record fails because Procurify kept
  answering 429 after the HTTP policy's retries (``RateLimitError``, also when it broke the
  lookup that checks a creation), later records are ``failed`` with that message and "Not
  sent", without calling Procurify: otherwise each record spends its own ~2-minute retry budget
  and a 10k-record run under a 429 storm takes hours. Repeated 5xx answers and connection
  failures (``TransientError``) can also be caused by one record's content (a server bug on a
  payload), so one such failure does not stop the run: ``TRANSIENT_FAILURES_TO_STOP``
  consecutive input records failing that way do (counted in input order, whatever order the
  workers finish in).
* After a ``POST`` whose outcome is unknown (HTTP 500/502/504, a timeout, a connection dropped
  after sending) the record is looked up by the resource's lookup key after a short pause. A
  record found whose fields equal every field sent means the POST created it. A record found
  with other values already held that key (the POST would have been refused as a duplicate):
  the record is ``rejected``, naming the existing record's id, and never sent again. "Equal"
  is through Procurify's normalisation (``stored.same``: text trimmed, decimals compared as
  numbers, e-mails without case), so that our own creation is recognised. Procurify's lists
  may lag behind a write: a record not found is looked for again after growing pauses
  (``LOOKUP_PAUSES``) before it counts as not found. Not found
  means it is sent again, at most ``MAX_CREATE_ATTEMPTS`` times in all, but only when the lookup
  is ``conclusive`` (an exact filter): users are found by a free-text ``search`` on their email,
  so a user found as sent is ``created`` and one not found is ``failed`` with "may have been
  created", never invited again. Without a lookup (requisitions, payment methods, ...) the
  record is ``failed`` with "may have been created". The same uncertainty on a purchase-order
  action is ``failed`` with "may have taken effect". A re-sent ``POST`` refused with 400 (such
  as "duplicate external_id": the first one did commit) is looked up once more and reported
  ``created`` when found as sent.
* A 2xx answer to a ``POST`` without a recognisable created record (not JSON, or no id) is an
  unknown outcome too: the record is looked up (found as sent: ``created`` with its id) but
  never sent again; without a lookup, or not found, it is ``failed`` with "may have been
  created". A 3xx answer (POSTs never follow redirects) is ``failed`` with the redirect error.
* A record nested more than ``MAX_NESTING_DEPTH`` levels deep (or referring to itself) is
  ``rejected`` before validation: no JSON Schema check or encoder has to recurse that deep.
  An unexpected error says "may or may not have been written" only when a writing request
  (POST, PUT, PATCH, DELETE) was actually attempted for the record; otherwise "it was not written".
* A key lookup reads every page of its answer, up to ``MAX_LOOKUP_PAGES``; an answer with more
  pages (the filter seems ignored) makes the record ``failed`` as a lookup too broad.
* A create's answer holds the record where the operation's ``answer`` says, as Procurify's
  contract shapes it: ``{"data": record}`` (most), ``{"data": [record]}`` (user invitations) or
  the bare record (payment methods, whose own ``data`` field holds payment details). The id is
  the resource's key there: ``uuid`` for requisitions (whose answer has no ``id``).
"""

from __future__ import annotations

__all__ = [
    "FLUSH",
    "LOOKUP_PAUSES",
    "MAX_CREATE_ATTEMPTS",
    "MAX_LOOKUP_PAGES",
    "MAX_NESTING_DEPTH",
    "TRANSIENT_FAILURES_TO_STOP",
    "DestinationConfig",
    "Plan",
    "UnreadableRecord",
    "destination_schema",
    "parse_config",
    "write",
    "write_planned",
]

from nexla_procurify.destination.circuit import TRANSIENT_FAILURES_TO_STOP
from nexla_procurify.destination.config import DestinationConfig, destination_schema, parse_config
from nexla_procurify.destination.create import LOOKUP_PAUSES, MAX_CREATE_ATTEMPTS
from nexla_procurify.destination.lookup import MAX_LOOKUP_PAGES
from nexla_procurify.destination.prepare import MAX_NESTING_DEPTH, Plan, UnreadableRecord
from nexla_procurify.destination.run import FLUSH, write, write_planned
