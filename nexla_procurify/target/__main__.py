"""``python -m nexla_procurify.target``: the ``target-procurify`` command."""

from nexla_procurify.target.cli import main

raise SystemExit(main())
