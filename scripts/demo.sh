#!/usr/bin/env bash
# `make demo`: build what is needed, start a real local control plane, and tell the
# on-call story with tether's own commands: bootstrap from Git, the controller started, a
# manual edit detected at once and self-healed, HPA drift ignored, a bad commit stopped by its health gate and reverted the Git
# way, a break-glass rollback and its follow-up revert, a second (spoke) cluster deployed to
# by the hub's controller, lost and rebuilt by it, and finally the cluster destroyed and
# rebuilt from Git with the recovery time measured.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TETHER="$ROOT/.venv/bin/tether"
BIN=$(bash tools/controlplane/build.sh --print-dir)
KUBECTL="$BIN/kubectl"
DEMO=${TETHER_DEMO_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/tether/demo}
export TETHER_CLUSTER_DIR="$DEMO/cluster" TETHER_CACHE_DIR="$DEMO/cache"
SUMMARY=()
T0=$SECONDS
step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; STEP_T=$SECONDS; STEP="$*"; }
done_step() { SUMMARY+=("$(printf '%-58s %-34s %4ss' "${STEP:0:58}" "$1" $((SECONDS - STEP_T)))"); }
run() { printf '\033[2m$ %s\033[0m\n' "$*" >&2; "$@"; }
git_() { git -C "$DEMO/work" -c user.name="Dana (platform)" -c user.email=dana@example.test "$@"; }
commit() { git_ add -A && git_ commit -qm "$1" && git_ push -q origin main && git_ rev-parse HEAD; }
free_port() { "$ROOT/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
METRICS_PORT=$(free_port)
WEBHOOK_PORT=$(free_port)
CONTROLLER_PID=
metrics() { "$ROOT/.venv/bin/python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$METRICS_PORT/metrics"; }
wait_ready() {
  for _ in $(seq 1 150); do
    if "$ROOT/.venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$METRICS_PORT/readyz" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "the controller did not become ready; its log:" >&2; cat "$DEMO/controller.log" >&2; return 1
}
stop_controller() {
  if [ -n "$CONTROLLER_PID" ]; then kill "$CONTROLLER_PID" 2>/dev/null || true; wait "$CONTROLLER_PID" 2>/dev/null || true; CONTROLLER_PID=; fi
}
app_sync() { "$KUBECTL" -n tether-system get application "$1" -o jsonpath='{.status.sync.status}'; }
stop_spoke() { "$TETHER" cluster down --name spoke >/dev/null 2>&1 || true; }
events_of() { "$KUBECTL" -n tether-system get events --field-selector "reason=$1" -o custom-columns=REASON:.reason,MESSAGE:.message --no-headers 2>/dev/null; }

step "1. A real local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)"
"$TETHER" cluster down >/dev/null 2>&1 || true
"$TETHER" cluster down --name spoke >/dev/null 2>&1 || true
rm -rf "$DEMO" && mkdir -p "$DEMO"
KUBECONFIG=$(run "$TETHER" cluster up)
export KUBECONFIG
run "$TETHER" cluster status
# Act 10's second cluster (the spoke) starts meanwhile; its start is no part of the story.
"$TETHER" cluster up --name spoke >"$DEMO/spoke-up.log" 2>&1 &
SPOKE_UP_PID=$!
trap stop_spoke EXIT
done_step "control plane ready"

step "2. The GitOps repo: an app-of-apps (CRDs, api-service + HPA, worker)"
git init -q --bare --initial-branch=main "$DEMO/gitops.git"
git init -q --initial-branch=main "$DEMO/work"
git_ remote add origin "$DEMO/gitops.git"
REPO="file://$DEMO/gitops.git"
cp -r examples/demo/root examples/demo/apps "$DEMO/work/"
sed -i "s#REPO_URL#$REPO#" "$DEMO"/work/root/*.yaml
commit "feat: platform, api-service v2.3.0, worker" >/dev/null
run "$TETHER" dr check "$DEMO/work/apps" || true
done_step "repo with 3 apps + root"

step "3. Bootstrap everything from Git (dependency order, waves, health)"
run "$TETHER" dr bootstrap --repo "$REPO" --path root --revision main
run "$TETHER" app list
done_step "all apps Synced + Healthy"

step "4. The controller takes over: watches, status, metrics (127.0.0.1:$METRICS_PORT)"
printf '\033[2m$ %s\033[0m\n' "tether controller --metrics-addr 127.0.0.1:$METRICS_PORT --webhook-addr 127.0.0.1:$WEBHOOK_PORT &" >&2
"$TETHER" controller --metrics-addr "127.0.0.1:$METRICS_PORT" --webhook-addr "127.0.0.1:$WEBHOOK_PORT" \
  >"$DEMO/controller.log" 2>&1 &
CONTROLLER_PID=$!
trap 'stop_controller; stop_spoke' EXIT

wait_ready
metrics | grep '^tether_app_info' | sed 's/,repo="[^"]*"//' >&2
done_step "controller running (pid $CONTROLLER_PID)"

step "5. Incident: someone runs kubectl edit on the image; the controller sees it at once"
EDITOR_SCRIPT="$DEMO/editor.sh"
printf '#!/bin/sh\nsed -i "s#api-service:2.3.0#api-service:2.3.0-debug#" "$1"\n' >"$EDITOR_SCRIPT"
chmod +x "$EDITOR_SCRIPT"
EDIT_START=$(date +%s%N)
KUBE_EDITOR="$EDITOR_SCRIPT" run "$KUBECTL" -n production edit deployment/api-service
until [ "$(app_sync api-service)" = OutOfSync ]; do sleep 0.02; done
DETECTED_MS=$(( ($(date +%s%N) - EDIT_START) / 1000000 ))
printf 'the controller marked api-service OutOfSync %s ms after the edit began\n' "$DETECTED_MS" >&2
run "$KUBECTL" -n tether-system get events --field-selector reason=DriftDetected \
  -o custom-columns=REASON:.reason,MESSAGE:.message
run "$TETHER" drift api-service --explain
run "$TETHER" app set api-service --sync-policy automated --self-heal
run "$TETHER" app wait api-service --sync --health --timeout 60
run "$KUBECTL" -n tether-system get events --field-selector reason=SelfHeal \
  -o custom-columns=REASON:.reason,MESSAGE:.message
run "$TETHER" app set api-service --sync-policy none
done_step "seen in ${DETECTED_MS} ms; who (kubectl-edit); self-healed"

step "6. The HPA scales the Deployment: intentional drift, ignored by its field manager"
run "$KUBECTL" -n production patch deployment api-service --subresource=scale --type=merge \
  -p '{"spec":{"replicas":6}}' --field-manager=horizontal-pod-autoscaler
sleep 1
printf 'controller status: %s\n' "$(app_sync api-service)" >&2
run "$TETHER" app diff api-service --exit-code
run "$TETHER" drift api-service
done_step "Synced despite replicas=6"

step "7. A bad commit: v2.3.1 cannot become healthy; its sync stops at the health gate"
sed -i 's#api-service:2.3.0#api-service:2.3.1#; s#nodeSelector: {}#nodeSelector: {pool: does-not-exist}#' \
  "$DEMO/work/apps/api-service/deployment.yaml"
commit "chore: bump api-service to v2.3.1" >/dev/null
run "$TETHER" app sync api-service --timeout 30 || echo "(the sync failed, as it should)" >&2
run "$TETHER" app get api-service | sed -n '1,9p'
done_step "Degraded, sync Failed"

step "8. tether revert --to-last-healthy: one revert commit, pushed without force, synced"
run "$TETHER" revert api-service --to-last-healthy --wait
git_ pull -q --ff-only origin main
run git_ log --oneline
done_step "Healthy again at the revert commit"

step "9. Break-glass: roll back from stored history, then the follow-up revert"
sed -i 's#LOG_LEVEL: info#LOG_LEVEL: trace#' "$DEMO/work/apps/api-service/service.yaml"
commit "ops: trace logging everywhere" >/dev/null
run "$TETHER" app sync api-service
run "$TETHER" app history api-service
run "$TETHER" app rollback api-service
sleep 1
metrics | grep '^tether_break_glass_active{.*api-service' >&2
run "$TETHER" app rollback api-service --revert
git_ pull -q --ff-only origin main
run "$TETHER" app get api-service --refresh | sed -n '1,9p'
done_step "rolled back; Git matches again"

step "10. Hub and spoke: the controller deploys to a second cluster, which is lost and rebuilt"
wait "$SPOKE_UP_PID" || { cat "$DEMO/spoke-up.log" >&2; exit 1; }
SPOKE_KUBECONFIG=$(run "$TETHER" cluster kubeconfig --name spoke)
run "$TETHER" cluster add spoke --kubeconfig "$SPOKE_KUBECONFIG"
sed "s#REPO_URL#$REPO#" examples/demo/spoke/edge.yaml >"$DEMO/edge.yaml"
run "$KUBECTL" apply -f "$DEMO/edge.yaml"
run "$TETHER" app wait edge --sync --health --timeout 90
run "$TETHER" cluster list
run "$KUBECTL" --kubeconfig "$SPOKE_KUBECONFIG" -n edge get deployment,configmap edge-gateway
printf 'the spoke is lost with all its data; an empty cluster comes up at its address\n' >&2
run "$TETHER" cluster down --name spoke --purge
run "$TETHER" cluster up --name spoke >/dev/null
run "$TETHER" cluster add spoke --kubeconfig "$SPOKE_KUBECONFIG"
for _ in $(seq 1 300); do [ -n "$(events_of ClusterRebuilt)" ] && break; sleep 0.3; done
events_of ClusterRebuilt >&2
metrics | grep '^tether_cluster_recovery_seconds' >&2
run "$KUBECTL" --kubeconfig "$SPOKE_KUBECONFIG" -n edge get deployment edge-gateway
stop_spoke
done_step "spoke rebuilt from Git by the hub"

step "11. Disaster: the cluster is destroyed; rebuild it from Git and time the recovery"
stop_controller
run "$TETHER" cluster down
rm -rf "$TETHER_CLUSTER_DIR"
KUBECONFIG=$(run "$TETHER" cluster up)
export KUBECONFIG
run "$TETHER" dr bootstrap --repo "$REPO" --path root --revision main
run "$TETHER" app list -o wide
done_step "rebuilt: every app Synced + Healthy"

printf '\n\033[1m== Summary (total %ss)\033[0m\n' $((SECONDS - T0)) >&2
printf '%s\n' "${SUMMARY[@]}" >&2
printf '\nThe control plane keeps running: KUBECONFIG=%s; stop it with: TETHER_CLUSTER_DIR=%s %s cluster down\n' \
  "$KUBECONFIG" "$TETHER_CLUSTER_DIR" "$TETHER" >&2
