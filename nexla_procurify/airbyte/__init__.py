"""The Airbyte source ``source-procurify`` (PyAirbyte runs it as a local executable).

Modules: ``protocol`` (the messages, the catalog, configured catalogs and saved states in the
Airbyte protocol's shape) and ``source`` (the command). The streams are read by
``nexla_procurify.source.many``, which the Singer tap shares.
"""

from __future__ import annotations

__all__ = ["main"]

from nexla_procurify.airbyte.source import main
