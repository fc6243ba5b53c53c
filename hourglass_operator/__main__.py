"""`python -m hourglass_operator` is `hourglass-operator`."""

import sys

from hourglass_operator.cli import main

sys.exit(main())
