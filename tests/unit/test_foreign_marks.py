"""Which Argo CD or Flux app an object belongs to, by that tool's marks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.manifests import configmap
from tether.model.foreign import ForeignApp, foreign_marks, parse_foreign_app


def marked(labels: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    return configmap("cfg", namespace="team", labels=labels or {}, annotations=annotations)


@pytest.mark.parametrize(
    ("obj", "marks"),
    [
        (marked(**{"argocd.argoproj.io/tracking-id": "web:/ConfigMap:team/cfg"}), ("argocd:web",)),
        (marked({"app.kubernetes.io/instance": "web"}), ("argocd:web",)),
        # The tracking id wins over the legacy label (a chart sets the label to anything).
        (
            marked(
                {"app.kubernetes.io/instance": "release"},
                **{"argocd.argoproj.io/tracking-id": "team_web:/ConfigMap:team/cfg"},
            ),
            ("argocd:team_web",),
        ),
        (
            marked(
                {
                    "kustomize.toolkit.fluxcd.io/name": "apps",
                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
                }
            ),
            ("flux:Kustomization:flux-system/apps",),
        ),
        (
            marked(
                {
                    "helm.toolkit.fluxcd.io/name": "podinfo",
                    "helm.toolkit.fluxcd.io/namespace": "flux-system",
                    "app.kubernetes.io/instance": "podinfo",
                }
            ),
            ("argocd:podinfo", "flux:HelmRelease:flux-system/podinfo"),
        ),
        (marked({"kustomize.toolkit.fluxcd.io/name": "apps"}), ()),  # half a Flux mark
        (marked(), ()),
    ],
)
def test_marks_of_argo_cd_and_flux(obj: dict[str, Any], marks: tuple[str, ...]) -> None:
    assert foreign_marks(obj) == marks


def test_a_child_object_is_never_marked() -> None:
    obj = marked({"app.kubernetes.io/instance": "web"})
    assert foreign_marks(obj) == ("argocd:web",)
    obj["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "uid": "1"}]
    assert foreign_marks(obj) == ()


def test_imported_from_names_the_marks_it_matches() -> None:
    argo = parse_foreign_app("argocd/Application/argocd/web")
    assert argo == ForeignApp("argocd", "Application", "argocd", "web")
    assert set(argo.marks()) == {"argocd:web", "argocd:argocd_web"}
    flux = parse_foreign_app("flux/Kustomization/flux-system/apps")
    assert flux is not None and flux.marks() == ("flux:Kustomization:flux-system/apps",)
    assert str(flux) == "flux/Kustomization/flux-system/apps"


@pytest.mark.parametrize(
    "value",
    [None, 3, "", "argocd/web", "argocd/Kustomization/ns/web", "helm/Release/ns/x", "a/b/c/d/e",
     "flux/HelmRelease//x"],
)  # fmt: skip
def test_a_malformed_imported_from_tracks_nothing(value: object) -> None:
    assert parse_foreign_app(value) is None
