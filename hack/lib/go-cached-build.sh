#!/usr/bin/env bash
# Builds a Go main or c-shared package from this repository (the executor's BN254 library, the
# golden-vector generator) once per content: the output is cached in
#   ${HOURGLASS_EXECUTOR_CACHE:-~/.cache/hourglass-executor}/NAME/<key>/OUTPUT
# where <key> hashes `go version`, this script and the package directory's *.go, *.sh, go.mod and
# go.sum. Concurrent callers build once (flock); the file appears atomically. Prints its path.
#
#   go-cached-build.sh NAME DIR OUTPUT [go build flags...]
#
# Exit status 3 without a Go toolchain (callers may skip then), 1 on any other failure.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: go-cached-build.sh NAME DIR OUTPUT [go build flags...]" >&2; exit 1; }
name=$1 dir=$(cd "$2" && pwd) output=$3
shift 3
log() { printf '[%s %s] %s\n' "$name" "$(date +%H:%M:%S)" "$*" >&2; }

export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"
command -v go >/dev/null || { log "go is not installed (needed to build $name)"; exit 3; }

key=$(
  cd "$dir"
  {
    go version
    cat "${BASH_SOURCE[0]}"
    for f in go.mod go.sum *.go *.sh; do printf '%s\n' "$f"; cat "$f"; done
  } | sha256sum | cut -c1-16
)
cache=${HOURGLASS_EXECUTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-executor}/$name
built="$cache/$key/$output"

if [ ! -f "$built" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9 # one build at a time; a second caller waits, then finds the output
  if [ ! -f "$built" ]; then
    started=$SECONDS
    log "building $output ($key)"
    work=$(mktemp -d "$cache/.build-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$dir" && go build -trimpath -ldflags="-s -w" "$@" -o "$work/$output" .)
    mkdir -p "$cache/$key"
    mv "$work/$output" "$built" # atomic: a reader sees no half-written file
    log "built in $((SECONDS - started)) s"
  fi
fi
echo "$built"
