#!/usr/bin/env bash
# Builds the operator-sdk ansible-operator (cmd/ansible-operator of the ansible-operator-plugins
# module, version in version.env) from the Go module proxy into a cache directory outside the
# repository:
#   ${HOURGLASS_TESTENV_CACHE:-~/.cache/hourglass-testenv}/ansible-operator-<version>/bin/ansible-operator
# Skips the build when that binary exists. Prints the binary's path on stdout; progress goes to
# stderr. Exit status: 0 built or found, 3 no Go toolchain, 4 the module proxy does not serve the
# module version, 1 any other failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/ansible-operator/version.env
source "$here/version.env"
# shellcheck source=hack/lib/gomodule-build.sh
source "$here/../lib/gomodule-build.sh"

gomod_init ansible-operator "$ANSIBLE_OPERATOR_VERSION"
# The module's go.mod asks for go 1.25.7 and has no replace directives, so the installed toolchain
# builds it.
gomod_require_go
gomod_lock
gomod_download "$ANSIBLE_OPERATOR_MODULE" "$ANSIBLE_OPERATOR_VERSION" cmd/ansible-operator

# Stamp the version like the upstream Makefile does (its KubernetesVersion is the k8s.io/api
# version of go.mod, v0.Y.Z -> v1.Y.Z).
kube=$(sed -nE 's#^[[:space:]]*k8s\.io/api[[:space:]]+v0\.([0-9.]+).*#v1.\1#p' "$GOMOD_FILE" | head -n1)
pkg="github.com/operator-framework/ansible-operator-plugins/internal/version"
ldflags="-s -w -X $pkg.Version=${ANSIBLE_OPERATOR_VERSION#v} -X $pkg.GitVersion=$ANSIBLE_OPERATOR_VERSION"
ldflags+=" -X $pkg.ImageVersion=$ANSIBLE_OPERATOR_VERSION"
[ -z "$kube" ] || ldflags+=" -X $pkg.KubernetesVersion=$kube"

gomod_build "$ANSIBLE_OPERATOR_MODULE" "$ANSIBLE_OPERATOR_VERSION" \
  "$ANSIBLE_OPERATOR_MODULE/cmd/ansible-operator" "$ldflags"
gomod_install version
