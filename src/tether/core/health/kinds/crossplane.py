"""Crossplane: packages (Provider, Configuration, Function), managed resources, and the
claims and composites of any API group (`Synced` + `Ready`)."""

from __future__ import annotations

from collections.abc import Callable

from tether.core.paths import ObjView

from ..readers import conditions_of, has_status, is_status, kind, message_of, section
from ..status import ResourceHealth, degraded, healthy, progressing

PACKAGE_GROUP = "pkg.crossplane.io"
# Groups whose every kind is a Crossplane object (Argo CD's `_.crossplane.io/_`), plus
# the Upbound provider families that manage cloud resources.
_GROUP_SUFFIXES = (".crossplane.io", ".upbound.io")
# Kinds that never get a status: configuration, not something that converges.
_STATUSLESS_KINDS = frozenset(
    {
        "Composition",
        "CompositionRevision",
        "DeploymentRuntimeConfig",
        "ClusterProviderConfig",
        "ProviderConfig",
        "ProviderConfigUsage",
        "ControllerConfig",
    }
)
# Spec fields Crossplane adds to every claim (resourceRef, compositionRef ...), composite
# (v1: compositionRef / resourceRefs; v2: spec.crossplane) and managed resource.
_CROSSPLANE_SPEC_FIELDS = frozenset(
    {
        "compositionRef",
        "compositionSelector",
        "compositionRevisionRef",
        "compositionUpdatePolicy",
        "resourceRef",
        "resourceRefs",
        "crossplane",
        "forProvider",
        "providerConfigRef",
    }
)
_HEALTHY_TYPES = ("Ready", "Healthy", "Offered", "Established", "ValidPipeline", "RevisionHealthy")


def crossplane_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    if not status and kind(obj) in _STATUSLESS_KINDS:
        return healthy("Resource is up-to-date.")
    found = conditions_of(obj)
    if not found:
        if kind(obj) in ("ProviderConfig", "ClusterProviderConfig") and status.get("users"):
            return healthy("Resource is in use.")
        return progressing("Provisioning ...")
    # Failures first, whatever the order of the conditions.
    for failed_type in ("LastAsyncOperation", "Synced"):
        if is_status(found.get(failed_type), "False"):
            return degraded(message_of(found[failed_type], f"{failed_type} is False"))
    for healthy_type in _HEALTHY_TYPES:
        if is_status(found.get(healthy_type), "True"):
            return healthy("Resource is up-to-date.")
    ready = found.get("Ready")
    return progressing(message_of(ready, "Provisioning ...") if ready else "Provisioning ...")


def package_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    if not has_status(obj) or not found:
        return progressing(f"Waiting for {kind(obj).lower()} to be installed")
    installed, healthy_cond = found.get("Installed"), found.get("Healthy")
    message = " ".join(
        str(cond.get("reason") or "") for cond in (installed, healthy_cond) if cond is not None
    )
    if is_status(installed, "True") and is_status(healthy_cond, "True"):
        return healthy(message)
    return degraded(message or "Package is not installed and healthy")


def crossplane_rule_for(group: str, obj: ObjView) -> Callable[[ObjView], ResourceHealth] | None:
    """The Crossplane rule for an object of a group without an exact rule, if it is one."""
    if group.endswith(_GROUP_SUFFIXES):
        return crossplane_health
    spec = section(obj, "spec")
    if group and _CROSSPLANE_SPEC_FIELDS.intersection(spec):
        return crossplane_health
    return None


RULES = {
    (PACKAGE_GROUP, name): package_health for name in ("Provider", "Configuration", "Function")
}
