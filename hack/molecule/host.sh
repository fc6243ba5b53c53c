#!/usr/bin/env bash
# The host side of the molecule scenarios (molecule/): the local control plane and the operator
# as a background host process, the way hack/demo.sh runs it for the demo. Each command prints one
# JSON object on stdout for the calling Ansible task; progress and errors go to stderr.
#
#   host.sh cluster-up STATE        start the local control plane unless it runs; remembers in
#                                   STATE whether it started it  -> {"changed", "kubeconfig"}
#   host.sh cluster-down STATE      stop it, but only when cluster-up of STATE started it
#   host.sh operator-start STATE KUBECONFIG NAMESPACES
#                                   start `hourglass-operator run` watching NAMESPACES (comma-separated)
#                                   unless it runs already for them, and wait until /readyz answers
#                                   -> {"changed", "pid", "log"}
#   host.sh operator-status STATE   -> {"running", "pid", "log"}; exit 1 when it does not run
#   host.sh operator-stop STATE     SIGTERM, wait for the exit (SIGKILL after 60 s) -> {"changed"}
#
# STATE names a directory under $TESTENV_CACHE/molecule/ (the scenario name), holding
# started-cluster (the name of the cluster cluster-up started, HOURGLASS_TESTENV_NAME),
# operator.{pid,log,port,namespaces} and the operator's runner directory.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
# shellcheck source=hack/testenv/lib.sh
source hack/testenv/lib.sh
# shellcheck source=hack/lib/process.sh
source hack/lib/process.sh

usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" >&2; exit 2; }
[ $# -ge 2 ] || usage
command=$1
scenario=$2
state_dir="$TESTENV_CACHE/molecule/$scenario"
pid_file="$state_dir/operator.pid"
log_file="$state_dir/operator.log"
port_file="$state_dir/operator.port"
watch_file="$state_dir/operator.namespaces"
started_file="$state_dir/started-cluster"
ready_timeout=${HOURGLASS_MOLECULE_OPERATOR_READY_TIMEOUT:-60}
stop_timeout=60
mkdir -p "$state_dir"

ready() {
  [ -f "$port_file" ] || return 1
  .venv/bin/python - "$(cat "$port_file")" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

# Both set `changed` (true when they started or stopped a process).
stop_operator() {
  changed=false
  if running "$pid_file"; then
    changed=true
  fi
  stop_process "$pid_file" "operator of molecule scenario $scenario" "$stop_timeout"
  rm -f "$watch_file"
}

start_operator() {
  local kubeconfig=$1 namespaces=$2
  if running "$pid_file" && [ "$(cat "$watch_file" 2>/dev/null)" = "$namespaces" ] && ready; then
    changed=false
    return
  fi
  stop_operator # started for other namespaces, or not ready: start afresh
  free_port >"$port_file"
  # Molecule runs this under its own Ansible settings (ANSIBLE_CONFIG and others) and the playbook's
  # K8S_AUTH_*; the operator gets the environment of a plain shell, like `make demo` gives it.
  (
    while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(ANSIBLE_|MOLECULE_|K8S_AUTH_)')
    exec nohup .venv/bin/hourglass-operator run --kubeconfig "$kubeconfig" --namespaces "$namespaces" \
      --health-probe-bind-address "127.0.0.1:$(cat "$port_file")" --metrics-bind-address 0 \
      --log-format text --runner-dir "$state_dir/runner" </dev/null >"$log_file" 2>&1
  ) &
  echo $! >"$pid_file"
  echo "$namespaces" >"$watch_file"
  local waited=0
  until ready; do
    if ! running "$pid_file"; then
      tail -n 40 "$log_file" >&2
      die "the operator exited during start-up; its log is above ($log_file)"
    fi
    [ "$waited" -lt $((ready_timeout * 5)) ] || {
      tail -n 40 "$log_file" >&2
      die "the operator was not ready within $ready_timeout s; its log is above ($log_file)"
    }
    sleep 0.2
    waited=$((waited + 1))
  done
  changed=true
  log "operator ready (pid $(cat "$pid_file"), watching $namespaces, log $log_file)"
}

case $command in
  cluster-up)
    changed=false
    if ! hack/testenv/testenv.sh status >/dev/null 2>&1; then
      hack/testenv/testenv.sh up >/dev/null
      echo "${HOURGLASS_TESTENV_NAME:-hourglass}" >"$started_file" # the cluster's name, for cluster-down
      changed=true
    fi
    printf '{"changed": %s, "kubeconfig": "%s"}\n' "$changed" "$(hack/testenv/testenv.sh kubeconfig)"
    ;;
  cluster-down)
    changed=false
    if [ -f "$started_file" ]; then
      HOURGLASS_TESTENV_NAME=$(cat "$started_file") hack/testenv/testenv.sh down
      rm -f "$started_file"
      changed=true
    else
      log "the local control plane was not started by molecule scenario $2: leaving it running"
    fi
    printf '{"changed": %s}\n' "$changed"
    ;;
  operator-start)
    [ $# -eq 4 ] || usage
    start_operator "$3" "$4"
    printf '{"changed": %s, "pid": %s, "log": "%s"}\n' "$changed" "$(cat "$pid_file")" "$log_file"
    ;;
  operator-status)
    if running "$pid_file"; then
      printf '{"running": true, "pid": %s, "log": "%s"}\n' "$(cat "$pid_file")" "$log_file"
    else
      printf '{"running": false, "pid": null, "log": "%s"}\n' "$log_file"
      exit 1
    fi
    ;;
  operator-stop)
    stop_operator
    printf '{"changed": %s}\n' "$changed"
    ;;
  *) usage ;;
esac
