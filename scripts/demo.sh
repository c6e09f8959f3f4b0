#!/usr/bin/env bash
# `make demo`: build what is needed, start the real local control plane, run the story.
# The control plane keeps running afterwards; stop it with `.venv/bin/tether cluster down`.
set -euo pipefail
cd "$(dirname "$0")/.."
TETHER=.venv/bin/tether
BIN=$(bash tools/controlplane/build.sh --print-dir)
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "1. a real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
KUBECONFIG=$($TETHER cluster up)
export KUBECONFIG
$TETHER cluster status
"$BIN/kubectl" version -o yaml | grep gitVersion

step "2. a workload from the demo manifests becomes Available on the fake node"
"$BIN/kubectl" apply --server-side --force-conflicts --field-manager=tether -f examples/demo/web.yaml
"$BIN/kubectl" -n demo rollout status deployment/web --timeout=120s
"$BIN/kubectl" -n demo get deployment,pods -o wide

step "3. someone scales it by hand: managedFields already tell who wrote what"
"$BIN/kubectl" -n demo scale deployment/web --replicas=5
"$BIN/kubectl" -n demo get deployment web --show-managed-fields \
  -o jsonpath='{range .metadata.managedFields[*]}  {.manager}{"\t"}{.operation}{"\t"}{.subresource}{"\t"}{.time}{"\n"}{end}'

step "done: the control plane keeps running (KUBECONFIG=$KUBECONFIG); stop it with: $TETHER cluster down"
