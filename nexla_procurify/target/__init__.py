"""``target-procurify``: a Singer target that writes into Procurify through the
``write_destination`` hook (console script; also ``python -m nexla_procurify.target``).

Modules: ``config`` (settings from ``--config`` files and ``TARGET_PROCURIFY_*`` variables,
and each stream's route to a resource and operation), ``singer_input`` (the Singer messages on
standard input), ``stream_writer`` (one ``write_destination`` run per stream, fed as records
come), ``gate`` (when a STATE may be echoed, and where results go), ``run`` (one run, its
summary and exit status), ``about`` (``--about``) and ``cli`` (the command).

Decisions where the issue is silent (also in the README's target section):

* A stream goes to the resource of its name unless ``streams`` maps it; the operation defaults
  to ``upsert`` (by the resource's key) where the resource has one, and must be set otherwise.
* A STATE is echoed only once every record before it, in every stream, has a result, and only
  if none of those results is ``rejected`` or ``failed``: from the first record not written,
  no later STATE is echoed (the next run sends those records again, so that nothing is lost;
  an upsert or update makes that harmless, a ``create`` sends the records after it again).
  A dry run echoes no STATE. States with no record between them are echoed as the last one.
* Results are JSON lines ``{"stream", "index", "status", "id", "error", "details"}``, ``index``
  being the record's position in its stream; the summary and logs go to standard error too.
* ``on_error: abort`` stops the whole target: no more input is read, the streams finish the
  records they hold, and the aborted stream's queued records are ``failed`` "not written".
* Exit status: 0 when every record was written (or validated), 1 when one was not, 2 for the
  configuration or an input that is not a Singer stream, 128 + the signal when stopped.
"""

from __future__ import annotations

__all__ = ["main"]

from nexla_procurify.target.cli import main
