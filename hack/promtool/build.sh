#!/usr/bin/env bash
# Builds promtool (cmd/promtool of the Prometheus Go module, version in version.env) from the Go
# module proxy into a cache directory outside the repository:
#   ${HOURGLASS_TESTENV_CACHE:-~/.cache/hourglass-testenv}/promtool-<version>/bin/promtool
# The monitoring tests (tests/unit/test_monitoring.py) run its `check rules` on the PrometheusRule
# of config/prometheus and of the charts. Skips the build when that binary exists. Prints the
# binary's path on stdout; progress goes to stderr. Exit status: 0 built or found, 3 no Go
# toolchain, 4 the module proxy does not serve the module version, 1 any other failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/promtool/version.env
source "$here/version.env"
# shellcheck source=hack/lib/gomodule-build.sh
source "$here/../lib/gomodule-build.sh"

gomod_init promtool "$PROMETHEUS_VERSION"
gomod_require_go
gomod_lock
gomod_download "$PROMETHEUS_MODULE" "$PROMETHEUS_VERSION" cmd/promtool

# Stamp the version like the upstream release build (promu) does.
pkg=github.com/prometheus/common/version
ldflags="-s -w -X $pkg.Version=$PROMETHEUS_RELEASE -X $pkg.Branch=HEAD -X $pkg.Revision=v$PROMETHEUS_RELEASE"

gomod_build "$PROMETHEUS_MODULE" "$PROMETHEUS_VERSION" "$PROMETHEUS_MODULE/cmd/promtool" "$ldflags"
gomod_install --version
