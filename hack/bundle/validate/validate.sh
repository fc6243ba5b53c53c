#!/usr/bin/env bash
# Validates the OLM bundle (bundle/ by default) as `operator-sdk bundle validate` would, with the
# operator-framework/api validators of main.go here (operator-sdk's own module is not served
# by the Go module proxy). The program is built once per content by hack/lib/go-cached-build.sh and
# cached in ${HOURGLASS_EXECUTOR_CACHE:-~/.cache/hourglass-executor}/bundle-validate/<key>/.
#   validate.sh [BUNDLE_DIR]    validate; exit 1 naming every problem
#   validate.sh --build         only build; print the binary's path
# Exit status 3 without a Go toolchain (tests skip then).
# go.mod selects the module versions of the ansible-operator build (hack/ansible-operator, part of
# `make testenv`), so after it this build finds nearly every package in the Go build cache: 56 s wall,
# 11 s CPU on a busy 2-core machine, against 1059 s from empty module and build caches (load 11-22).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc=0
binary=$(CGO_ENABLED=0 "$here/../../lib/go-cached-build.sh" bundle-validate "$here" validate) || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
case "${1:-}" in
  --build) echo "$binary" ;;
  *) "$binary" "${1:-$here/../../../bundle}" ;;
esac
