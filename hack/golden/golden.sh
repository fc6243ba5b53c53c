#!/usr/bin/env bash
# Builds hack/golden (cached by a hash of its sources in
# ${HOURGLASS_EXECUTOR_CACHE:-~/.cache/hourglass-executor}/golden/<key>/golden) and runs it:
#   golden.sh            write fresh vectors to tests/unit/executor/golden/crypto-libs-v0.0.4.json
#   golden.sh --check    recompute the deterministic vectors and compare them with the file exactly;
#                        decrypt its keystores with crypto-libs and go-ethereum
#   golden.sh --build    only build; print the binary's path
# Needs Go and a C compiler (crypto-libs' ECDSA uses go-ethereum's cgo secp256k1); the modules
# (crypto-libs v0.0.4, go-ethereum v1.15.11 as crypto-libs requires it) come from the Go module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vectors="$here/../../tests/unit/executor/golden/crypto-libs-v0.0.4.json"

log() { printf '[golden %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=1 GOFLAGS="-mod=readonly -buildvcs=false"
# Exit code 3: no Go toolchain (tests/support/go_tools.py skips the check then).
command -v go >/dev/null || { log "go is not installed (needed to build the golden vector generator)"; exit 3; }

key=$(
  cd "$here"
  { go version; cat golden.sh go.mod go.sum; for f in *.go; do printf '%s\n' "$f"; cat "$f"; done; } |
    sha256sum | cut -c1-16
)
cache=${HOURGLASS_EXECUTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-executor}/golden
binary="$cache/$key/golden"
if [ ! -x "$binary" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -x "$binary" ]; then
    started=$SECONDS
    log "building the generator ($key)"
    work=$(mktemp -d "$cache/.build-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$here" && go build -trimpath -ldflags="-s -w" -o "$work/golden" .)
    mkdir -p "$cache/$key"
    mv "$work/golden" "$binary"
    log "built in $((SECONDS - started)) s"
  fi
fi

case "${1:-}" in
  "") mkdir -p "$(dirname "$vectors")" && "$binary" -write "$vectors" && echo "$vectors" ;;
  --check) "$binary" -check "$vectors" ;;
  --build) echo "$binary" ;;
  *) die "usage: golden.sh [--check | --build]" ;;
esac
