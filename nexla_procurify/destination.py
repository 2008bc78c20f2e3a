"""Writing records into Procurify: one honest ``WriteResult`` per input record, no duplicates.

Public API: ``parse_config(config) -> DestinationConfig`` and
``write(session, config, records) -> Iterator[WriteResult]``.

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
  (POST, PUT, PATCH) was actually attempted for the record; otherwise "it was not written".
* A key lookup reads every page of its answer, up to ``MAX_LOOKUP_PAGES``; an answer with more
  pages (the filter seems ignored) makes the record ``failed`` as a lookup too broad.
* A create's answer holds the record where the operation's ``answer`` says, as Procurify's
  contract shapes it: ``{"data": record}`` (most), ``{"data": [record]}`` (user invitations) or
  the bare record (payment methods, whose own ``data`` field holds payment details). The id is
  the resource's key there: ``uuid`` for requisitions (whose answer has no ``id``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Unpack
from urllib.parse import quote

import requests

from nexla_procurify import manifest
from nexla_procurify.auth import ProcurifySession
from nexla_procurify.envelope import pagination_value
from nexla_procurify.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    ProcurifyError,
    RateLimitError,
    TransientError,
)
from nexla_procurify.http import (
    RequestFields,
    describe_field_errors,
    error_for_response,
    json_body,
    post_outcome_unknown,
    raise_for_response,
)
from nexla_procurify.messages import WriteResult
from nexla_procurify.resources import Operation, Resource, catalogue
from nexla_procurify.stored import same
from nexla_procurify.validation import FieldProblems, describe, schema_problems, validator

log = logging.getLogger("nexla_procurify.destination")

OnError = Literal["continue", "abort"]
CONFIG_KEYS = ("resource", "operation", "key", "dry_run", "concurrency", "on_error")
ON_ERROR_CHOICES: tuple[OnError, ...] = ("continue", "abort")
UPSERT = "upsert"
DESTINATION_SCHEMA = "destination.schema.json"

MAX_CREATE_ATTEMPTS = 3
# Pauses (seconds, times the attempt number) before each lookup that checks an uncertain
# POST: a record Procurify's list does not show yet is looked for again, for about 7.5 s after
# the first attempt (15 s after the second), before it counts as not created.
LOOKUP_PAUSES = (0.5, 1.0, 2.0, 4.0)
LOOKUP_PAGE_SIZE = 50
# A key lookup reads at most this many pages; more means the filter matched far too much.
MAX_LOOKUP_PAGES = 20
WINDOW_PER_WORKER = 2
# Records failing in a row because Procurify was unavailable before the run stops calling it.
TRANSIENT_FAILURES_TO_STOP = 3
OUTAGE_MEMORY = 1024  # input positions remembered for that (far more than are in flight)
# Lists and objects nested deeper than this are refused before validation (no real Procurify
# record comes close; validating or encoding thousands of levels exhausts the stack).
MAX_NESTING_DEPTH = 64
MAX_SHOWN_VALUE = 40
# An id goes into a URL path: digits only (Procurify's ids are integers), never '/', '..',
# '?' or '#'.
SAFE_ID = re.compile(r"[0-9]{1,18}")
JSON_HEADERS = {"Content-Type": "application/json"}
MAY_HAVE_BEEN_CREATED = (
    "The record may have been created in Procurify: check before writing it again"
)


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DestinationConfig:
    """A checked destination configuration."""

    resource: str
    operation: str
    key: str | None = None
    dry_run: bool = False
    concurrency: int = 4
    on_error: OnError = "continue"

    @property
    def target(self) -> Resource:
        return catalogue().get(self.resource, "destination")


def destination_schema() -> dict[str, Any]:
    return manifest.schema(DESTINATION_SCHEMA)


def parse_config(config: object) -> DestinationConfig:
    """A ``DestinationConfig``, or a ``ConfigurationError`` naming every problem at once."""
    if not isinstance(config, Mapping):
        raise ConfigurationError("The destination configuration must be a JSON object.")
    config = {key: value for key, value in config.items() if value is not None}  # "not set"
    problems: list[str] = []
    unknown = sorted(str(name) for name in config if name not in CONFIG_KEYS)
    if unknown:
        problems.append(
            f"Unknown destination setting(s): {', '.join(unknown)}. "
            f"Allowed: {', '.join(CONFIG_KEYS)}."
        )
    resource = _configured_resource(config, problems)
    operation = _configured_operation(config, resource, problems)
    key = _configured_key(config, resource, operation, problems)
    dry_run = _configured_dry_run(config, problems)
    concurrency = _configured_concurrency(config, problems)
    on_error = _configured_on_error(config, problems)
    if not problems:
        problems.extend(_schema_problems(config))
    if problems:
        raise ConfigurationError("Invalid destination configuration. " + " ".join(problems))
    assert resource is not None
    assert operation is not None
    return DestinationConfig(
        resource=resource.name,
        operation=operation,
        key=key,
        dry_run=dry_run,
        concurrency=concurrency,
        on_error=on_error,
    )


def _configured_resource(config: Mapping[str, Any], problems: list[str]) -> Resource | None:
    names = ", ".join(catalogue().names("destination"))
    if "resource" not in config:
        problems.append(f"'resource' is required; choose one of: {names}.")
        return None
    try:
        return catalogue().get(config["resource"], "destination")
    except ConfigurationError as error:
        problems.append(error.message)
        return None


def _configured_operation(
    config: Mapping[str, Any], resource: Resource | None, problems: list[str]
) -> str | None:
    operation = config.get("operation")
    supported = ", ".join(resource.write_operations) if resource else None
    if operation is None:
        hint = f" for {resource.name}: {supported}" if resource else ""
        problems.append(f"'operation' is required; choose one of the supported operations{hint}.")
        return None
    if not isinstance(operation, str):
        problems.append("'operation' must be text, such as \"create\".")
        return None
    if resource is not None and operation not in resource.write_operations:
        problems.append(
            f"Resource {resource.name!r} does not support operation {_shown(operation)}; "
            f"supported: {supported}."
        )
        return None
    return operation


def _configured_key(
    config: Mapping[str, Any],
    resource: Resource | None,
    operation: str | None,
    problems: list[str],
) -> str | None:
    key = config.get("key")
    if key is None or resource is None or operation is None:
        return None
    if operation != UPSERT:
        problems.append(
            f"'key' applies only to operation \"upsert\"; remove it for {operation!r}."
        )
        return None
    if key != resource.upsert_key:
        problems.append(
            f"{resource.name} can only be upserted by {resource.upsert_key!r}, "
            f"not by {_shown(key)}."
        )
        return None
    return resource.upsert_key


def _configured_dry_run(config: Mapping[str, Any], problems: list[str]) -> bool:
    dry_run = config.get("dry_run", False)
    if not isinstance(dry_run, bool):
        problems.append("'dry_run' must be true or false.")
        return False
    return dry_run


def _configured_concurrency(config: Mapping[str, Any], problems: list[str]) -> int:
    limits = catalogue()
    concurrency = config.get("concurrency", limits.default_write_concurrency)
    upper = limits.max_write_concurrency
    valid = isinstance(concurrency, int) and not isinstance(concurrency, bool)
    if not valid or not 1 <= concurrency <= upper:
        problems.append(f"'concurrency' must be a whole number from 1 to {upper}.")
        return limits.default_write_concurrency
    return int(concurrency)


def _configured_on_error(config: Mapping[str, Any], problems: list[str]) -> OnError:
    on_error = config.get("on_error", "continue")
    for choice in ON_ERROR_CHOICES:
        if on_error == choice:
            return choice
    problems.append("'on_error' must be \"continue\" or \"abort\".")
    return "continue"


def _schema_problems(config: Mapping[str, Any]) -> list[str]:
    """The schema as a backstop: whatever it still refuses, in our words."""
    problems = schema_problems(validator(f"schemas/{DESTINATION_SCHEMA}"), dict(config),
                               whole="the configuration")
    return [f"'{name}' {' and '.join(messages)}." for name, messages in problems.items()]


def _shown(value: object) -> str:
    """A value quoted for a message, shortened so that a huge value does not flood it."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_VALUE else text[: MAX_SHOWN_VALUE - 3] + "..."


# ----------------------------------------------------------------------------- input


@dataclass(frozen=True)
class UnreadableRecord:
    """An input record its reader could not read (such as a damaged line of a file): its
    result is ``rejected`` with ``reason``, and it is never sent."""

    reason: str


# ----------------------------------------------------------------------------- results


class _RecordRejected(Exception):
    """The record cannot be written as given: local validation or Procurify refused it."""

    def __init__(self, message: str, details: Mapping[str, tuple[str, ...]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


def _rejected_for_fields(problems: FieldProblems) -> _RecordRejected:
    details = {name: tuple(messages) for name, messages in problems.items()}
    return _RecordRejected(f"Invalid record: {describe(problems)}.", details)


def _result_for_error(index: int, error: ProcurifyError) -> WriteResult:
    if isinstance(error, ApiError) and _is_refusal(error.status):
        return WriteResult(index, "rejected", error=error.message, details=error.field_errors)
    return WriteResult(index, "failed", error=error.message)


def _is_refusal(status: int) -> bool:
    """A 4xx that is about the record itself (not the credential, permission or address)."""
    return 400 <= status < 500 and status not in (401, 403, 404, 429)


# ----------------------------------------------------------------------------- one record


@dataclass(frozen=True)
class _Prepared:
    """A validated record: what to send, and where. ``defaulted`` names the fields the
    connector added (Procurify computes them); they are not the user's and are never
    compared with, or patched onto, an existing record."""

    body: dict[str, Any]
    target_id: str | int | None = None
    key_value: str | None = None
    defaulted: frozenset[str] = frozenset()

    @property
    def given(self) -> dict[str, Any]:
        """The fields the record itself gave."""
        return {name: value for name, value in self.body.items()
                if name not in self.defaulted}


class _RecordWriter:
    """Writes one record at a time; shared by the worker threads of one ``write`` call."""

    def __init__(
        self,
        session: ProcurifySession,
        config: DestinationConfig,
        sleep: Callable[[float], None],
    ) -> None:
        self.session = session
        self.config = config
        self.resource = config.target
        self.sleep = sleep
        self.operation = self._effective_operation()
        self.update_operation = self._upsert_update_operation()
        schema_path = self.operation.request_schema
        self.validator = validator(schema_path) if schema_path else None
        if self.operation.deprecated_for is not None:
            log.warning(
                "Procurify deprecates %s %s (%s %s): prefer operation %r.",
                self.resource.name, self.operation.name, self.operation.method,
                self.operation.path, self.operation.deprecated_for,
            )
        self._stopped: str | None = None
        # Recent input positions that failed because Procurify was unavailable.
        self._outages: set[int] = set()
        self._lock = threading.Lock()
        # Per worker thread: whether a writing request was attempted for the current record.
        self._local = threading.local()

    def _effective_operation(self) -> Operation:
        name = "create" if self.config.operation == UPSERT else self.config.operation
        return self.resource.operation(name)

    def _upsert_update_operation(self) -> Operation | None:
        if self.config.operation != UPSERT:
            return None
        operations = self.resource.operations
        return operations.get("patch") or operations.get("update")

    # The id or key that names the Procurify record a record addresses (for ordering).
    def addressed(self, record: object) -> Hashable | None:
        if not isinstance(record, Mapping):
            return None
        name = self._address_field()
        value = record.get(name) if name else None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return (name, value)
        return None

    def _address_field(self) -> str | None:
        if self.config.operation == UPSERT:
            return self.resource.upsert_key
        if self.operation.id_field:
            return self.operation.id_field
        return self.resource.lookup.field if self.resource.lookup else None

    def write(self, index: int, record: object) -> WriteResult:
        stopped = self._stopped
        if stopped is not None:
            return WriteResult(index, "failed", error=stopped)
        self._local.write_attempted = False
        try:
            result = self._write(index, record)
        except _RecordRejected as rejection:
            return WriteResult(index, "rejected", error=rejection.message,
                               details=rejection.details)
        except AuthenticationError as error:
            self._stop(error.message)
            return WriteResult(index, "failed", error=error.message)
        except ProcurifyError as error:
            self._note_failure(index, error)
            return _result_for_error(index, error)
        except Exception as error:
            log.exception("Unexpected error while writing record %d", index)
            if getattr(self._local, "write_attempted", False):
                outcome = "it may or may not have been written"
            else:
                outcome = "it was not written"
            return WriteResult(
                index,
                "failed",
                error=f"Unexpected {type(error).__name__} while writing this record; "
                f"{outcome}. Please report this.",
            )
        return result

    # ---- circuits: stop calling Procurify when it cannot help any later record

    def _stop(self, message: str) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = message

    def _note_failure(self, index: int, error: ProcurifyError) -> None:
        cause = _circuit_cause(error)
        if isinstance(cause, RateLimitError):
            self._stop(f"Not sent: the run stopped calling Procurify after record {index} "
                       f"failed. {cause.message}")
        elif isinstance(cause, TransientError) and self._outage_run_ends_at(index):
            self._stop(f"Not sent: the run stopped calling Procurify after "
                       f"{TRANSIENT_FAILURES_TO_STOP} records in a row failed because it "
                       f"was unavailable (the last, record {index}: {cause.message})")

    def _outage_run_ends_at(self, index: int) -> bool:
        """Whether ``index`` completes a run of consecutive input positions (in input order,
        whatever order they finished in) that all failed because Procurify was unavailable."""
        needed = TRANSIENT_FAILURES_TO_STOP
        with self._lock:
            self._outages.add(index)
            if len(self._outages) > OUTAGE_MEMORY:
                self._outages = {seen for seen in self._outages if seen > index - OUTAGE_MEMORY}
            return any(
                all(first + step in self._outages for step in range(needed))
                for first in range(index - needed + 1, index + 1)
            )

    def _send_write(
        self, method: str, path: str, **options: Unpack[RequestFields]
    ) -> requests.Response:
        """A writing request (POST, PUT, PATCH): from here on it may have taken effect."""
        self._local.write_attempted = True
        return self.session.request(method, path, **options)

    def _write(self, index: int, record: object) -> WriteResult:
        prepared = self._prepare(record)
        operation = self.config.operation
        if operation == UPSERT:
            return self._upsert(index, prepared)
        if self.config.dry_run:
            return WriteResult(index, "validated", id=prepared.target_id)
        if operation == "create":
            return self._create(index, prepared)
        if self.operation.request_schema is None:
            return self._act(index, prepared)
        return self._replace(index, self.operation, prepared)

    # ---- preparation

    def _prepare(self, record: object) -> _Prepared:
        if isinstance(record, UnreadableRecord):
            raise _RecordRejected(record.reason, {"record": ("could not be read",)})
        if not isinstance(record, Mapping):
            raise _RecordRejected(
                f"The record must be a JSON object, not {_json_kind(record)}.",
                {"record": ("must be a JSON object",)},
            )
        _check_nesting(record)
        try:
            body, defaulted = self._body(record)
            problems = schema_problems(self.validator, body) if self.validator else {}
            target_id = self._target_id(record, problems)
            key_value = self._upsert_key_value(record, problems)
            if problems:
                raise _rejected_for_fields(problems)
            _check_json(body)
        except RecursionError:
            raise _too_deep("record") from None
        return _Prepared(body=body, target_id=target_id, key_value=key_value,
                         defaulted=defaulted)

    def _target_id(self, record: Mapping[str, Any], problems: FieldProblems) -> int | None:
        id_field = self.operation.id_field
        if id_field is None:
            return None
        value = record.get(id_field)
        if value is None:
            problems.setdefault(id_field, []).append(
                f"is required: it says which {self.resource.title} record to "
                f"{self.config.operation}"
            )
            return None
        # Every id in Procurify's write paths is an integer (the contract's path parameters);
        # digits as text (from a CSV) are the same id. Nothing else goes into a URL path.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and SAFE_ID.fullmatch(value):
            return int(value)  # results carry the id as Procurify does: a number
        problems.setdefault(id_field, []).append(
            "must be a whole number (Procurify's id of the record)"
        )
        return None

    def _upsert_key_value(self, record: Mapping[str, Any], problems: FieldProblems) -> str | None:
        if self.config.operation != UPSERT:
            return None
        key = self.resource.upsert_key
        assert key is not None
        value = record.get(key)
        if not isinstance(value, str) or not value:
            problems.setdefault(key, []).append(
                "is required (non-empty text) for an upsert: it is how the record is found"
            )
            return None
        return value

    def _body(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        """The record as sent (what is validated): without the id field unless the schema
        declares it, with the operation's defaults for the fields it leaves out (and their
        names); an action (close, reopen, deactivate) sends no body."""
        if self.operation.request_schema is None:
            return {}, frozenset()
        body = dict(record)
        id_field = (self.update_operation or self.operation).id_field
        schema = self.validator.schema if self.validator else None
        declared = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        if id_field is not None and id_field not in declared:
            body.pop(id_field, None)
        defaulted = frozenset(name for name in self.operation.defaults if name not in body)
        body.update({name: self.operation.defaults[name] for name in defaulted})
        return body, defaulted

    # ---- operations

    def _create(self, index: int, prepared: _Prepared) -> WriteResult:
        path = self.operation.path
        action = f"create a {self.resource.title} record (POST {path})"
        uncertainty = ""
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            try:
                outcome = self._post(path, self._payload(prepared), action)
            except ApiError as refusal:
                if attempt == 1 or refusal.status != 400:
                    raise
                # A re-sent POST refused (e.g. "duplicate external_id"): the first one may
                # have committed after all, and only now be visible to the lookup.
                found = self._confirm_creation(prepared, "HTTP 400 to the re-sent POST", attempt)
                if found is None:
                    raise
                log.info("Record %d: a re-sent POST was refused; the first one created it", index)
                return self._confirmed(index, prepared, found)
            if isinstance(outcome, requests.Response):
                status = outcome.status_code
                created = self._created_record(outcome)
                if created is not None:
                    return WriteResult(index, "created", id=self._id_of(created))
                # Success without the record: it probably took effect, so never sent again.
                uncertainty = f"HTTP {status} without the created record in the answer"
                found = self._confirm_creation(prepared, uncertainty, attempt)
                if found is None:
                    raise _MaybeCreated(
                        f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}; no record was "
                        f"found by {self._lookup_field()} afterwards)."
                    )
                return self._confirmed(index, prepared, found)
            uncertainty = outcome.rstrip(".")  # it goes inside a sentence
            found = self._confirm_creation(prepared, uncertainty, attempt)
            if found is not None:
                log.info("Record %d: found by lookup after: %s", index, uncertainty)
                return self._confirmed(index, prepared, found)
            log.info("Record %d not found after: %s; sending it again", index, uncertainty)
        raise _NotCreated(
            f"Procurify did not confirm the creation after {MAX_CREATE_ATTEMPTS} "
            f"attempts ({uncertainty}) and the record was not found by "
            f"{self._lookup_field()}: it was not created. Try again later."
        )

    def _confirmed(
        self, index: int, prepared: _Prepared, found: Mapping[str, Any]
    ) -> WriteResult:
        """The record found by its key after an uncertain POST: created by it when it holds
        what was sent; otherwise the key already belonged to another record."""
        found_id = self._id_of(found)
        if self._as_sent(prepared, found):
            return WriteResult(index, "created", id=found_id)
        field_name = self._lookup_field()
        shown = str(found_id)[:MAX_SHOWN_VALUE]
        raise _RecordRejected(
            f"A {self.resource.title} record with this {field_name} already exists in "
            f"Procurify (id {shown}) with other values, so this record was not created: "
            f"update that record instead, or use another {field_name}.",
            {field_name: (f"already belongs to the {self.resource.title} record {shown}",)},
        )

    def _payload(self, prepared: _Prepared) -> Any:
        """The request body: the record, or a list holding it (``POST /api/v3/users`` takes
        a list of invitations: one record is one invitation)."""
        return [prepared.body] if self.operation.body == "array" else prepared.body

    def _as_sent(self, prepared: _Prepared, existing: Mapping[str, Any]) -> bool:
        """Whether ``existing`` holds every field the record gave (under the record field
        the lookup's ``compare`` names, where request and record differ)."""
        given = prepared.given
        lookup = self.resource.lookup
        compare = lookup.compare if lookup is not None else None
        pairs = compare.items() if compare is not None else ((name, name) for name in given)
        fields = self._request_fields()
        return all(same(given[name], existing.get(stored), fields.get(name), name)
                   for name, stored in pairs if name in given)

    def _request_fields(self) -> Mapping[str, Any]:
        """The request schema's field schemas (they tell decimals and e-mails apart)."""
        schema = self.validator.schema if self.validator else None
        properties = schema.get("properties") if isinstance(schema, Mapping) else None
        return properties if isinstance(properties, Mapping) else {}

    def _post(self, path: str, body: Any, action: str) -> requests.Response | str:
        """The answer, or why it is unknown whether the POST took effect."""
        try:
            response = self._send_write("POST", path, data=_encode(body), headers=JSON_HEADERS)
        except ConnectionFailedError as error:
            if not error.request_sent:
                raise
            return error.message
        if post_outcome_unknown(response.status_code):
            response.close()
            return f"HTTP {response.status_code}"
        if response.status_code >= 300:
            refusal = error_for_response(response, action)
            response.close()
            if self.operation.body == "array" and isinstance(refusal, ApiError):
                raise _without_list_position(refusal, action)
            raise refusal
        return response

    def _confirm_creation(
        self, prepared: _Prepared, uncertainty: str, attempt: int
    ) -> Mapping[str, Any] | None:
        """The record found by its lookup key after an uncertain POST, or ``None``."""
        lookup = self.resource.lookup
        value = prepared.body.get(lookup.field) if lookup else None
        if lookup is None or not isinstance(value, str | int) or value in ("", None):
            raise _MaybeCreated(f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}).")
        matches: list[Mapping[str, Any]] = []
        # Procurify's lists may lag a few seconds behind a write: a record not found at first
        # is looked for again, with growing pauses, before it counts as not created.
        for pause in LOOKUP_PAUSES:
            self.sleep(pause * attempt)
            try:
                matches = self._find(value)
            except ProcurifyError as error:
                raise _MaybeCreated(
                    f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}; the check by "
                    f"{lookup.field} failed too: {error.message})"
                ) from error
            if matches:
                break
        if len(matches) > 1:
            raise _MaybeCreated(
                f"{MAY_HAVE_BEEN_CREATED}: {len(matches)} records now have this {lookup.field}."
            )
        if not matches and not lookup.conclusive:
            # A free-text search that finds nothing proves nothing: never sent again.
            raise _MaybeCreated(
                f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}; a search by "
                f"{lookup.field} did not find it, which does not prove it was not created)."
            )
        return matches[0] if matches else None

    def _created_record(self, response: requests.Response) -> Mapping[str, Any] | None:
        """The record in a create's answer, where the operation's ``answer`` says it is:
        ``{"data": record, "metadata": ...}`` (most), ``{"data": [record]}`` (user
        invitations: one sent, so exactly one expected) or the bare record (payment methods,
        whose own ``data`` field holds payment details). ``None`` when it is not there with
        its id (the resource's key: ``uuid`` for requisitions)."""
        try:
            body = json_body(response, "read the created record")
        except ProcurifyError:
            return None
        finally:
            response.close()
        if not isinstance(body, Mapping):
            return None
        answer = self.operation.answer
        record: object = body
        if answer == "data":
            record = body.get("data")
        elif answer == "data_list":
            data = body.get("data")
            record = data[0] if isinstance(data, list) and len(data) == 1 else None
        if isinstance(record, Mapping) and self._id_of(record) is not None:
            return record
        return None

    def _replace(self, index: int, operation: Operation, prepared: _Prepared) -> WriteResult:
        assert prepared.target_id is not None
        path = _fill(operation, prepared.target_id)
        action = f"{operation.name} {self.resource.title} {prepared.target_id} " \
                 f"({operation.method} {path})"
        response = self._send_write(operation.method, path, data=_encode(prepared.body),
                                    headers=JSON_HEADERS)
        raise_for_response(response, action)
        response.close()
        return WriteResult(index, "updated", id=prepared.target_id)

    def _act(self, index: int, prepared: _Prepared) -> WriteResult:
        assert prepared.target_id is not None
        path = _fill(self.operation, prepared.target_id)
        action = f"{self.config.operation} {self.resource.title} {prepared.target_id}"
        try:
            response = self._send_write(self.operation.method, path)
        except ConnectionFailedError as error:
            if not error.request_sent:
                raise
            return self._maybe_acted(index, action, error.message)
        if post_outcome_unknown(response.status_code):
            response.close()
            return self._maybe_acted(index, action, f"HTTP {response.status_code}")
        raise_for_response(response, action)
        response.close()
        return WriteResult(index, "updated", id=prepared.target_id)

    def _upsert(self, index: int, prepared: _Prepared) -> WriteResult:
        assert prepared.key_value is not None
        matches = self._find(prepared.key_value)
        if len(matches) > 1:
            ids = ", ".join(str(self._id_of(match)) for match in matches[:5])
            raise _RecordRejected(
                f"Ambiguous key: {len(matches)} {self.resource.title} records have this "
                f"{self._lookup_field()} (ids {ids}); make it unique in Procurify first.",
                {self._lookup_field(): ("matches more than one record",)},
            )
        if not matches:
            if self.config.dry_run:
                return WriteResult(index, "validated")
            return self._create(index, prepared)
        existing = matches[0]
        found_id = self._id_of(existing)
        if self._as_sent(prepared, existing):
            return WriteResult(index, "unchanged", id=found_id)
        if self.config.dry_run:
            return WriteResult(index, "validated", id=found_id)
        if not isinstance(found_id, str | int) or isinstance(found_id, bool):
            raise ProcurifyError(
                f"Procurify listed the matching {self.resource.title} record without an id."
            )
        update = self.update_operation
        assert update is not None
        # A PATCH changes only the record's own fields; a PUT replaces, so it needs them all.
        body = prepared.given if update.method == "PATCH" else prepared.body
        return self._replace(index, update, _Prepared(body, target_id=found_id))

    # ---- lookups

    def _lookup_field(self) -> str:
        lookup = self.resource.lookup
        return lookup.field if lookup else "key"

    def _find(self, value: str | int) -> list[Mapping[str, Any]]:
        """The records whose lookup field equals ``value`` (``GET <list>?<filter>=<value>``),
        from every page of the answer (at most ``MAX_LOOKUP_PAGES``)."""
        lookup = self.resource.lookup
        assert lookup is not None
        path = self.resource.list_path({})
        action = f"look up {self.resource.title} by {lookup.field} (GET {path})"
        matches: dict[Any, Mapping[str, Any]] = {}
        key_schema = self._request_fields().get(lookup.field)
        # Procurify stores the key trimmed (DRF's default), so it is looked for trimmed.
        wanted = value.strip() if isinstance(value, str) else value
        page, num_pages = 1, 1
        while page <= num_pages:
            params: dict[str, str | int] = {lookup.filter: wanted, "page_size": LOOKUP_PAGE_SIZE}
            if page > 1:
                params["page"] = page
            answer = self.session.request_json("GET", path, params=params)
            response, body = answer.response, answer.body
            raise_for_response(response, action)
            data = body.get("data") if isinstance(body, Mapping) else None
            if not isinstance(data, list):
                raise ProcurifyError(
                    f"Procurify's answer to {action} had no 'data' list; try again later."
                )
            if page == 1:
                num_pages = max(pagination_value(body, "num_pages") or 1, 1)
                if num_pages > MAX_LOOKUP_PAGES:
                    raise ProcurifyError(
                        f"The lookup to {action} is too broad: Procurify answered "
                        f"{num_pages} pages (more than {MAX_LOOKUP_PAGES}) for one "
                        f"{lookup.field}, so it seems to ignore the {lookup.filter!r} filter."
                    )
            # Filtered again here: an ignored filter must not make every record a match.
            # A record seen on two pages (the list shifted meanwhile) counts once.
            for position, item in enumerate(data):
                if isinstance(item, Mapping) and same(value, item.get(lookup.field),
                                                      key_schema, lookup.field):
                    found_id = self._id_of(item)
                    seen = found_id if isinstance(found_id, str | int) else (page, position)
                    matches.setdefault(seen, item)
            page += 1
        return list(matches.values())

    def _id_field(self) -> str:
        return self.resource.key[0] if self.resource.key else "id"

    def _id_of(self, record: Mapping[str, Any] | None) -> Any:
        if not isinstance(record, Mapping):
            return None
        return record.get(self._id_field())

    def _maybe_acted(self, index: int, action: str, uncertainty: str) -> WriteResult:
        return WriteResult(
            index,
            "failed",
            error=f"Procurify may have carried out the request to {action} ({uncertainty}): "
            f"check the {self.resource.title.lower()} record in Procurify before trying again.",
        )


class _MaybeCreated(ProcurifyError):
    """A POST may have taken effect and there is no way to tell: ``failed``, never re-sent."""


class _NotCreated(TransientError):
    """Every POST attempt had an unknown outcome and the record was never found."""


def _without_list_position(error: ApiError, action: str) -> ApiError:
    """Procurify's field errors for a list body (``[{"email": [...]}]``, flattened to
    ``0.email``) named as the fields of the one record sent (``email``)."""
    if not error.field_errors:
        return error
    details = {
        ("non_field_errors" if name == "0" else name.removeprefix("0.")): messages
        for name, messages in error.field_errors.items()
    }
    return ApiError(
        f"Procurify refused the request to {action} (HTTP {error.status}): "
        f"{describe_field_errors(details)}",
        status=error.status,
        field_errors=details,
    )


def _circuit_cause(error: BaseException) -> BaseException:
    """The rate limit or outage behind ``error`` (such as a lookup that checked a POST)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RateLimitError | TransientError):
            return seen
        seen = seen.__cause__
    return error


def _fill(operation: Operation, target_id: str | int) -> str:
    assert operation.id_field is not None
    return operation.path.replace("{" + operation.id_field + "}", quote(str(target_id), safe=""))


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _check_nesting(record: Mapping[str, Any]) -> None:
    """Refuse a field nested more than ``MAX_NESTING_DEPTH`` levels (or holding itself),
    without recursion: validation and encoding would otherwise exhaust the stack."""
    for name, value in record.items():
        pending: list[tuple[object, int]] = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, Mapping):
                children: Iterable[object] = item.values()
            elif isinstance(item, list | tuple):
                children = item
            else:
                continue
            if depth > MAX_NESTING_DEPTH:
                raise _too_deep(str(name)[:MAX_SHOWN_VALUE])
            pending.extend((child, depth + 1) for child in children)


def _too_deep(name: str) -> _RecordRejected:
    reason = f"is nested too deeply (more than {MAX_NESTING_DEPTH} levels of lists or objects)"
    return _RecordRejected(f"Invalid record: {name} {reason}.", {name: (reason,)})


def _check_json(body: Mapping[str, Any]) -> None:
    try:
        _encode(body)
    except (TypeError, ValueError):
        raise _RecordRejected(
            "The record holds a value that cannot be sent as JSON (such as NaN, infinity, "
            "a date object or bytes): convert it to text or a number first.",
            {"record": ("holds a value that is not JSON",)},
        ) from None


def _json_kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


# ----------------------------------------------------------------------------- the run


class _AbortSignal:
    """Remembers the first (lowest index) failed record of an ``on_error: abort`` run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failed_index: int | None = None

    def note(self, result: WriteResult) -> None:
        if result.status != "failed":
            return
        with self._lock:
            if self._failed_index is None or result.index < self._failed_index:
                self._failed_index = result.index

    @property
    def tripped(self) -> bool:
        return self._failed_index is not None

    def skips(self, index: int) -> bool:
        failed = self._failed_index
        return failed is not None and index > failed

    def skipped(self, index: int) -> WriteResult:
        return WriteResult(
            index,
            "failed",
            error=f"Not written: the run stopped after record {self._failed_index} failed "
            "(on_error is \"abort\").",
        )


class _TurnTaker:
    """Lets records that address the same Procurify record run one at a time, in input order.

    Tickets are taken on the submitting thread in input order; a worker waits for its turn.
    Only keys with a record in flight are held, so memory follows the window, not the input.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queues: dict[Hashable, deque[int]] = {}

    def take_ticket(self, key: Hashable | None, index: int) -> None:
        if key is None:
            return
        with self._changed:
            self._queues.setdefault(key, deque()).append(index)

    @contextmanager
    def turn(self, key: Hashable | None, index: int) -> Iterator[None]:
        if key is None:
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: self._queues[key][0] == index)
        try:
            yield
        finally:
            with self._changed:
                queue = self._queues[key]
                queue.popleft()
                if not queue:
                    del self._queues[key]
                self._changed.notify_all()


@dataclass
class _Run:
    """One ``write`` call's moving parts (never shared between calls)."""

    writer: _RecordWriter
    abort: _AbortSignal | None
    turns: _TurnTaker = field(default_factory=_TurnTaker)

    def handle(self, index: int, record: object, key: Hashable | None) -> WriteResult:
        with self.turns.turn(key, index):
            if self.abort is not None and self.abort.skips(index):
                return self.abort.skipped(index)
            result = self.writer.write(index, record)
        if self.abort is not None:
            self.abort.note(result)
        return result

    @property
    def stopped(self) -> bool:
        return self.abort is not None and self.abort.tripped


def write(
    session: ProcurifySession,
    config: Mapping[str, Any],
    records: Iterable[Mapping[str, Any]],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[WriteResult]:
    """Write ``records``; yield exactly one ``WriteResult`` per record taken, in input order.

    The configuration is checked before anything is sent (``ConfigurationError``). Records are
    taken lazily: at most ``2 * concurrency`` are in flight, so memory stays flat.
    ``sleep`` is the pause before a confirming lookup (tests pass a no-op).
    """
    parsed = parse_config(config)
    run = _Run(
        writer=_RecordWriter(session, parsed, sleep),
        abort=_AbortSignal() if parsed.on_error == "abort" else None,
    )
    return _results(run, iter(records), parsed.concurrency)


def _results(run: _Run, records: Iterator[Any], concurrency: int) -> Iterator[WriteResult]:
    if concurrency == 1:
        yield from _sequential(run, records)
    else:
        yield from _concurrent(run, records, concurrency)


def _sequential(run: _Run, records: Iterator[Any]) -> Iterator[WriteResult]:
    for index, record in enumerate(records):
        yield run.handle(index, record, None)
        if run.stopped:
            return


def _concurrent(run: _Run, records: Iterator[Any], concurrency: int) -> Iterator[WriteResult]:
    window: deque[Future[WriteResult]] = deque()
    limit = WINDOW_PER_WORKER * concurrency
    numbered = enumerate(records)
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="procurify-write")
    input_error: BaseException | None = None
    try:
        while True:
            while input_error is None and len(window) < limit and not run.stopped:
                try:
                    index, record = next(numbered)
                except StopIteration:
                    break
                except Exception as error:  # the input itself failed: finish, then re-raise
                    input_error = error
                    break
                key = run.writer.addressed(record)
                run.turns.take_ticket(key, index)
                window.append(pool.submit(run.handle, index, record, key))
            if not window:
                break
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if input_error is not None:
        raise input_error


__all__ = ["DestinationConfig", "UnreadableRecord", "parse_config", "write"]
