# Shared settings for hack/testenv/*.sh: versions, cache paths, logging. Sourced, not run.
# shellcheck shell=bash
testenv_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/testenv/versions.env
source "$testenv_dir/versions.env"

TESTENV_CACHE=${HOURGLASS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-testenv}
TESTENV_KEY="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
TESTENV_BIN="$TESTENV_CACHE/$TESTENV_KEY/bin"

log() { printf '[testenv %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
