from nexla_procurify.cli import main

raise SystemExit(main())
