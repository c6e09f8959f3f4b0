"""Kubernetes adapter: discovery, get/list, server-side apply and dry-run, delete, the
shared watch cache.

Owns: the official `kubernetes` client (used nowhere else), request timeouts, error
translation into ClusterError with the API server's message. Must not: decide anything
about what to apply; callers pass manifests and get objects back.
"""

from tether.kube import credential_files
from tether.kube.cache import LiveCache, owner_app
from tether.kube.client import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    KubeClient,
    ResourceInfo,
)

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "KubeClient",
    "LiveCache",
    "ResourceInfo",
    "credential_files",
    "owner_app",
]
