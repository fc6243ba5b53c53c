#!/usr/bin/env bash
# Builds hack/kstatus (kstatus' own status computation, sigs.k8s.io/cli-utils/pkg/kstatus/status,
# pinned in go.mod/go.sum) from the Go module proxy into a cache outside the repository
# (hack/lib/go-cached-build.sh). Prints the binary's path; exit status 3 without a Go toolchain.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# CGO off as in hack/lib/gomodule-build.sh, so that the Kubernetes packages helm compiled are reused.
export CGO_ENABLED=0
exec "$here/../lib/go-cached-build.sh" kstatus "$here" kstatus
