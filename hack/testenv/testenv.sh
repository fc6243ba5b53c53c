#!/usr/bin/env bash
# The local Kubernetes control plane for demos and tests: a real kube-apiserver, etcd,
# kube-controller-manager and kube-scheduler, with kwok playing the kubelets of a catalog of fake
# nodes (general, GPU, TEE). kwokctl's `binary` runtime runs the processes; every port is bound to
# 127.0.0.1. Binaries come from build.sh (built once per version set, then cached).
#
#   testenv.sh up          build what is missing, start the cluster (or reuse a healthy one),
#                          install the node catalog; prints the kubeconfig path
#   testenv.sh down        stop the cluster and delete its state
#   testenv.sh status      exit 0 and show components and nodes when the cluster is healthy
#   testenv.sh kubeconfig  print the kubeconfig path
#   testenv.sh bin         print the directory holding kubectl and the other binaries
#   testenv.sh logs [C]    print the log files' directory, or the log of component C
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/testenv/lib.sh
source "$here/lib.sh"

CLUSTER=${HOURGLASS_TESTENV_NAME:-hourglass}
export KWOK_WORKDIR="$TESTENV_CACHE/kwok"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$CLUSTER"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"
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

cmd_up() {
  local started=$SECONDS
  "$here/build.sh" >/dev/null
  if healthy; then
    log "cluster $CLUSTER is already running"
  else
    if [ -d "$CLUSTER_DIR" ]; then
      log "removing the stale state of cluster $CLUSTER"
      kwokctl delete cluster >/dev/null 2>&1 || true
      rm -rf "$CLUSTER_DIR"
    fi
    local cfg
    cfg=$(mktemp "${TMPDIR:-/tmp}/kwokctl-XXXXXX.yaml")
    write_config "$cfg"
    log "starting cluster $CLUSTER (kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
    if ! kwokctl create cluster --config "$cfg" --kubeconfig "" --wait "${START_TIMEOUT}s" \
      --timeout "${START_TIMEOUT}s" >&2; then
      rm -f "$cfg"
      cmd_logs_tail
      die "cluster $CLUSTER did not start; component logs are above"
    fi
    rm -f "$cfg"
  fi
  install_catalog
  log "cluster $CLUSTER ready in $((SECONDS - started)) s; kubeconfig: $KUBECONFIG_PATH"
  echo "$KUBECONFIG_PATH"
}

cmd_down() {
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
  *) sed -n '2,15s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
