"""``python -m nexla_procurify``: the command line (see ``nexla_procurify.cli``)."""

__all__: list[str] = []

from nexla_procurify.cli import main

raise SystemExit(main())
