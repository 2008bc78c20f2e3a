"""The Singer tap ``tap-procurify`` (Meltano runs it as an extractor).

Modules: ``catalog`` (discovery with the standard metadata, and the selection an input catalog
makes), ``state`` (``{"bookmarks": {stream: state}}``), ``tap`` (the command). The streams are
read by ``nexla_procurify.source.many``, which the Airbyte source shares.
"""

from __future__ import annotations

__all__ = ["main"]

from nexla_procurify.tap.tap import main
