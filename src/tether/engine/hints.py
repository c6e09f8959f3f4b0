"""What to do about an API server's refusal of a manifest: every hint names the real fix."""

from __future__ import annotations

import re

from tether.errors import ClusterError

_MISSING_NAMESPACE = re.compile(r'namespaces "([^"]+)" not found')


def rejection_hint(exc: ClusterError, *, app: str, impersonated: str | None) -> str:
    """The fix for a dry-run or apply the API server refused."""
    missing = _MISSING_NAMESPACE.search(exc.message)
    if exc.status == 404 and missing:
        return (
            f"namespace {missing.group(1)} does not exist: add the sync option"
            f" CreateNamespace=true (tether app set {app} --sync-option CreateNamespace=true)"
            " or create the namespace first"
        )
    if exc.status == 403:
        if impersonated:
            return (
                f"{impersonated} (the app's ServiceAccount) may not do this: grant it RBAC"
                " for that kind and namespace, or change the manifest"
            )
        return "tether's own identity may not do this: check its RBAC (deploy/rbac.yaml)"
    return "fix the manifest in Git"
