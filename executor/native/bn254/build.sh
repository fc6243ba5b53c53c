#!/usr/bin/env bash
# Builds the executor's native BN254 library (libhourglass_bn254.so, this directory's Go module:
# gnark-crypto behind a small C API, see bn254.go) and links it into the package, where
# hourglass_executor.signing.bn254 loads it:
#   executor/hourglass_executor/signing/_native/libhourglass_bn254.so -> the cached build
# The build is cached by hack/lib/go-cached-build.sh in
# ${HOURGLASS_EXECUTOR_CACHE:-~/.cache/hourglass-executor}/bn254/<key>/ (a hash of the Go sources,
# go.mod, go.sum, this script and `go version`): a warm run only re-links. Prints the library path.
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

command -v "${CC:-gcc}" >/dev/null || die "no C compiler (${CC:-gcc}): go build -buildmode=c-shared needs cgo"
built=$(CGO_ENABLED=1 "$here/../../../hack/lib/go-cached-build.sh" bn254 "$here" "$library" -buildmode=c-shared) ||
  die "the BN254 library did not build (go build output above)"

if [ -n "$output" ]; then
  mkdir -p "$output"
  cp "$built" "$output/$library"
  echo "$output/$library"
else
  mkdir -p "$package_dir"
  ln -sfn "$built" "$package_dir/$library"
  echo "$built"
fi
