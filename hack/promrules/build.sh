#!/usr/bin/env bash
# Builds hack/promrules (the rule-file check of `promtool check rules` and the alert unit tests of
# `promtool test rules`, from the Prometheus Go module; module versions in go.mod/go.sum, fetched from
# the Go module proxy) once per content, cached outside the repository by
# hack/lib/go-cached-build.sh. Prints the binary's path; exit status 3 without a Go toolchain, 1 on
# any other failure. tests/unit/test_monitoring.py runs it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$here/../lib/go-cached-build.sh" promrules "$here" promrules
