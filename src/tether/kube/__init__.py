"""Kubernetes adapter: discovery, get/list, server-side apply and dry-run, delete."""

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
    "owner_app",
]
