"""One record, from the input to its ``WriteResult``: prepare it, send it as the plan says,
and turn whatever happened into exactly one result (never an exception)."""

from __future__ import annotations

__all__ = ["RecordWriter"]

import logging
from collections.abc import Callable

from nexla_procurify.auth import ProcurifySession
from nexla_procurify.destination.attempt import Attempt, RecordRejected, result_for_error
from nexla_procurify.destination.circuit import Circuit
from nexla_procurify.destination.create import Creator
from nexla_procurify.destination.operations import Operations
from nexla_procurify.destination.prepare import Plan
from nexla_procurify.errors import AuthenticationError, ProcurifyError
from nexla_procurify.messages import WriteResult

log = logging.getLogger("nexla_procurify.destination")  # one name for the whole destination


class RecordWriter:
    """Writes one record at a time; shared by the worker threads of one ``write`` call. What
    belongs to one record lives in its ``Attempt``; what outlives it, in the ``Circuit``."""

    def __init__(
        self,
        session: ProcurifySession,
        plan: Plan,
        sleep: Callable[[float], None],
    ) -> None:
        self.session = session
        self.plan = plan
        self.circuit = Circuit()
        self.creator = Creator(plan, sleep)
        self.operations = Operations(plan, self.creator)
        operation = plan.operation
        if operation.deprecated_for is not None:
            log.warning(
                "Procurify deprecates %s %s (%s %s): prefer operation %r.",
                plan.resource.name,
                operation.name,
                operation.method,
                operation.path,
                operation.deprecated_for,
            )

    def write(self, index: int, record: object) -> WriteResult:
        """The result of writing ``record``, the ``index``-th of the input."""
        stopped = self.circuit.stopped
        if stopped is not None:
            return WriteResult(index, "failed", error=stopped)
        attempt = Attempt(index, self.session)
        try:
            return self._write(attempt, record)
        except RecordRejected as rejection:
            return rejection.result(index)
        except AuthenticationError as error:
            self.circuit.stop(error.message)
            return WriteResult(index, "failed", error=error.message)
        except ProcurifyError as error:
            self.circuit.note_failure(index, error)
            return result_for_error(index, error)
        except Exception as error:
            log.exception("Unexpected error while writing record %d", index)
            return attempt.unexpected(error)

    def _write(self, attempt: Attempt, record: object) -> WriteResult:
        plan = self.plan
        prepared = plan.prepare(record)
        if plan.upsert:
            return self.operations.upsert(attempt, prepared)
        if plan.config.dry_run:
            return WriteResult(attempt.index, "validated", id=prepared.target_id)
        if plan.config.operation == "create":
            return self.creator.create(attempt, prepared)
        if plan.operation.request_schema is None:
            return self.operations.act(attempt, prepared)
        return self.operations.replace(attempt, plan.operation, prepared)
