"""Changing records that exist: update (PUT), patch (PATCH), actions, and upsert.

An action (``close``, ``reopen``, ``deactivate``) whose outcome is unknown is ``failed`` with
"may have taken effect", never sent again. An upsert looks its key up: no match creates
(``create.py``), one match equal to every field sent is ``unchanged``, another one is changed
with ``PATCH`` where the resource has it (only the fields sent) and with ``PUT`` otherwise.
"""

from __future__ import annotations

__all__ = ["Operations", "fill"]

from urllib.parse import quote

from nexla_procurify.destination.attempt import Attempt, RecordRejected
from nexla_procurify.destination.create import Creator
from nexla_procurify.destination.lookup import as_sent, find
from nexla_procurify.destination.prepare import Plan, Prepared
from nexla_procurify.errors import ConnectionFailedError, ProcurifyError
from nexla_procurify.http import post_outcome_unknown, raise_for_response
from nexla_procurify.messages import WriteResult
from nexla_procurify.resources import Operation


class Operations:
    """The operations on existing records of one plan; shared by the worker threads of one
    run (each record's state lives in its ``Attempt``)."""

    def __init__(self, plan: Plan, creator: Creator) -> None:
        self.plan = plan
        self.creator = creator

    def replace(self, attempt: Attempt, operation: Operation, prepared: Prepared) -> WriteResult:
        """``update`` (PUT) or ``patch`` (PATCH) the record ``prepared.target_id``."""
        assert prepared.target_id is not None
        path = fill(operation, prepared.target_id)
        action = (
            f"{operation.name} {self.plan.resource.title} {prepared.target_id} "
            f"({operation.method} {path})"
        )
        response = attempt.send(operation.method, path, prepared.body)
        raise_for_response(response, action)
        response.close()
        return WriteResult(attempt.index, "updated", id=prepared.target_id)

    def act(self, attempt: Attempt, prepared: Prepared) -> WriteResult:
        """An action without a body (close, reopen, deactivate) on ``prepared.target_id``."""
        assert prepared.target_id is not None
        operation = self.plan.operation
        path = fill(operation, prepared.target_id)
        action = f"{self.plan.config.operation} {self.plan.resource.title} {prepared.target_id}"
        try:
            response = attempt.send(operation.method, path)
        except ConnectionFailedError as error:
            if not error.request_sent:
                raise
            return self._maybe_acted(attempt.index, action, error.message)
        if post_outcome_unknown(response.status_code):
            response.close()
            return self._maybe_acted(attempt.index, action, f"HTTP {response.status_code}")
        raise_for_response(response, action)
        response.close()
        return WriteResult(attempt.index, "updated", id=prepared.target_id)

    def upsert(self, attempt: Attempt, prepared: Prepared) -> WriteResult:
        """Upsert the record: find it by its key, then update it, or create it when there is
        none."""
        assert prepared.key_value is not None
        plan = self.plan
        index = attempt.index
        matches = find(attempt, plan, prepared.key_value)
        if len(matches) > 1:
            ids = ", ".join(str(plan.id_of(match)) for match in matches[:5])
            raise RecordRejected(
                f"Ambiguous key: {len(matches)} {plan.resource.title} records have this "
                f"{plan.lookup_field} (ids {ids}); make it unique in Procurify first.",
                {plan.lookup_field: ("matches more than one record",)},
            )
        if not matches:
            if plan.config.dry_run:
                return WriteResult(index, "validated")
            return self.creator.create(attempt, prepared)
        existing = matches[0]
        found_id = plan.id_of(existing)
        if as_sent(plan, prepared, existing):
            return WriteResult(index, "unchanged", id=found_id)
        if plan.config.dry_run:
            return WriteResult(index, "validated", id=found_id)
        if not isinstance(found_id, str | int) or isinstance(found_id, bool):
            raise ProcurifyError(
                f"Procurify listed the matching {plan.resource.title} record without an id."
            )
        update = plan.update
        assert update is not None
        # A PATCH changes only the record's own fields; a PUT replaces, so it needs them all.
        body = prepared.given if update.method == "PATCH" else prepared.body
        return self.replace(attempt, update, Prepared(body, target_id=found_id))

    def _maybe_acted(self, index: int, action: str, uncertainty: str) -> WriteResult:
        return WriteResult(
            index,
            "failed",
            error=f"Procurify may have carried out the request to {action} ({uncertainty}): "
            f"check the {self.plan.resource.title.lower()} record in Procurify before trying "
            "again.",
        )


def fill(operation: Operation, target_id: str | int) -> str:
    """The operation's path with the record's id in it (quoted: nothing but the id)."""
    assert operation.id_field is not None
    return operation.path.replace("{" + operation.id_field + "}", quote(str(target_id), safe=""))
