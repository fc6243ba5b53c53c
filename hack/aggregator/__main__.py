"""`python -m hack.aggregator`: the test aggregator's command line (hack/aggregator/cli.py)."""

import sys

from hack.aggregator.cli import main

sys.exit(main())
