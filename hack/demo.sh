#!/usr/bin/env bash
# The main job: start the local control plane (or use HOURGLASS_KUBECONFIG's cluster), install the
# Performer CRD, start the operator (a background process watching the demo namespaces), create the
# sample Performers in $HOURGLASS_DEMO_NAMESPACE (default hourglass-demo) and show them becoming Ready;
# then the whole task flow on a local chain: the devnet (Anvil with the EigenLayer contracts and two
# test AVSs, hack/devnet), tasks created on its TaskMailbox, the executor (kubernetes mode, namespace
# $HOURGLASS_DEMO_EXECUTOR_NAMESPACE, default <namespace>-avs; it reads the chain over JSON-RPC and
# signs with keys from keystore files) deploying its Performer, and the test aggregator
# (hack/aggregator) taking each task from TaskCreated to the executor, the certificate, submitResult
# and TaskVerified on chain. Every step is printed.
#
#   hack/demo.sh         run the demo (again: idempotent; a running operator, devnet, performer and
#                        executor are reused, and new tasks are created)
#   hack/demo.sh stop    stop everything it started: the executor (it deletes its Performer), the
#                        performer, the sample Performers (deleted while the operator still runs, so
#                        that it releases their finalizers: nothing is left stuck in Terminating),
#                        the executor's namespace, the devnet and the operator. Run it with the same
#                        HOURGLASS_DEMO_* / HOURGLASS_KUBECONFIG variables as the demo (its closing
#                        hint repeats them).
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
devnet_dir="$state_dir/devnet-$namespace"
cluster_file="$state_dir/cluster-$namespace"  # the kubeconfig and kubectl the demo used, for stop
step() { printf '\n==> %s\n' "$*"; }
# The test aggregator, and the chain tooling, on the demo's devnet (TEST KEYS ONLY).
export PYTHONPATH="$PWD/executor:$PWD${PYTHONPATH:+:$PYTHONPATH}"
aggregator() { .venv/bin/python -m hack.aggregator --manifest "$devnet_dir/manifest.json" "$@"; }

# shellcheck source=hack/lib/process.sh
source hack/lib/process.sh
operator_running() { running "$pid_file"; }

if [ "${1:-}" = stop ]; then
  # The executor first: it deletes its Performer, which needs the operator to release the finalizer.
  stop_process "$executor_pid" "demo executor" 120
  stop_process "$performer_pid" "demo echo performer" 10
  if [ -f "$cluster_file" ]; then
    # shellcheck source=/dev/null
    source "$cluster_file"
    # Every Performer of the demo, while the operator still runs to remove their Pods and Services
    # and release their finalizers (deleted later, they would hang, and their namespace with them);
    # then the executor's namespace, which the demo made for it.
    for ns in "$executor_namespace" "$namespace"; do
      if "$kubectl_bin" --kubeconfig "$kubeconfig" delete performers --all -n "$ns" \
        --ignore-not-found --timeout=120s >/dev/null; then
        echo "deleted the demo's Performers in namespace $ns"
      else
        echo "the Performers in $ns were not gone within 120 s (is the operator running? log: $log_file)" >&2
      fi
    done
    "$kubectl_bin" --kubeconfig "$kubeconfig" delete namespace "$executor_namespace" \
      --ignore-not-found --wait=false >/dev/null || true
    rm -f "$cluster_file"
  fi
  if [ -f "$devnet_dir/instance.json" ]; then
    hack/devnet/devnet.sh down --state-dir "$devnet_dir" >/dev/null 2>&1 || true
    echo "stopped the demo devnet ($devnet_dir)" >&2
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
mkdir -p "$state_dir"
printf 'kubeconfig=%q\nkubectl_bin=%q\n' "$kubeconfig" "$kubectl_bin" >"$cluster_file"

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

step "starting the local chain: Anvil with the EigenLayer contracts and the devnet AVSs (docs/devnet.md)"
devnet_was_running=no
hack/devnet/devnet.sh status --state-dir "$devnet_dir" >/dev/null 2>&1 && devnet_was_running=yes
manifest=$(hack/devnet/devnet.sh up --state-dir "$devnet_dir")
.venv/bin/python - "$manifest" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
avs = m["avss"][0]
sets = ", ".join(f"{s['id']} ({s['curve']})" for s in avs["executorOperatorSets"])
print(f"manifest:    {sys.argv[1]}")
print(f"RPC:         {m['rpcUrl']} (chain id {m['chainId']})")
print(f"TaskMailbox: {m['contracts']['taskMailbox']}")
print(f"AVS 1:       {avs['address']}: aggregator operator set 0 ({avs['aggregatorCurve']}), executor operator sets {sets}")
print(f"executor operator {m['accounts']['executor']['address']}, aggregator {m['accounts']['aggregator']['address']}")
PY

step "the executor operator's setup: signing keys in keystores, the executor's configuration, its socket on chain"
mkdir -p "$executor_dir"
if running "$executor_pid" && [ "$devnet_was_running" = no ]; then
  stop_process "$executor_pid" "executor of an earlier devnet" 120  # it reads the chain of the old RPC URL
fi
if ! running "$executor_pid"; then
  free_port >"$executor_dir/task.port"
  free_port >"$executor_dir/management.port"
fi
.venv/bin/python -m hack.demo_executor configure --devnet-dir "$devnet_dir" --dir "$executor_dir" \
  --namespace "$executor_namespace" --kubeconfig "$kubeconfig" --image "$performer_image" \
  --task-port "$(cat "$executor_dir/task.port")" --management-port "$(cat "$executor_dir/management.port")" >/dev/null
echo "config $executor_dir/executor.yaml: kubernetes mode, chain.type rpc at the devnet, keystores in $executor_dir/keys"

step "creating tasks on the TaskMailbox (createTask from the task creator): AVS 1's ECDSA set 1 and BN254 set 2"
from_block=$(aggregator block-number)
aggregator create-task --avs 0 --operator-set 1 --payload '{"op": "echo", "data": "hello from the ECDSA operator set"}'
aggregator create-task --avs 0 --operator-set 2 --payload '{"op": "echo", "data": "hello from the BN254 operator set"}'

step "starting an echo performer and the executor (namespace $executor_namespace; files in $executor_dir)"
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
  HOURGLASS_PERFORMER_ENDPOINT="127.0.0.1:$(cat "$executor_dir/performer.port")" \
    nohup .venv/bin/hourglass-executor run --config "$executor_dir/executor.yaml" >"$executor_log" 2>&1 &
  echo $! >"$executor_pid"
  echo "executor: pid $(cat "$executor_pid"), tasks on 127.0.0.1:$(cat "$executor_dir/task.port"), management on 127.0.0.1:$(cat "$executor_dir/management.port")"
fi
if ! .venv/bin/python -m hack.demo_executor wait-serving --address "127.0.0.1:$(cat "$executor_dir/task.port")" --timeout 180; then
  echo "the executor did not start serving; its log:" >&2
  tail -n 30 "$executor_log" >&2
  exit 1
fi
echo "executor SERVING (its performer is deployed and ready)"

step "the executor's performer: kubectl get performers,pods -n $executor_namespace -o wide"
kubectl get performers -n "$executor_namespace" -o wide
kubectl get pods -n "$executor_namespace" -o wide

step "the aggregator: TaskCreated events from block $from_block -> SubmitTask -> verified results -> certificate -> submitResult"
if ! aggregator run --from-block "$from_block" --count 2; then
  echo "a task did not reach TaskVerified; the executor's log:" >&2
  tail -n 30 "$executor_log" >&2
  exit 1
fi

# The variables this run used, so that the hint's commands act on the same demo.
ran_with=""
for variable in HOURGLASS_DEMO_NAMESPACE HOURGLASS_DEMO_EXECUTOR_NAMESPACE HOURGLASS_DEMO_PERFORMER_IMAGE \
  HOURGLASS_KUBECONFIG; do
  if [ -n "${!variable:-}" ]; then
    ran_with+="$variable=$(printf '%q' "${!variable}") "
  fi
done
cluster_down="; make cluster-down"
[ -z "${HOURGLASS_KUBECONFIG:-}" ] || cluster_down=""  # not the local control plane: leave it be

cat <<MSG

  kubectl:       $kubectl_bin --kubeconfig $kubeconfig
  operator log:  $log_file
  executor log:  $executor_log   (config: $executor_dir/executor.yaml)
  devnet:        hack/devnet/devnet.sh status --state-dir $devnet_dir   (manifest: $devnet_dir/manifest.json)
  aggregator:    PYTHONPATH=executor:. .venv/bin/python -m hack.aggregator --manifest $devnet_dir/manifest.json --help
  stop:          ${ran_with}hack/demo.sh stop$cluster_down
MSG
