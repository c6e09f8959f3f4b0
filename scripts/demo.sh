#!/usr/bin/env bash
# `make demo`: build what is needed, start the real local control plane, and walk the
# on-call story: deploy from Git, catch drift (who/what), silence intentional drift, a bad
# release that fails its health gate, and the Git-revert rollback.
# The control plane keeps running afterwards; stop it with `.venv/bin/tether cluster down`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TETHER="$ROOT/.venv/bin/tether"
BIN=$(bash tools/controlplane/build.sh --print-dir)
KUBECTL="$BIN/kubectl"
DEMO=${TETHER_DEMO_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/tether/demo}
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
run() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }
git_() { git -C "$DEMO/work" -c user.name="Dana (platform)" -c user.email=dana@example.test "$@"; }

step "1. A real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
KUBECONFIG=$(run "$TETHER" cluster up)
export KUBECONFIG
run "$TETHER" cluster status

step "2. A GitOps repository: apps/api-service (Deployment, Service, ConfigMap)"
rm -rf "$DEMO" && mkdir -p "$DEMO"
git init -q --bare --initial-branch=main "$DEMO/gitops.git"
git init -q --initial-branch=main "$DEMO/work"
git_ remote add origin "$DEMO/gitops.git"
mkdir -p "$DEMO/work/apps/api-service"
cp examples/demo/api-service/*.yaml "$DEMO/work/apps/api-service/"
git_ add -A && git_ commit -qm "feat: api-service v2.3.0" && git_ push -q origin main
REPO="file://$DEMO/gitops.git"
"$TETHER" app delete api-service --cascade >/dev/null 2>&1 || true
run "$TETHER" app create --name api-service --repo "$REPO" --path apps/api-service \
  --revision main --dest-namespace production
"$KUBECTL" create namespace production --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
run "$TETHER" app list

step "3. Deploy: preflight, waves, health gates"
run "$TETHER" app sync api-service
run "$TETHER" app wait api-service --timeout 120
run "$TETHER" app list

step "4. Incident: someone scales by hand and edits the image; tether sees exactly what drifted"
run "$KUBECTL" -n production scale deployment/api-service --replicas=7
run "$KUBECTL" -n production set image deployment/api-service api=ghcr.io/example/api-service:2.3.0-debug
run "$TETHER" app diff api-service || true
run "$TETHER" app diff api-service -o json | python3 -c 'import json,sys; [print("  drifted:", o["kind"], o["name"], o["paths"]) for o in json.load(sys.stdin)["objects"] if o["paths"]]'
run "$TETHER" app list

step "5. Put it back from Git"
run "$TETHER" app sync api-service
run "$TETHER" app diff api-service --exit-code

step "6. Intentional drift: the HPA owns replicas; ignore it by its field manager"
"$KUBECTL" -n production patch deployment api-service --subresource=scale --type=merge \
  -p '{"spec":{"replicas":5}}' --field-manager=horizontal-pod-autoscaler >/dev/null
run "$TETHER" app diff api-service || true
cat > "$DEMO/app.yaml" <<YAML
apiVersion: tether.dev/v1alpha1
kind: Application
metadata: {name: api-service, namespace: tether-system}
spec:
  source: {repoURL: "$REPO", path: apps/api-service, targetRevision: main}
  destination: {namespace: production}
  ignoreDifferences:
  - {group: "*", kind: "*", managedFieldsManagers: [horizontal-pod-autoscaler]}
YAML
run "$TETHER" app create -f "$DEMO/app.yaml" --upsert
run "$TETHER" app diff api-service --exit-code

step "7. A bad release: v2.3.1 cannot become healthy; the sync stops at its wave"
sed -i 's#api-service:2.3.0#api-service:2.3.1#; s#nodeSelector: {}#nodeSelector: {pool: does-not-exist}#' \
  "$DEMO/work/apps/api-service/deployment.yaml"
git_ commit -qam "chore: bump api-service to v2.3.1" && git_ push -q origin main
run "$TETHER" app sync api-service --timeout 20 || echo "(sync failed as it should: the release never became healthy)" >&2
run "$TETHER" app get api-service

step "8. Roll back the Git way: tether revert makes one revert commit (history kept, no force push) and syncs"
run git_ log --oneline
BAD=$(git_ rev-parse HEAD)
run "$TETHER" revert api-service --commit "$BAD" --wait
git_ pull -q --ff-only origin main
run git_ log --oneline
run "$TETHER" app list -o wide

step "done: KUBECONFIG=$KUBECONFIG; stop the control plane with: $TETHER cluster down"
