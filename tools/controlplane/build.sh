#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) and the render tools (helm, kustomize, sops) from
# Go modules into ${XDG_CACHE_HOME:-~/.cache}/tether/bin/<version>/.
#
# Every tool gets its own wrapper module (their dependency graphs disagree on
# k8s.io/* versions). The Kubernetes wrapper is generated from the served go.mod of
# k8s.io/kubernetes so that the staging replaces are never kept by hand.
# A rerun with every binary present only checks and exits.
#
# Usage: build.sh [--print-dir]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/../../src/tether/localcluster/versions.env"

# If a pinned module needs a newer Go than the machine's, set e.g.
# GOTOOLCHAIN=go1.27.3 in the environment: the go command fetches it as a module.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/tether"
version_id="k8s-${K8S_VERSION}-$(sha256sum "$here/../../src/tether/localcluster/versions.env" | cut -c1-10)"
bin_dir="$cache_root/bin/$version_id"
work_dir="$cache_root/build/$version_id"

if [[ "${1:-}" == "--print-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

all_bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwok-stages.yaml helm kustomize sops)

have_all() {
  local b
  for b in "${all_bins[@]}"; do [[ -s "$bin_dir/$b" ]] || return 1; done
}

if have_all; then
  echo "control plane binaries present in $bin_dir"
  exit 0
fi

mkdir -p "$bin_dir" "$work_dir"
step="setup"
trap 'rc=$?; if [[ $rc -ne 0 ]]; then echo "build failed at step: $step (exit $rc); see output above" >&2; fi' EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# new_module DIR NAME: an empty wrapper module in the build dir.
new_module() {
  rm -rf "$1" && mkdir -p "$1"
  (cd "$1" && go mod init "tether.local/controlplane/$2" >/dev/null 2>&1)
}

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

build_kubernetes() {
  local out="$bin_dir"
  if [[ -s $out/kube-apiserver && -s $out/kube-controller-manager && -s $out/kube-scheduler && -s $out/kubectl ]]; then return; fi
  step="kubernetes: download k8s.io/kubernetes@$K8S_VERSION"
  log "$step"
  local mod_json gomod minor dir
  mod_json=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
  gomod=$(printf '%s' "$mod_json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || { echo "could not locate go.mod of k8s.io/kubernetes@$K8S_VERSION" >&2; return 1; }
  minor=${K8S_VERSION#v1.}            # e.g. 37.2
  local staging_version="v0.${minor}" # k8s.io/api v0.37.2 for Kubernetes v1.37.2
  dir="$work_dir/kubernetes"
  step="kubernetes: generate wrapper module"
  log "$step"
  new_module "$dir" kubernetes
  (
    cd "$dir"
    local go_line godebug_line
    go_line=$(grep -E '^go [0-9]' "$gomod" | head -1)
    go mod edit -go="${go_line#go }"
    godebug_line=$(grep -E '^godebug ' "$gomod" | head -1 || true)
    [[ -n "$godebug_line" ]] && go mod edit -godebug="${godebug_line#godebug }"
    go mod edit -require="k8s.io/kubernetes@$K8S_VERSION"
    # Every `k8s.io/X => ./staging/src/k8s.io/X` line names one staging module.
    grep -E '=> \./staging/src/' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
    for t in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      go mod edit -tool="k8s.io/kubernetes/cmd/$t"
    done
  )
  step="kubernetes: go mod tidy"
  log "$step"
  (cd "$dir" && go mod tidy)
  step="kubernetes: go build (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)"
  log "$step"
  local major=1 kminor=${minor%%.*} commit
  commit=$(printf '%s' "$mod_json" | sed -n 's/^[[:space:]]*"Hash": "h1:\(.*\)",$/\1/p' | head -c 12)
  local ldf=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$kminor"
    ldf+=" -X $pkg.gitCommit=${commit:-unknown} -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldf" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
}

# build_tool NAME MODULE@VERSION PACKAGE [LDFLAGS]: a wrapper module that tracks one main package.
build_tool() {
  local name=$1 modver=$2 pkg=$3 ldf=${4:-}
  [[ -s "$bin_dir/$name" ]] && return
  local dir="$work_dir/$name"
  step="$name: wrapper module for $modver"
  log "$step"
  new_module "$dir" "$name"
  (cd "$dir" && go get "$modver" && go mod edit -tool="$pkg" && go mod tidy)
  step="$name: go build $pkg"
  log "$step"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldf" -o "$bin_dir/$name" "$pkg")
}

kwok_stages() {
  [[ -s "$bin_dir/kwok-stages.yaml" ]] && return
  step="kwok: assemble stages from the module"
  log "$step"
  local src
  src=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  local tmp="$bin_dir/kwok-stages.yaml.tmp"
  : >"$tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ -f "$src/kustomize/stage/$f" ]] || { echo "kwok stage $f not found in $src" >&2; return 1; }
    printf -- '---\n' >>"$tmp"
    cat "$src/kustomize/stage/$f" >>"$tmp"
    printf '\n' >>"$tmp"
  done
  mv "$tmp" "$bin_dir/kwok-stages.yaml"
}

start=$(date +%s)
build_tool etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
build_tool kwok "sigs.k8s.io/kwok@$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
kwok_stages
build_kubernetes
build_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5 \
  "-X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION"
build_tool helm "helm.sh/helm/v3@$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
build_tool sops "github.com/getsops/sops/v3@$SOPS_VERSION" github.com/getsops/sops/v3/cmd/sops
step="done"
have_all
log "built all binaries into $bin_dir in $(( $(date +%s) - start ))s"
