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

log() { printf '[ansible-operator %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  local code=$1
  shift
  log "error: $*"
  exit "$code"
}

cache=${HOURGLASS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-testenv}
prefix="$cache/ansible-operator-$ANSIBLE_OPERATOR_VERSION"
binary="$prefix/bin/ansible-operator"

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

command -v go >/dev/null || die 3 "go is not installed; ansible-operator is built from Go modules"
# The module's go.mod asks for go 1.25.7 and has no replace directives, so the installed toolchain
# builds it; never let go download another one.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

mkdir -p "$prefix/bin" "$cache/build"
exec 9>"$cache/build/.ansible-operator.lock"
flock 9   # one build at a time per cache; a second caller waits and then finds the binary
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi

started=$SECONDS
work=$(mktemp -d "$cache/build/ansible-operator-$ANSIBLE_OPERATOR_VERSION.XXXXXX")
trap 'rm -rf "$work"' EXIT
module="$ANSIBLE_OPERATOR_MODULE@$ANSIBLE_OPERATOR_VERSION"
log "building $module (cmd/ansible-operator)"

# Resolve the module first so that a refusal by the proxy is told apart from a build failure
# (`go mod download -json` reports it in the JSON's Error and exits non-zero).
info=$(cd "$work" && go mod download -json "$module" 2>"$work/download.err") || true
{ read -r gomod; read -r error; } < <(printf '%s' "$info" | python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
except ValueError:
    d = {"Error": "no answer from go mod download"}
print(d.get("GoMod") or "")
print((d.get("Error") or "").replace("\n", " "))')
if [ -n "$error" ]; then
  cat "$work/download.err" >&2
  case $error in
    *403*|*404*|*410*|*"not available"*|*"not found"*)
      die 4 "the Go module proxy does not serve $module: $error" ;;
    *) die 1 "go mod download $module failed: $error" ;;
  esac
fi

# Stamp the version like the upstream Makefile does (its KubernetesVersion is the k8s.io/api
# version of go.mod, v0.Y.Z -> v1.Y.Z).
kube=$(sed -nE 's#^[[:space:]]*k8s\.io/api[[:space:]]+v0\.([0-9.]+).*#v1.\1#p' "$gomod" | head -n1)
pkg="github.com/operator-framework/ansible-operator-plugins/internal/version"
ldflags="-s -w -X $pkg.Version=${ANSIBLE_OPERATOR_VERSION#v} -X $pkg.GitVersion=$ANSIBLE_OPERATOR_VERSION"
ldflags+=" -X $pkg.ImageVersion=$ANSIBLE_OPERATOR_VERSION"
[ -z "$kube" ] || ldflags+=" -X $pkg.KubernetesVersion=$kube"

# A wrapper module requiring the release, built with -mod=mod: `go install pkg@version` would also
# ask the proxy for the module's version list (to look for a deprecation notice), which it refuses.
cat >"$work/go.mod" <<GOMOD
module hourglass.local/ansible-operator

go 1.26

require $ANSIBLE_OPERATOR_MODULE $ANSIBLE_OPERATOR_VERSION
GOMOD
(cd "$work" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "$ldflags" \
  -o "$work/bin/ansible-operator" "$ANSIBLE_OPERATOR_MODULE/cmd/ansible-operator") \
  || die 1 "go build of $ANSIBLE_OPERATOR_MODULE/cmd/ansible-operator@$ANSIBLE_OPERATOR_VERSION failed"
"$work/bin/ansible-operator" version >&2 || die 1 "the built ansible-operator does not run"
mv -f "$work/bin/ansible-operator" "$binary"
log "ansible-operator $ANSIBLE_OPERATOR_VERSION built in $((SECONDS - started)) s"
echo "$binary"
