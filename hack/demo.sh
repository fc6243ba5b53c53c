#!/usr/bin/env bash
# The main job: start the local control plane (or use HOURGLASS_KUBECONFIG's cluster), install the
# Performer CRD, start the operator (a background process watching the demo namespaces), create the
# sample Performers in $HOURGLASS_DEMO_NAMESPACE (default hourglass-demo) and show them becoming Ready;
# then run the executor: an echo performer process, the executor (kubernetes mode, namespace
# $HOURGLASS_DEMO_EXECUTOR_NAMESPACE, default <namespace>-avs) deploying its Performer there, and a
# test aggregator submitting signed sample tasks whose results and signatures are printed.
#
#   hack/demo.sh         run the demo (again: idempotent; a running operator, performer and executor are reused)
#   hack/demo.sh stop    stop the executor (it deletes its Performer), the performer, the executor's
#                        namespace and the operator
#
# Pods run nothing on the local control plane (kwok), so the executor reaches its performer through
# the endpoint resolver hourglass_executor.examples.local_resolver (a local echo performer process);
# on a cluster with real kubelets set HOURGLASS_DEMO_PERFORMER_IMAGE to a pushed echo performer image.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=hack/testenv/lib.sh
source hack/testenv/lib.sh
namespace=${HOURGLASS_DEMO_NAMESPACE:-hourglass-demo}
executor_namespace=${HOURGLASS_DEMO_EXECUTOR_NAMESPACE:-$namespace-avs}
performer_image=${HOURGLASS_DEMO_PERFORMER_IMAGE:-ghcr.io/example/echo-performer:v1}
state_dir="$TESTENV_CACHE/demo"
pid_file="$state_dir/operator-$namespace.pid"
log_file="$state_dir/operator-$namespace.log"
watch_file="$state_dir/operator-$namespace.namespaces"
executor_dir="$state_dir/executor-$namespace"
executor_pid="$executor_dir/executor.pid"
executor_log="$executor_dir/executor.log"
performer_pid="$executor_dir/performer.pid"
performer_log="$executor_dir/performer.log"
step() { printf '\n==> %s\n' "$*"; }

# shellcheck source=hack/lib/process.sh
source hack/lib/process.sh
operator_running() { running "$pid_file"; }

if [ "${1:-}" = stop ]; then
  # The executor first: it deletes its Performer, which needs the operator to release the finalizer.
  stop_process "$executor_pid" "demo executor" 120
  stop_process "$performer_pid" "demo echo performer" 10
  if [ -f "$executor_dir/cluster" ]; then
    # shellcheck source=/dev/null
    source "$executor_dir/cluster"
    "$kubectl_bin" --kubeconfig "$kubeconfig" delete performers --all -n "$executor_namespace" \
      --ignore-not-found --timeout=90s >/dev/null 2>&1 || true
    "$kubectl_bin" --kubeconfig "$kubeconfig" delete namespace "$executor_namespace" \
      --ignore-not-found --wait=false >/dev/null 2>&1 || true
    rm -f "$executor_dir/cluster"
  fi
  if operator_running; then
    kill -TERM "$(cat "$pid_file")"
    echo "stopped the demo operator for namespace $namespace"
  fi
  rm -f "$pid_file" "$watch_file"
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

watched="$namespace,$executor_namespace"
step "starting the operator for namespaces $watched (log: $log_file)"
for ns in "$namespace" "$executor_namespace"; do
  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done
mkdir -p "$state_dir" "$executor_dir"
if operator_running && [ "$(cat "$watch_file" 2>/dev/null)" != "$watched" ]; then
  kill -TERM "$(cat "$pid_file")"  # started for other namespaces (an older demo): restart it
  while operator_running; do sleep 0.2; done
fi
if operator_running; then
  echo "already running (pid $(cat "$pid_file"))"
else
  nohup .venv/bin/hourglass-operator run --kubeconfig "$kubeconfig" --namespaces "$watched" \
    --metrics-bind-address 0 --health-probe-bind-address 0 --log-format text \
    --runner-dir "$state_dir/runner-$namespace" >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  echo "$watched" >"$watch_file"
  echo "pid $(cat "$pid_file")"
fi

step "creating the sample Performers in namespace $namespace"
kubectl apply --server-side --force-conflicts --field-manager=hourglass-demo -n "$namespace" -k config/samples

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

step "starting an echo performer and the executor (namespace $executor_namespace; files in $executor_dir)"
printf 'kubeconfig=%q\nkubectl_bin=%q\n' "$kubeconfig" "$kubectl_bin" >"$executor_dir/cluster"
if running "$performer_pid"; then
  echo "echo performer already running (pid $(cat "$performer_pid"))"
else
  free_port >"$executor_dir/performer.port"
  VERSION=${performer_image##*:} nohup .venv/bin/python -m hourglass_executor.examples.echo_performer \
    --host 127.0.0.1 --port "$(cat "$executor_dir/performer.port")" >"$performer_log" 2>&1 &
  echo $! >"$performer_pid"
  echo "echo performer: pid $(cat "$performer_pid"), 127.0.0.1:$(cat "$executor_dir/performer.port")"
fi
if running "$executor_pid"; then
  echo "executor already running (pid $(cat "$executor_pid"))"
else
  free_port >"$executor_dir/task.port"
  free_port >"$executor_dir/management.port"
  cat >"$executor_dir/executor.yaml" <<YAML
# Written by hack/demo.sh. TEST KEYS ONLY: Anvil's public development account #0.
grpcPort: $(cat "$executor_dir/task.port")
managementServerGrpcPort: $(cat "$executor_dir/management.port")
logFormat: text
operator:
  address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
  operatorPrivateKey:
    privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
  signingKeys:
    ecdsa:
      privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
l1Chain:
  rpcUrl: "http://127.0.0.1:8545"
  chainId: 31337
avsPerformers:
  - avsAddress: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    deploymentMode: kubernetes
    image:
      repository: "${performer_image%:*}"
      tag: "${performer_image##*:}"
kubernetes:
  namespace: "$executor_namespace"
  kubeConfigPath: "$kubeconfig"
  endpointResolver: hourglass_executor.examples.local_resolver:resolve
  deletePerformersOnShutdown: true
chain:
  type: static
  file: "$PWD/executor/examples/chain-static.yaml"
storage:
  type: sqlite
  sqlite:
    path: "$executor_dir/executor.sqlite3"
authentication:
  enabled: true
YAML
  HOURGLASS_PERFORMER_ENDPOINT="127.0.0.1:$(cat "$executor_dir/performer.port")" \
    nohup .venv/bin/hourglass-executor run --config "$executor_dir/executor.yaml" >"$executor_log" 2>&1 &
  echo $! >"$executor_pid"
  echo "executor: pid $(cat "$executor_pid"), tasks on 127.0.0.1:$(cat "$executor_dir/task.port"), management on 127.0.0.1:$(cat "$executor_dir/management.port")"
fi

step "submitting signed sample tasks to the executor (it deploys its Performer first)"
if ! PYTHONPATH=. .venv/bin/python executor/examples/submit_tasks.py --wait 180 \
  --executor "127.0.0.1:$(cat "$executor_dir/task.port")" --chain executor/examples/chain-static.yaml; then
  echo "the tasks did not all succeed; the executor's log:" >&2
  tail -n 30 "$executor_log" >&2
  exit 1
fi

step "the executor's Performer: kubectl get performers -n $executor_namespace"
kubectl get performers -n "$executor_namespace"

cat <<MSG

  kubectl:       $kubectl_bin --kubeconfig $kubeconfig
  operator log:  $log_file
  executor log:  $executor_log   (config: $executor_dir/executor.yaml)
  stop:          hack/demo.sh stop; make cluster-down
MSG
