#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok) and the render tools (helm, kustomize, sops,
# tether-jsonnet) from Go modules into ${XDG_CACHE_HOME:-~/.cache}/tether/bin/<version>/.
#
# Every tool gets its own wrapper module (their dependency graphs disagree on
# k8s.io/* versions). The Kubernetes wrapper is generated from the served go.mod of
# k8s.io/kubernetes so that the staging replaces are never kept by hand.
# tether-jsonnet is tether's own small main (tools/controlplane/jsonnet/main.go) on the
# go-jsonnet library: it confines imports to the repository.
#
# Each binary records its recipe (module, version, ldflags, Go version, source digest)
# in <bin>/.recipes/NAME. A binary is built only when it is missing; a binary missing
# here but present with the same recipe in another version directory of the cache is
# copied from there instead, so a change of one tool's recipe rebuilds that tool only.
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

all_bins=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwok-stages.yaml helm kustomize sops tether-jsonnet)
jsonnet_main="$here/jsonnet/main.go"

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
# The go tool's own output (hundreds of "go: downloading" lines) goes to this file; the
# terminal gets one line per component. TETHER_BUILD_VERBOSE=1 streams everything.
build_log="$work_dir/build.log"
: >"$build_log"
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "build failed at step: $step (exit $rc); full log: $build_log" >&2
    if [[ -z "${TETHER_BUILD_VERBOSE:-}" ]]; then tail -n 15 "$build_log" | sed 's/^/  | /' >&2; fi
  fi
}
trap on_exit EXIT

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# component NAME WHAT FUNCTION ARGS...: build one component, one progress line for it.
component() {
  local name=$1 what=$2 t0
  shift 2
  t0=$(date +%s)
  # On a terminal the line says what is being built and is then completed in place;
  # in a log (CI) only the finished line appears.
  if [[ -t 2 ]]; then printf '[%s] %-16s %s ...' "$(date +%H:%M:%S)" "$name" "$what" >&2; fi
  if [[ -n "${TETHER_BUILD_VERBOSE:-}" ]]; then
    "$@"
  else
    "$@" >>"$build_log" 2>&1
  fi
  if [[ -t 2 ]]; then printf '\r\033[K' >&2; fi
  printf '[%s] %-16s %s: ready in %ss\n' "$(date +%H:%M:%S)" "$name" "$what" \
    "$(( $(date +%s) - t0 ))" >&2
}

# new_module DIR NAME: an empty wrapper module in the build dir.
new_module() {
  rm -rf "$1" && mkdir -p "$1"
  (cd "$1" && go mod init "tether.local/controlplane/$2" >/dev/null 2>&1)
}

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

build_kubernetes() {
  local out="$bin_dir"
  local k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local recipe="k8s.io/kubernetes@$K8S_VERSION ldflags[version] $go_version"
  if [[ -s $out/kube-apiserver && -s $out/kube-controller-manager && -s $out/kube-scheduler && -s $out/kubectl ]]; then return; fi
  reuse "$recipe" "${k8s_bins[@]}" && return
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
  record_recipe "$recipe" "${k8s_bins[@]}"
}

go_version=$(go env GOVERSION)

# record_recipe RECIPE NAME...: what built these binaries.
record_recipe() {
  local recipe=$1 name
  shift
  mkdir -p "$bin_dir/.recipes"
  for name in "$@"; do printf '%s\n' "$recipe" >"$bin_dir/.recipes/$name"; done
}

# reuse RECIPE NAME...: copy the binaries from another version directory of the cache
# whose recipe for each of them is RECIPE; false when none has them all.
reuse() {
  local recipe=$1 other name
  shift
  for other in "$cache_root"/bin/*/; do
    other=${other%/}
    [[ "$other" == "$bin_dir" ]] && continue
    local all=1
    for name in "$@"; do
      if [[ ! -s "$other/$name" || "$(cat "$other/.recipes/$name" 2>/dev/null)" != "$recipe" ]]; then
        all=0
        break
      fi
    done
    ((all)) || continue
    for name in "$@"; do
      cp -p "$other/$name" "$bin_dir/$name.tmp" && mv "$bin_dir/$name.tmp" "$bin_dir/$name"
    done
    record_recipe "$recipe" "$@"
    log "$*: same recipe in $(basename "$other"), copied"
    return 0
  done
  return 1
}

# wrapper_module NAME MODULE@VERSION PACKAGE: a wrapper module that tracks one main package.
wrapper_module() {
  local name=$1 modver=$2 pkg=$3
  local dir="$work_dir/$name"
  step="$name: wrapper module for $modver"
  log "$step"
  new_module "$dir" "$name"
  (cd "$dir" && go get "$modver" && go mod edit -tool="$pkg" && go mod tidy)
}

# build_tool NAME MODULE@VERSION PACKAGE [LDFLAGS]: one main package of a module.
build_tool() {
  local name=$1 modver=$2 pkg=$3 ldf=${4:-}
  local recipe="$modver $pkg ldflags[$ldf] $go_version"
  [[ -s "$bin_dir/$name" ]] && return
  reuse "$recipe" "$name" && return
  wrapper_module "$name" "$modver" "$pkg"
  step="$name: go build $pkg"
  log "$step"
  (cd "$work_dir/$name" && go build -trimpath -ldflags "-s -w $ldf" -o "$bin_dir/$name" "$pkg")
  record_recipe "$recipe" "$name"
}

# helm with the ldflags of helm's Makefile: its version (`.Capabilities.HelmVersion`),
# a clean tree state, and the Kubernetes version of the client-go it is built with
# (the default `.Capabilities.KubeVersion` when no --kube-version is given, else
# v1.20.0). The git commit is not known from a module download and stays empty.
build_helm() {
  local name=helm modver="helm.sh/helm/v3@$HELM_VERSION" pkg=helm.sh/helm/v3/cmd/helm
  local recipe="$modver $pkg ldflags[version,gitTreeState,k8s-from-client-go] $go_version"
  [[ -s "$bin_dir/$name" ]] && return
  reuse "$recipe" "$name" && return
  wrapper_module "$name" "$modver" "$pkg"
  local client_go major minor ldf
  client_go=$(cd "$work_dir/$name" && go list -m -f '{{.Version}}' k8s.io/client-go) # v0.37.0
  IFS=. read -r major minor _ <<<"${client_go#v}"
  major=$((major + 1))
  ldf="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldf+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkgvar in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldf+=" -X $pkgvar.k8sVersionMajor=$major -X $pkgvar.k8sVersionMinor=$minor"
  done
  step="$name: go build $pkg"
  log "$step"
  (cd "$work_dir/$name" && go build -trimpath -ldflags "-s -w $ldf" -o "$bin_dir/$name" "$pkg")
  record_recipe "$recipe" "$name"
}

# tether-jsonnet: tether's main on github.com/google/go-jsonnet.
build_jsonnet() {
  local name=tether-jsonnet source_digest
  source_digest=$(sha256sum "$jsonnet_main" | cut -c1-16)
  local recipe="github.com/google/go-jsonnet@$JSONNET_VERSION main.go@$source_digest $go_version"
  [[ -s "$bin_dir/$name" ]] && return
  reuse "$recipe" "$name" && return
  local dir="$work_dir/$name"
  step="$name: module on github.com/google/go-jsonnet@$JSONNET_VERSION"
  log "$step"
  new_module "$dir" "$name"
  cp "$jsonnet_main" "$dir/main.go"
  (cd "$dir" && go get "github.com/google/go-jsonnet@$JSONNET_VERSION" && go mod tidy)
  step="$name: go build"
  log "$step"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/$name" .)
  record_recipe "$recipe" "$name"
}

kwok_stages() {
  local recipe="sigs.k8s.io/kwok@$KWOK_VERSION stages[node-initialize,heartbeat-with-lease,pod-ready,pod-complete,pod-delete]"
  [[ -s "$bin_dir/kwok-stages.yaml" ]] && return
  reuse "$recipe" kwok-stages.yaml && return
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
  record_recipe "$recipe" kwok-stages.yaml
}

start=$(date +%s)
log "building the control plane and render tools into $bin_dir (log: $build_log)"
component etcd "etcd $ETCD_VERSION" \
  build_tool etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
component kwok "kwok $KWOK_VERSION" \
  build_tool kwok "sigs.k8s.io/kwok@$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok \
  "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
component kwok-stages "kwok's pod stages" kwok_stages
component kubernetes "kube-apiserver, controller-manager, scheduler, kubectl $K8S_VERSION" \
  build_kubernetes
component kustomize "kustomize $KUSTOMIZE_VERSION" \
  build_tool kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" \
  sigs.k8s.io/kustomize/kustomize/v5 \
  "-X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION"
component helm "helm $HELM_VERSION" build_helm
component sops "sops $SOPS_VERSION" \
  build_tool sops "github.com/getsops/sops/v3@$SOPS_VERSION" github.com/getsops/sops/v3/cmd/sops
component tether-jsonnet "go-jsonnet $JSONNET_VERSION" build_jsonnet
step="done"
have_all
log "built all binaries into $bin_dir in $(( $(date +%s) - start ))s"
