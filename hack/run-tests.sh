#!/usr/bin/env bash
# Runs the test suite with the project's virtualenv. pytest exits 5 when it collected no tests;
# for this project that means the suite is broken (a bad path or marker), so it is a failure
# with its own message rather than a silent pass or a bare exit code.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: check the test paths and -m/-k filters" >&2
  exit 1
fi
exit "$rc"
