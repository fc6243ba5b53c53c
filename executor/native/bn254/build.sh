#!/usr/bin/env bash
# Builds the executor's native BN254 library (libhourglass_bn254.so, this directory's Go module:
# gnark-crypto behind a small C API, see bn254.go) and links it into the package, where
# hourglass_executor.signing.bn254 loads it:
#   executor/hourglass_executor/signing/_native/libhourglass_bn254.so -> the cached build
# The build is cached in ${HOURGLASS_EXECUTOR_CACHE:-~/.cache/hourglass-executor}/bn254/<key>/, the
# key being a hash of the Go sources, go.mod, go.sum, this script and `go version`: a warm run only
# re-links. Prints the library path on stdout.
#
#   build.sh            build if needed, link into the package
#   build.sh --output DIR   build if needed, copy the library into DIR instead (image builds)
#
# Needs Go (the version in go.mod or newer, GOTOOLCHAIN=local: no toolchain download) and a C
# compiler (c-shared needs cgo). Modules come from the Go module proxy.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
package_dir="$here/../../hourglass_executor/signing/_native"
library=libhourglass_bn254.so

log() { printf '[bn254 %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

output=""
case "${1:-}" in
  "") ;;
  --output) output=${2:?--output needs a directory} ;;
  *) die "usage: build.sh [--output DIR]" ;;
esac

export GOTOOLCHAIN=local CGO_ENABLED=1 GOFLAGS="-mod=readonly -buildvcs=false"
command -v go >/dev/null || die "go is not installed (needed to build the BN254 library)"
command -v "${CC:-gcc}" >/dev/null || die "no C compiler (${CC:-gcc}): go build -buildmode=c-shared needs cgo"

key=$(
  cd "$here"
  { go version; cat build.sh go.mod go.sum; for f in *.go; do printf '%s\n' "$f"; cat "$f"; done; } |
    sha256sum | cut -c1-16
)
cache=${HOURGLASS_EXECUTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-executor}/bn254
built="$cache/$key/$library"

if [ ! -f "$built" ]; then
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9 # one build at a time; a second caller waits, then finds the library
  if [ ! -f "$built" ]; then
    started=$SECONDS
    log "building $library ($key)"
    work=$(mktemp -d "$cache/.build-XXXXXX")
    trap 'rm -rf "$work"' EXIT
    (cd "$here" && go build -buildmode=c-shared -trimpath -ldflags="-s -w" -o "$work/$library" .)
    mkdir -p "$cache/$key"
    mv "$work/$library" "$built" # atomic: a reader sees no half-written library
    log "built in $((SECONDS - started)) s"
  fi
fi

if [ -n "$output" ]; then
  mkdir -p "$output"
  cp "$built" "$output/$library"
  echo "$output/$library"
else
  mkdir -p "$package_dir"
  ln -sfn "$built" "$package_dir/$library"
  echo "$built"
fi
