"""Where the Go-built binaries live: the cache directory that tools/controlplane/build.sh fills."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tether.errors import LocalClusterError

VERSIONS_FILE = Path(__file__).with_name("versions.env")
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
RENDER_TOOLS = ("helm", "kustomize", "sops", "kubectl")
BUILD_HINT = "run `make cluster-bins` (builds them from Go modules into the cache)"


def pinned_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for raw in VERSIONS_FILE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def bin_dir() -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/tether/bin/k8s-<version>-<hash of versions.env>`."""
    override = os.environ.get("TETHER_BIN_DIR")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(VERSIONS_FILE.read_bytes()).hexdigest()[:10]
    return cache / "tether" / "bin" / f"k8s-{pinned_versions()['K8S_VERSION']}-{digest}"


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not path.is_file():
        raise LocalClusterError(f"{name}: binary not found at {path}", hint=BUILD_HINT)
    return path


def kwok_stages() -> Path:
    return binary("kwok-stages.yaml")
