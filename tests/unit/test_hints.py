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


def test_an_argo_cd_application_in_a_render_says_what_tether_reads() -> None:
    import pytest

    from tether.core.desired import prepare_desired
    from tether.errors import InputError

    argo = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook"},
        "spec": {},
    }
    with pytest.raises(InputError) as caught:
        prepare_desired(
            [argo],
            app_namespace="tether-system",
            app_name="root",
            destination_namespace="tether-system",
            scope=lambda group, kind: None,
        )
    assert "does not serve kind Application in argoproj.io/v1alpha1" in caught.value.message
    assert "tether reads tether.dev/v1alpha1 Applications" in (caught.value.hint or "")
