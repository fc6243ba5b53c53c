#!/usr/bin/env bash
# The main job, for now: start the local control plane (or use HOURGLASS_KUBECONFIG's cluster),
# install the Performer CRD, create the sample Performers in namespace $HOURGLASS_DEMO_NAMESPACE
# (default hourglass-demo) and list them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
namespace=${HOURGLASS_DEMO_NAMESPACE:-hourglass-demo}
step() { printf '\n==> %s\n' "$*"; }

if [ -n "${HOURGLASS_KUBECONFIG:-}" ]; then
  kubeconfig=$HOURGLASS_KUBECONFIG
  kubectl_bin=$(command -v kubectl || true)
  [ -n "$kubectl_bin" ] || kubectl_bin="$(hack/testenv/build.sh)/kubectl"
  step "using the cluster of $kubeconfig"
else
  step "starting the local control plane (first run builds it from Go modules, ~10 min)"
  kubeconfig=$(hack/testenv/testenv.sh up)
  kubectl_bin="$(hack/testenv/testenv.sh bin)/kubectl"
fi
kubectl() { "$kubectl_bin" --kubeconfig "$kubeconfig" "$@"; }

step "nodes"
kubectl get nodes -L hourglass.eigenlayer.io/node-pool,nvidia.com/gpu.product,node.kubernetes.io/instance-type

step "installing the Performer CRD"
kubectl apply --server-side --force-conflicts --field-manager=hourglass-demo -f crds/hourglass.eigenlayer.io_performers.yaml
kubectl wait --for=condition=Established --timeout=60s crd/performers.hourglass.eigenlayer.io

step "creating the sample Performers in namespace $namespace"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply --server-side --force-conflicts --field-manager=hourglass-demo -n "$namespace" -f config/samples/

step "kubectl get performers -A"
kubectl get performers -A

cat <<MSG

The Performers exist but nothing reconciles them yet (the operator comes next).
  kubectl:     $kubectl_bin --kubeconfig $kubeconfig
  stop it:     make cluster-down
MSG
