#!/usr/bin/env bash
# The local chain (Anvil + EigenLayer contracts + the devnet AVSs): build | up | down | status | manifest.
# See docs/devnet.md. Runs hack/devnet/cli.py with the project's virtualenv from the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
PYTHONPATH="$PWD/executor:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m hack.devnet.cli "$@"
