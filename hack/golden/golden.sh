#!/usr/bin/env bash
# Builds hack/golden (cached by hack/lib/go-cached-build.sh in
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

# Exit code 3: no Go toolchain (tests/support/go_tools.py skips the check then).
rc=0
binary=$(CGO_ENABLED=1 "$here/../lib/go-cached-build.sh" golden "$here" golden) || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"

case "${1:-}" in
  "") mkdir -p "$(dirname "$vectors")" && "$binary" -write "$vectors" && echo "$vectors" ;;
  --check) "$binary" -check "$vectors" ;;
  --build) echo "$binary" ;;
  *) die "usage: golden.sh [--check | --build]" ;;
esac
