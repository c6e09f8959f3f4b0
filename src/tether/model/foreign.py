"""Objects another GitOps tool manages, by that tool's own marks: which Argo CD
Application or Flux Kustomization/HelmRelease an object belongs to.

A detect-only app imported from such a tool (`tether import --shadow`, annotation
`tether.dev/imported-from`) tracks, besides the objects its render names, every object
the source tool marks as that app's: one deleted from Git but still in the cluster is
reported as extraneous (the source tool would prune it), never pruned by tether.

Marks (index keys of the watch cache, `foreign_marks`):
- Argo CD: `argocd.argoproj.io/tracking-id` (`<app>:<group>/<kind>:<ns>/<name>`; `<app>`
  is `<namespace>_<name>` for an app outside Argo CD's own namespace), else the legacy
  label `app.kubernetes.io/instance` → `argocd:<app>`;
- Flux: `kustomize.toolkit.fluxcd.io/name` + `/namespace` → `flux:Kustomization:<ns>/<name>`,
  `helm.toolkit.fluxcd.io/name` + `/namespace` → `flux:HelmRelease:<ns>/<name>`.
Objects with an ownerReference are another object's children (a chart's labels reach pod
templates and so ReplicaSets): never marked, as Argo CD does not count them either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ARGOCD_TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
ARGOCD_INSTANCE_LABEL = "app.kubernetes.io/instance"
FLUX_KUSTOMIZATION_LABELS = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
)
FLUX_HELM_RELEASE_LABELS = ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace")
FOREIGN_KINDS = {"argocd": ("Application",), "flux": ("Kustomization", "HelmRelease")}


@dataclass(frozen=True)
class ForeignApp:
    """An Argo CD Application or Flux Kustomization/HelmRelease a tether app came from."""

    tool: str  # "argocd" | "flux"
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.tool}/{self.kind}/{self.namespace}/{self.name}"

    def marks(self) -> tuple[str, ...]:
        """The index keys of the objects the tool marks as this app's."""
        if self.tool == "argocd":
            return (f"argocd:{self.name}", f"argocd:{self.namespace}_{self.name}")
        return (f"flux:{self.kind}:{self.namespace}/{self.name}",)


def parse_foreign_app(value: object) -> ForeignApp | None:
    """`<tool>/<kind>/<namespace>/<name>` as `tether import` writes it; None for anything
    else (the annotation is the app author's to write: a wrong one tracks nothing)."""
    if not isinstance(value, str):
        return None
    parts = value.split("/")
    if len(parts) != 4 or not all(parts):
        return None
    tool, kind, namespace, name = parts
    if kind not in FOREIGN_KINDS.get(tool, ()):
        return None
    return ForeignApp(tool, kind, namespace, name)


def foreign_marks(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The marks other tools left on `obj` (see the module doc)."""
    meta = obj.get("metadata") or {}
    if meta.get("ownerReferences"):
        return ()
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    marks = []
    tracking = annotations.get(ARGOCD_TRACKING_ANNOTATION)
    if isinstance(tracking, str) and ":" in tracking:
        marks.append(f"argocd:{tracking.split(':', 1)[0]}")
    elif isinstance(labels.get(ARGOCD_INSTANCE_LABEL), str):
        marks.append(f"argocd:{labels[ARGOCD_INSTANCE_LABEL]}")
    for kind, (name_label, namespace_label) in (
        ("Kustomization", FLUX_KUSTOMIZATION_LABELS),
        ("HelmRelease", FLUX_HELM_RELEASE_LABELS),
    ):
        name, namespace = labels.get(name_label), labels.get(namespace_label)
        if isinstance(name, str) and isinstance(namespace, str) and name and namespace:
            marks.append(f"flux:{kind}:{namespace}/{name}")
    return tuple(marks)


__all__ = [
    "ARGOCD_INSTANCE_LABEL",
    "ARGOCD_TRACKING_ANNOTATION",
    "FLUX_HELM_RELEASE_LABELS",
    "FLUX_KUSTOMIZATION_LABELS",
    "ForeignApp",
    "foreign_marks",
    "parse_foreign_app",
]
