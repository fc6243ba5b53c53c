#!/usr/bin/env bash
# Builds helm (cmd/helm of the Helm Go module, version in version.env) from the Go module proxy
# into a cache directory outside the repository:
#   ${HOURGLASS_TESTENV_CACHE:-~/.cache/hourglass-testenv}/helm-<version>/bin/helm
# The chart tests (tests/unit/test_helm_chart.py, tests/cluster/test_helm_install.py) use it.
# Skips the build when that binary exists. Prints the binary's path on stdout; progress goes to
# stderr. Exit status: 0 built or found, 3 no Go toolchain, 4 the module proxy does not serve the
# module version, 1 any other failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/helm/version.env
source "$here/version.env"
# shellcheck source=hack/lib/gomodule-build.sh
source "$here/../lib/gomodule-build.sh"

gomod_init helm "$HELM_VERSION"
gomod_require_go
gomod_lock
gomod_download "$HELM_MODULE" "$HELM_VERSION" cmd/helm

# Stamp the version like the upstream Makefile does for a tagged release (empty metadata, so
# `helm version` says the release and not "+unreleased").
pkg="$HELM_MODULE/internal/version"
ldflags="-s -w -X $pkg.version=$HELM_VERSION -X $pkg.metadata= -X $pkg.gitTreeState=clean"

gomod_build "$HELM_MODULE" "$HELM_VERSION" "$HELM_MODULE/cmd/helm" "$ldflags"
gomod_install version --short
