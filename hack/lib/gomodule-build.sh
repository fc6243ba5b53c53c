# shellcheck shell=bash
# Shared steps of the scripts that build a command-line tool from a Go module release served by
# the Go module proxy (hack/ansible-operator/build.sh, hack/helm/build.sh). Sourced, not run.
#
# A build script calls, in order:
#   gomod_init TOOL VERSION        cache paths; prints the binary and exits 0 when it is built
#   gomod_require_go               exit 3 without a Go toolchain; pins GOTOOLCHAIN=local, no cgo
#   gomod_lock                     one build per cache at a time; exits 0 if a peer built it
#   gomod_download MODULE VERSION [WHAT]  resolves the release (exit 4 when the proxy refuses it) and
#                                  sets GOMOD_FILE to the release's go.mod
#   gomod_build MODULE VERSION PACKAGE LDFLAGS
#   gomod_install VERSION-ARGS...  runs the binary with the arguments, moves it into place,
#                                  prints its path
# Exit status of a script using these: 0 built or found, 3 no Go toolchain, 4 the module proxy
# does not serve the module version, 1 any other failure. Progress goes to stderr.

gomod_log() { printf '[%s %s] %s\n' "$GOMOD_TOOL" "$(date +%H:%M:%S)" "$*" >&2; }

gomod_die() {
  local code=$1
  shift
  gomod_log "error: $*"
  exit "$code"
}

# Sets GOMOD_TOOL, GOMOD_VERSION, GOMOD_CACHE, GOMOD_BINARY
# (${HOURGLASS_TESTENV_CACHE:-~/.cache/hourglass-testenv}/TOOL-VERSION/bin/TOOL).
gomod_init() {
  GOMOD_TOOL=$1
  GOMOD_VERSION=$2
  GOMOD_CACHE=${HOURGLASS_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-testenv}
  GOMOD_BINARY="$GOMOD_CACHE/$1-$2/bin/$1"
  if [ -x "$GOMOD_BINARY" ]; then
    echo "$GOMOD_BINARY"
    exit 0
  fi
}

gomod_require_go() {
  command -v go >/dev/null || gomod_die 3 "go is not installed; $GOMOD_TOOL is built from Go modules"
  # Build with the installed toolchain only; never let go download another one.
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
}

gomod_lock() {
  mkdir -p "$(dirname "$GOMOD_BINARY")" "$GOMOD_CACHE/build"
  exec 9>"$GOMOD_CACHE/build/.$GOMOD_TOOL.lock"
  flock 9 # a second caller waits here and then finds the binary
  if [ -x "$GOMOD_BINARY" ]; then
    echo "$GOMOD_BINARY"
    exit 0
  fi
  GOMOD_STARTED=$SECONDS
  GOMOD_WORK=$(mktemp -d "$GOMOD_CACHE/build/$GOMOD_TOOL-$GOMOD_VERSION.XXXXXX")
  trap 'rm -rf "$GOMOD_WORK"' EXIT
}

# Resolves MODULE@VERSION first so that a refusal by the proxy is told apart from a build failure
# (`go mod download -json` reports it in the JSON's Error and exits non-zero).
gomod_download() {
  local module="$1@$2" info error
  gomod_log "building $module${3:+ ($3)}"
  info=$(cd "$GOMOD_WORK" && go mod download -json "$module" 2>"$GOMOD_WORK/download.err") || true
  { read -r GOMOD_FILE; read -r error; } < <(printf '%s' "$info" | python3 -c 'import json,sys
try:
    d = json.load(sys.stdin)
except ValueError:
    d = {"Error": "no answer from go mod download"}
print(d.get("GoMod") or "")
print((d.get("Error") or "").replace("\n", " "))')
  if [ -n "$error" ]; then
    cat "$GOMOD_WORK/download.err" >&2
    case $error in
      *403*|*404*|*410*|*"not available"*|*"not found"*)
        gomod_die 4 "the Go module proxy does not serve $module: $error" ;;
      *) gomod_die 1 "go mod download $module failed: $error" ;;
    esac
  fi
}

# Builds PACKAGE through a wrapper module that requires the release, with -mod=mod: `go install
# pkg@version` would also ask the proxy for the module's version list (to look for a deprecation
# notice), which some proxies refuse. The release's own go.mod has no replace directives for the
# tools built here (a replace in a dependency's go.mod is ignored, so one would have to be copied).
gomod_build() {
  local module=$1 version=$2 package=$3 ldflags=$4
  cat >"$GOMOD_WORK/go.mod" <<GOMOD
module hourglass.local/$GOMOD_TOOL

go 1.26

require $module $version
GOMOD
  (cd "$GOMOD_WORK" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "$ldflags" \
    -o "$GOMOD_WORK/bin/$GOMOD_TOOL" "$package") \
    || gomod_die 1 "go build of $package@$version failed"
}

gomod_install() {
  "$GOMOD_WORK/bin/$GOMOD_TOOL" "$@" >&2 || gomod_die 1 "the built $GOMOD_TOOL does not run"
  mv -f "$GOMOD_WORK/bin/$GOMOD_TOOL" "$GOMOD_BINARY"
  gomod_log "$GOMOD_TOOL $GOMOD_VERSION built in $((SECONDS - GOMOD_STARTED)) s"
  echo "$GOMOD_BINARY"
}
