"""Flux: Kustomization, HelmRelease and the source/notification/image kinds, so that
tether can watch clusters that also run Flux."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import (
    as_generation,
    condition_stale,
    conditions_of,
    describe,
    generation_behind,
    has_status,
    is_status,
    kind,
    section,
)
from ..status import ResourceHealth, degraded, healthy, progressing, suspended

_KINDS: dict[str, tuple[str, ...]] = {
    "kustomize.toolkit.fluxcd.io": ("Kustomization",),
    "helm.toolkit.fluxcd.io": ("HelmRelease",),
    "source.toolkit.fluxcd.io": (
        "GitRepository",
        "OCIRepository",
        "HelmRepository",
        "HelmChart",
        "Bucket",
        "ExternalArtifact",
    ),
    "notification.toolkit.fluxcd.io": ("Alert", "Provider", "Receiver"),
    "image.toolkit.fluxcd.io": ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation"),
}


def flux_health(obj: ObjView) -> ResourceHealth:
    spec = section(obj, "spec")
    if spec.get("suspend") is True:
        return suspended(f"{kind(obj)} is suspended")
    if kind(obj) == "HelmRepository" and spec.get("type") == "oci" and not has_status(obj):
        # Flux does not reconcile OCI Helm repositories: they never get a status.
        return healthy("Helm repositories of type 'oci' do not report a status")
    found = conditions_of(obj)
    ready = found.get("Ready")
    if is_status(found.get("Stalled"), "True"):
        return degraded(describe(found["Stalled"], "Stalled"))
    if ready is None:
        return progressing(f"Waiting for {kind(obj)} to be reconciled")
    # Flux stamps its conditions; status.observedGeneration stays -1 until a reconcile
    # succeeds, so it only decides for a condition without a stamp.
    stamped = as_generation(ready.get("observedGeneration")) is not None
    if condition_stale(ready, obj) or (not stamped and generation_behind(obj)):
        return progressing(f"Waiting for {kind(obj)} to reconcile the latest generation")
    if is_status(ready, "True"):
        return healthy(describe(ready))
    # While a reconcile runs Flux sets Ready=Unknown (with Reconciling=True); a Ready=False
    # is the verdict of the last attempt, also when it is being retried.
    if is_status(ready, "False"):
        return degraded(describe(ready, "Not ready"))
    return progressing(describe(ready, "Reconciling"))


RULES = {(group, name): flux_health for group, names in _KINDS.items() for name in names}
