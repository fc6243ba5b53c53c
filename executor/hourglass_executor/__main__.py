"""`python -m hourglass_executor` is the `hourglass-executor` command."""

from hourglass_executor.cli import main

raise SystemExit(main())
