"""The ``nexla-procurify`` command line (entry point ``nexla_procurify.cli:main``).

Modules: ``process`` (what every console script of the package does around its work:
logging, exit statuses, errors as a message and a status), ``program`` (dispatch),
``arguments`` (the parser and the configuration the flags give), ``inputs`` (credential,
configuration, state and record input), ``running`` (stop signals, progress, closing an
unfinished read), ``commands`` (one function per command) and ``demo`` (the guided tour, the
only one that needs the sandbox, which is imported only when it runs).
"""

from __future__ import annotations

__all__ = ["ENV_FIELDS", "InputRecords", "Progress", "load_credential", "main"]

from nexla_procurify.cli.inputs import ENV_FIELDS, InputRecords, load_credential
from nexla_procurify.cli.program import main
from nexla_procurify.cli.running import Progress
