"""Every refusal's hint names the real fix (a missing namespace is not "fix the manifest")."""

from __future__ import annotations

from tether.engine.hints import rejection_hint
from tether.errors import ClusterError


def test_a_missing_namespace_points_at_create_namespace() -> None:
    exc = ClusterError('namespaces "shop" not found', status=404, reason="NotFound")
    hint = rejection_hint(exc, app="web", impersonated=None)
    assert "namespace shop does not exist: add the sync option CreateNamespace=true" in hint
    assert "tether app set web --sync-option CreateNamespace=true" in hint


def test_forbidden_names_whose_rights_are_missing() -> None:
    exc = ClusterError('configmaps is forbidden: User "x" cannot create', status=403)
    account = "system:serviceaccount:shop:deployer"
    assert account in rejection_hint(exc, app="web", impersonated=account)
    assert "deploy/rbac.yaml" in rejection_hint(exc, app="web", impersonated=None)


def test_anything_else_is_the_manifest() -> None:
    exc = ClusterError("spec.replicas: Invalid value", status=422, reason="Invalid")
    assert rejection_hint(exc, app="web", impersonated=None) == "fix the manifest in Git"
