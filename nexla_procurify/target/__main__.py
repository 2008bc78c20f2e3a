"""``python -m nexla_procurify.target``: the ``target-procurify`` command."""

__all__: list[str] = []

from nexla_procurify.target.cli import main

raise SystemExit(main())
