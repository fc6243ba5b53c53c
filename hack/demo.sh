#!/usr/bin/env bash
# The main job: start the local control plane (or use HOURGLASS_KUBECONFIG's cluster), install the
# Performer CRD, start the operator (a background process watching the demo namespace), create the
# sample Performers in $HOURGLASS_DEMO_NAMESPACE (default hourglass-demo) and show them becoming Ready.
#
#   hack/demo.sh         run the demo (again: idempotent; a running demo operator is reused)
#   hack/demo.sh stop    stop the demo's operator
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/testenv/lib.sh
source hack/testenv/lib.sh
namespace=${HOURGLASS_DEMO_NAMESPACE:-hourglass-demo}
state_dir="$TESTENV_CACHE/demo"
pid_file="$state_dir/operator-$namespace.pid"
log_file="$state_dir/operator-$namespace.log"
step() { printf '\n==> %s\n' "$*"; }

operator_running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if operator_running; then
    kill -TERM "$(cat "$pid_file")"
    echo "stopped the demo operator for namespace $namespace"
  fi
  rm -f "$pid_file"
  exit 0
fi

if [ -n "${HOURGLASS_KUBECONFIG:-}" ]; then
  kubeconfig=$HOURGLASS_KUBECONFIG
  kubectl_bin=$(command -v kubectl || true)
  [ -n "$kubectl_bin" ] || kubectl_bin="$(hack/testenv/build.sh)/kubectl"
  step "using the cluster of $kubeconfig"
else
  step "starting the local control plane (the first run builds it from Go modules, ~6 min)"
  kubeconfig=$(hack/testenv/testenv.sh up)
  kubectl_bin="$(hack/testenv/testenv.sh bin)/kubectl"
fi
kubectl() { "$kubectl_bin" --kubeconfig "$kubeconfig" "$@"; }

step "nodes"
kubectl get nodes -L hourglass.eigenlayer.io/node-pool,nvidia.com/gpu.product,node.kubernetes.io/instance-type

step "installing the Performer CRD"
kubectl apply --server-side --force-conflicts --field-manager=hourglass-demo -f crds/hourglass.eigenlayer.io_performers.yaml
kubectl wait --for=condition=Established --timeout=60s crd/performers.hourglass.eigenlayer.io

step "starting the operator for namespace $namespace (log: $log_file)"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
mkdir -p "$state_dir"
if operator_running; then
  echo "already running (pid $(cat "$pid_file"))"
else
  nohup .venv/bin/hourglass-operator run --kubeconfig "$kubeconfig" --namespaces "$namespace" \
    --metrics-bind-address 0 --health-probe-bind-address 0 --log-format text \
    --runner-dir "$state_dir/runner-$namespace" >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  echo "pid $(cat "$pid_file")"
fi

step "creating the sample Performers in namespace $namespace"
kubectl apply --server-side --force-conflicts --field-manager=hourglass-demo -n "$namespace" -f config/samples/

step "waiting for them to become Ready"
if ! kubectl wait --for=condition=Ready performers --all -n "$namespace" --timeout=180s; then
  echo "not all Performers became Ready; the operator's log:" >&2
  tail -n 30 "$log_file" >&2
  exit 1
fi

step "kubectl get performers -A"
kubectl get performers -A

step "their pods and the nodes the scheduler chose"
kubectl get pods -n "$namespace" -o wide

cat <<MSG

  kubectl:       $kubectl_bin --kubeconfig $kubeconfig
  operator log:  $log_file
  stop:          hack/demo.sh stop; make cluster-down
MSG
