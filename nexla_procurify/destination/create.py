"""Creating a record: the POST whose outcome may be unknown, and its confirmation.

The riskiest code of the destination, alone in its file: a creation must never be duplicated.
A ``POST`` is retried by the HTTP policy only when it surely took no effect. When it may have
(HTTP 500/502/504, a timeout, a connection dropped after sending, a 2xx without the created
record), the record is looked up by the resource's lookup key after growing pauses
(``LOOKUP_PAUSES``): found as sent means created; found with other values means the key was
taken (``rejected``); not found by a conclusive lookup means it is sent again, at most
``MAX_CREATE_ATTEMPTS`` times in all. Without a conclusive lookup, or when the check itself
fails, the record is ``failed`` with "may have been created" and never sent again.
"""

from __future__ import annotations

__all__ = [
    "LOOKUP_PAUSES",
    "MAX_CREATE_ATTEMPTS",
    "MAY_HAVE_BEEN_CREATED",
    "Creator",
    "MaybeCreated",
    "NotCreated",
]

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests

from nexla_procurify.destination.attempt import Attempt, RecordRejected
from nexla_procurify.destination.config import MAX_SHOWN_VALUE
from nexla_procurify.destination.lookup import as_sent, find
from nexla_procurify.destination.prepare import Plan, Prepared
from nexla_procurify.errors import (
    ApiError,
    ConnectionFailedError,
    ProcurifyError,
    TransientError,
)
from nexla_procurify.http import (
    describe_field_errors,
    error_for_response,
    json_body,
    post_outcome_unknown,
)
from nexla_procurify.messages import WriteResult

log = logging.getLogger("nexla_procurify.destination")  # one name for the whole destination

MAX_CREATE_ATTEMPTS = 3
# Pauses (seconds, times the attempt number) before each lookup that checks an uncertain
# POST: a record Procurify's list does not show yet is looked for again, for about 7.5 s after
# the first attempt (15 s after the second), before it counts as not created.
LOOKUP_PAUSES = (0.5, 1.0, 2.0, 4.0)
MAY_HAVE_BEEN_CREATED = (
    "The record may have been created in Procurify: check before writing it again"
)


class MaybeCreated(ProcurifyError):
    """A POST may have taken effect and there is no way to tell: ``failed``, never re-sent."""


class NotCreated(TransientError):
    """Every POST attempt had an unknown outcome and the record was never found."""


class Creator:
    """Creates records of one plan; shared by the worker threads of one run (it keeps no
    state of its own: each record's lives in its ``Attempt``)."""

    def __init__(self, plan: Plan, sleep: Callable[[float], None]) -> None:
        self.plan = plan
        self.sleep = sleep

    def create(self, attempt: Attempt, prepared: Prepared) -> WriteResult:
        """Create the record: POST, and when the outcome is unknown confirm it by looking the
        record up before any retry."""
        index = attempt.index
        path = self.plan.operation.path
        action = f"create a {self.plan.resource.title} record (POST {path})"
        uncertainty = ""
        for number in range(1, MAX_CREATE_ATTEMPTS + 1):
            try:
                outcome = self._post(attempt, path, self._payload(prepared), action)
            except ApiError as refusal:
                if number == 1 or refusal.status != 400:
                    raise
                # A re-sent POST refused (e.g. "duplicate external_id"): the first one may
                # have committed after all, and only now be visible to the lookup.
                found = self._confirm_creation(
                    attempt, prepared, "HTTP 400 to the re-sent POST", number
                )
                if found is None:
                    raise
                log.info("Record %d: a re-sent POST was refused; the first one created it", index)
                return self._confirmed(index, prepared, found)
            if isinstance(outcome, requests.Response):
                status = outcome.status_code
                created = self._created_record(outcome)
                if created is not None:
                    return WriteResult(index, "created", id=self.plan.id_of(created))
                # Success without the record: it probably took effect, so never sent again.
                uncertainty = f"HTTP {status} without the created record in the answer"
                found = self._confirm_creation(attempt, prepared, uncertainty, number)
                if found is None:
                    raise MaybeCreated(
                        f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}; no record was "
                        f"found by {self.plan.lookup_field} afterwards)."
                    )
                return self._confirmed(index, prepared, found)
            uncertainty = outcome.rstrip(".")  # it goes inside a sentence
            found = self._confirm_creation(attempt, prepared, uncertainty, number)
            if found is not None:
                log.info("Record %d: found by lookup after: %s", index, uncertainty)
                return self._confirmed(index, prepared, found)
            log.info("Record %d not found after: %s; sending it again", index, uncertainty)
        raise NotCreated(
            f"Procurify did not confirm the creation after {MAX_CREATE_ATTEMPTS} "
            f"attempts ({uncertainty}) and the record was not found by "
            f"{self.plan.lookup_field}: it was not created. Try again later."
        )

    def _confirmed(self, index: int, prepared: Prepared, found: Mapping[str, Any]) -> WriteResult:
        """The record found by its key after an uncertain POST: created by it when it holds
        what was sent; otherwise the key already belonged to another record."""
        found_id = self.plan.id_of(found)
        if as_sent(self.plan, prepared, found):
            return WriteResult(index, "created", id=found_id)
        field_name = self.plan.lookup_field
        title = self.plan.resource.title
        shown = str(found_id)[:MAX_SHOWN_VALUE]
        raise RecordRejected(
            f"A {title} record with this {field_name} already exists in "
            f"Procurify (id {shown}) with other values, so this record was not created: "
            f"update that record instead, or use another {field_name}.",
            {field_name: (f"already belongs to the {title} record {shown}",)},
        )

    def _payload(self, prepared: Prepared) -> Any:
        """The request body: the record, or a list holding it (``POST /api/v3/users`` takes
        a list of invitations: one record is one invitation)."""
        return [prepared.body] if self.plan.operation.body == "array" else prepared.body

    def _post(self, attempt: Attempt, path: str, body: Any, action: str) -> requests.Response | str:
        """The answer, or why it is unknown whether the POST took effect."""
        try:
            response = attempt.send("POST", path, body)
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
            if self.plan.operation.body == "array" and isinstance(refusal, ApiError):
                raise _without_list_position(refusal, action)
            raise refusal
        return response

    def _confirm_creation(
        self, attempt: Attempt, prepared: Prepared, uncertainty: str, number: int
    ) -> Mapping[str, Any] | None:
        """The record found by its lookup key after an uncertain POST (the ``number``-th
        attempt), or ``None``."""
        lookup = self.plan.resource.lookup
        value = prepared.body.get(lookup.field) if lookup else None
        if lookup is None or not isinstance(value, str | int) or value in ("", None):
            raise MaybeCreated(f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}).")
        matches: list[Mapping[str, Any]] = []
        # Procurify's lists may lag a few seconds behind a write: a record not found at first
        # is looked for again, with growing pauses, before it counts as not created.
        for pause in LOOKUP_PAUSES:
            self.sleep(pause * number)
            try:
                matches = find(attempt, self.plan, value)
            except ProcurifyError as error:
                raise MaybeCreated(
                    f"{MAY_HAVE_BEEN_CREATED} (Procurify: {uncertainty}; the check by "
                    f"{lookup.field} failed too: {error.message})"
                ) from error
            if matches:
                break
        if len(matches) > 1:
            raise MaybeCreated(
                f"{MAY_HAVE_BEEN_CREATED}: {len(matches)} records now have this {lookup.field}."
            )
        if not matches and not lookup.conclusive:
            # A free-text search that finds nothing proves nothing: never sent again.
            raise MaybeCreated(
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
        answer = self.plan.operation.answer
        record: object = body
        if answer == "data":
            record = body.get("data")
        elif answer == "data_list":
            data = body.get("data")
            record = data[0] if isinstance(data, list) and len(data) == 1 else None
        if isinstance(record, Mapping) and self.plan.id_of(record) is not None:
            return record
        return None


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
