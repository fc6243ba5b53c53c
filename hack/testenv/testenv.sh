#!/usr/bin/env bash
# The local Kubernetes control plane for demos and tests: a real kube-apiserver, etcd,
# kube-controller-manager and kube-scheduler, with kwok playing the kubelets of a catalog of fake
# nodes (general, GPU, TEE). kwokctl's `binary` runtime runs the processes; every port is bound to
# 127.0.0.1. Binaries come from build.sh (built once per version set, then cached). kwokctl never
# restarts a component that exits (the controller-manager and the scheduler do after an API
# server or etcd outage), so supervise.py runs next to the cluster and starts again what exited.
# HOURGLASS_TESTENV_NAME names the cluster (default hourglass): several can run side by side.
#
#   testenv.sh up          build what is missing, start the cluster (or reuse a healthy one started
#                          from this checkout's configuration) and its supervisor, install the node
#                          catalog; prints the kubeconfig path
#   testenv.sh down        stop the supervisor and the cluster, delete its state
#   testenv.sh status      exit 0 and show components and nodes when the cluster is healthy
#   testenv.sh kubeconfig  print the kubeconfig path
#   testenv.sh bin         print the directory holding kubectl and the other binaries
#   testenv.sh logs [C]    print the log files' directory, or the log of component C
#                          (C=supervisor: what the supervisor restarted)
#   testenv.sh hold C      the supervisor leaves component C down once it exits (outage tests)
#   testenv.sh release C   the supervisor starts C again when it is down
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/testenv/lib.sh
source "$here/lib.sh"

CLUSTER=${HOURGLASS_TESTENV_NAME:-hourglass}
export KWOK_WORKDIR="$TESTENV_CACHE/kwok"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$CLUSTER"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"
SUPERVISOR_PID="$CLUSTER_DIR/supervisor.pid"
STARTED_CONFIG=testenv-config.yaml # the kwokctl configuration the running cluster was started from
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller"
START_TIMEOUT=${HOURGLASS_TESTENV_TIMEOUT:-120}

kwokctl() { "$TESTENV_BIN/kwokctl" --name "$CLUSTER" "$@"; }
kctl() { "$TESTENV_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

healthy() {
  [ -f "$KUBECONFIG_PATH" ] && [ -x "$TESTENV_BIN/kubectl" ] &&
    kctl get --raw /readyz --request-timeout=5s >/dev/null 2>&1
}

write_config() {
  cat >"$1" <<EOF
kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: $KUBE_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: $KWOK_VERSION
  kubeApiserverBinary: $TESTENV_BIN/kube-apiserver
  kubeControllerManagerBinary: $TESTENV_BIN/kube-controller-manager
  kubeSchedulerBinary: $TESTENV_BIN/kube-scheduler
  kubectlBinary: $TESTENV_BIN/kubectl
  etcdBinary: $TESTENV_BIN/etcd
  kwokControllerBinary: $TESTENV_BIN/kwok
  # No client-side QPS limits in kwok, the scheduler and the controller-manager, and no
  # max-inflight limits in the API server: the local cluster must not be the bottleneck of benchmarks.
  disableQPSLimits: true
componentsPatches:
  # Room for thousands of Services (the API server's default range is a /24).
  - name: kube-apiserver
    extraArgs:
      - key: service-cluster-ip-range
        value: 10.96.0.0/16
  # kwok plays the kubelet of the nodes labelled type=kwok only (every node the catalog and the
  # benchmark make), not of all nodes: a test takes the label off a node of its own to make it a node
  # whose kubelet died (tests/cluster/test_operator_lost_node.py). A label, not an annotation: a watch
  # by label tells kwok when a node leaves its selection.
  - name: kwok-controller
    extraArgs:
      - key: manage-all-nodes
        value: "false"
      - key: manage-nodes-with-label-selector
        value: type=kwok
EOF
}

install_catalog() {
  kctl apply --server-side --field-manager=hourglass-testenv -f "$here/catalog/runtimeclasses.yaml" >/dev/null
  # Node status (allocatable, capacity) is only taken on create, so create what is missing.
  kctl create -f "$here/catalog/nodes.yaml" 2>&1 | grep -v AlreadyExists >&2 || true
  kctl wait --for=condition=Ready node -l hourglass.eigenlayer.io/testenv=catalog --timeout=60s >/dev/null
  # The node lifecycle controller taints nodes it saw NotReady and lifts the taint a few seconds
  # after they turn Ready; until then nothing schedules there.
  local waited=0
  while [ -n "$(kctl get nodes -l hourglass.eigenlayer.io/testenv=catalog \
    -o jsonpath='{.items[*].spec.taints[?(@.key=="node.kubernetes.io/not-ready")].key}')" ]; do
    [ "$waited" -lt 60 ] || die "nodes still carry the node.kubernetes.io/not-ready taint after 60 s"
    sleep 1
    waited=$((waited + 1))
  done
}

supervisor_pid() {
  local pid
  pid=$(cat "$SUPERVISOR_PID" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -qs supervise.py "/proc/$pid/cmdline" && echo "$pid"
}

start_supervisor() {
  local pid waited=0
  if pid=$(supervisor_pid); then
    return 0
  fi
  # Components that exited before any supervisor watched them: kwokctl starts what is not running.
  kwokctl start cluster >/dev/null 2>&1 || log "warning: kwokctl could not start every component"
  rm -f "$SUPERVISOR_PID"
  setsid python3 "$here/supervise.py" "$CLUSTER_DIR" >>"$CLUSTER_DIR/logs/supervisor.log" 2>&1 </dev/null &
  until pid=$(supervisor_pid); do
    [ "$waited" -lt 100 ] || die "the supervisor did not start; see $CLUSTER_DIR/logs/supervisor.log"
    sleep 0.1
    waited=$((waited + 1))
  done
  log "supervisor of cluster $CLUSTER started (pid $pid); log: $CLUSTER_DIR/logs/supervisor.log"
}

stop_supervisor() {
  local pid waited=0
  pid=$(supervisor_pid) || return 0
  kill "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 50 ]; do
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$SUPERVISOR_PID"
}

check_component() {
  case " $COMPONENTS " in
    *" ${1:-} "*) ;;
    *) die "unknown component '${1:-}' (one of: $COMPONENTS)" ;;
  esac
}

cmd_hold() {
  check_component "${1:-}"
  mkdir -p "$CLUSTER_DIR/supervisor/hold"
  touch "$CLUSTER_DIR/supervisor/hold/$1"
}

cmd_release() {
  check_component "${1:-}"
  rm -f "$CLUSTER_DIR/supervisor/hold/$1"
}

cmd_up() {
  local started=$SECONDS cfg
  "$here/build.sh" >/dev/null
  cfg=$(mktemp "${TMPDIR:-/tmp}/kwokctl-XXXXXX.yaml")
  write_config "$cfg"
  # A cluster started from another configuration (an older checkout's) is not the one the tests
  # expect (which nodes kwok plays, say): it is started again.
  if healthy && ! cmp -s "$cfg" "$CLUSTER_DIR/$STARTED_CONFIG"; then
    log "cluster $CLUSTER runs another configuration than this checkout's: starting it again"
    stop_supervisor
    kwokctl delete cluster >/dev/null 2>&1 || true
    rm -rf "$CLUSTER_DIR"
  fi
  if healthy; then
    log "cluster $CLUSTER is already running"
  else
    if [ -d "$CLUSTER_DIR" ]; then
      log "removing the stale state of cluster $CLUSTER"
      kwokctl delete cluster >/dev/null 2>&1 || true
      rm -rf "$CLUSTER_DIR"
    fi
    log "starting cluster $CLUSTER (kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
    if ! kwokctl create cluster --config "$cfg" --kubeconfig "" --wait "${START_TIMEOUT}s" \
      --timeout "${START_TIMEOUT}s" >&2; then
      rm -f "$cfg"
      cmd_logs_tail
      die "cluster $CLUSTER did not start; component logs are above"
    fi
    cp "$cfg" "$CLUSTER_DIR/$STARTED_CONFIG"
  fi
  rm -f "$cfg"
  start_supervisor
  install_catalog
  log "cluster $CLUSTER ready in $((SECONDS - started)) s; kubeconfig: $KUBECONFIG_PATH"
  echo "$KUBECONFIG_PATH"
}

cmd_down() {
  stop_supervisor
  if [ -d "$CLUSTER_DIR" ]; then
    [ -x "$TESTENV_BIN/kwokctl" ] && kwokctl delete cluster >&2 || true
    rm -rf "$CLUSTER_DIR"
  fi
  log "cluster $CLUSTER is down"
}

cmd_status() {
  if ! healthy; then
    log "cluster $CLUSTER is not running"
    return 1
  fi
  echo "cluster:    $CLUSTER (kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  echo "kubeconfig: $KUBECONFIG_PATH"
  echo "server:     $(kctl config view -o jsonpath='{.clusters[0].cluster.server}')"
  kctl get --raw '/readyz?verbose' | tail -n 1
  local pid
  if pid=$(supervisor_pid); then
    echo "supervisor: running (pid $pid)"
  else
    echo "supervisor: not running (testenv.sh up starts it)"
  fi
  kctl get nodes -L hourglass.eigenlayer.io/node-pool,node.kubernetes.io/instance-type
}

cmd_logs_tail() {
  local f
  for f in "$CLUSTER_DIR"/logs/*.log; do
    [ -f "$f" ] || continue
    echo "==> $f <==" >&2
    tail -n 30 "$f" >&2
  done
}

cmd_logs() {
  if [ $# -eq 0 ]; then
    echo "$CLUSTER_DIR/logs"
  else
    cat "$CLUSTER_DIR/logs/$1.log"
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kubeconfig) echo "$KUBECONFIG_PATH" ;;
  bin) echo "$TESTENV_BIN" ;;
  logs) shift; cmd_logs "$@" ;;
  hold) shift; cmd_hold "$@" ;;
  release) shift; cmd_release "$@" ;;
  *) sed -n '2,/^set /s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
