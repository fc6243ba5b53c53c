#!/usr/bin/env bash
# Builds the local control plane from the Go module proxy: kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, and kwok +
# kwokctl. Outputs go to a cache directory keyed by the versions in versions.env; only missing
# binaries are built. Prints the bin directory on stdout when done.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/testenv/lib.sh
source "$here/lib.sh"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
command -v go >/dev/null || die "go is not installed; the control plane is built from Go modules"

mkdir -p "$TESTENV_BIN" "$TESTENV_CACHE/build"
exec 9>"$TESTENV_CACHE/build/.lock"
flock 9   # one build at a time per cache; a second caller waits and then finds the binaries

missing() { for b in "$@"; do [ -x "$TESTENV_BIN/$b" ] || return 0; done; return 1; }

# module_info MODULE@VERSION FIELD... -> the fields of `go mod download -json` (GoMod, Time,
# Origin.Hash, ...), one per line, from a single download.
module_info() {
  local module=$1
  shift
  go mod download -json "$module" | python3 -c 'import json,sys
d=json.load(sys.stdin)
for path in sys.argv[1:]:
    v=d
    for k in path.split("."): v=(v or {}).get(k)
    print(v or "")' "$@"
}

build_kubernetes() {
  local kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  missing "${kube_bins[@]}" || return 0
  local started=$SECONDS work="$TESTENV_CACHE/build/kubernetes-$KUBE_VERSION"
  local staging="v0.${KUBE_VERSION#v1.}"           # k8s.io/* staging modules are tagged v0.Y.Z
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  log "building kubernetes $KUBE_VERSION (staging modules $staging) in $work"
  mkdir -p "$work"
  local upstream_mod commit built
  { read -r upstream_mod; read -r commit; read -r built; } < <(
    cd "$work" && module_info "k8s.io/kubernetes@$KUBE_VERSION" GoMod Origin.Hash Time)
  {
    echo "module hourglass.local/testenv/kubernetes"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    # Every staging module the release replaces with ./staging/src/... comes from the proxy instead.
    sed -nE 's#^[[:space:]]*(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\t\1 => \1 '"$staging"'#p' "$upstream_mod"
    echo ")"
  } >"$work/go.mod"
  grep -q '=>' "$work/go.mod" || die "found no staging replacements in $upstream_mod"
  local pkgs=() b
  for b in "${kube_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  local ldflags="-s -w" v
  for v in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $v.gitVersion=$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=$built"
    [ -z "$commit" ] || ldflags+=" -X $v.gitCommit=$commit"
  done
  (cd "$work" && go get "${pkgs[@]/%/@$KUBE_VERSION}")
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$work/out/" "${pkgs[@]}")
  for b in "${kube_bins[@]}"; do mv -f "$work/out/$b" "$TESTENV_BIN/$b"; done
  log "kubernetes built in $((SECONDS - started)) s"
}

build_etcd() {
  missing etcd || return 0
  local started=$SECONDS work="$TESTENV_CACHE/build/etcd-$ETCD_VERSION" commit
  log "building etcd $ETCD_VERSION in $work"
  mkdir -p "$work"
  commit=$(cd "$work" && module_info "go.etcd.io/etcd/server/v3@$ETCD_VERSION" Origin.Hash)
  {
    echo "module hourglass.local/testenv/etcd"
    echo
    echo "go 1.26"
    echo
    echo "require ("
    # etcd's own go.mod replaces its sibling modules with ../ paths; pin them to the same tag.
    for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
      echo "	go.etcd.io/etcd/$m $ETCD_VERSION"
    done
    echo ")"
  } >"$work/go.mod"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null)
  local ldflags="-s -w"
  [ -z "$commit" ] || ldflags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=${commit:0:7}"
  (cd "$work" && go build -trimpath -ldflags "$ldflags" \
    -o "$work/out/etcd" go.etcd.io/etcd/server/v3)
  mv -f "$work/out/etcd" "$TESTENV_BIN/etcd"
  log "etcd built in $((SECONDS - started)) s"
}

build_kwok() {
  missing kwok kwokctl || return 0
  local started=$SECONDS
  log "building kwok and kwokctl $KWOK_VERSION"
  (cd "$TESTENV_CACHE/build" && GOFLAGS=-buildvcs=false GOBIN="$TESTENV_BIN" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION")
  log "kwok built in $((SECONDS - started)) s"
}

build_etcd
build_kwok
build_kubernetes
echo "$TESTENV_BIN"
