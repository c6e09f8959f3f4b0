"""Which rule assesses an object: a custom rule, a built-in rule for its kind, a per-CRD
rule, or the kstatus conventions; and the verdict for objects on their way out."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tether.core.paths import ObjView
from tether.model.keys import split_api_version

from . import apiextensions, networking, pods, storage_batch, workloads
from .custom import CustomHealthRule
from .kinds import RULES as CRD_RULES
from .kinds import crossplane_rule_for
from .kstatus import kstatus_health
from .readers import section
from .status import ResourceHealth, healthy, progressing

HealthChecker = Callable[[ObjView], ResourceHealth | None]

_BUILTIN_CHECKERS: dict[tuple[str, str], HealthChecker] = {
    ("apps", "Deployment"): workloads.deployment_health,
    ("apps", "StatefulSet"): workloads.statefulset_health,
    ("apps", "DaemonSet"): workloads.daemonset_health,
    ("apps", "ReplicaSet"): workloads.replicaset_health,
    ("autoscaling", "HorizontalPodAutoscaler"): workloads.hpa_health,
    ("", "Pod"): pods.pod_health,
    ("", "Service"): networking.service_health,
    ("networking.k8s.io", "Ingress"): networking.ingress_health,
    ("policy", "PodDisruptionBudget"): networking.pdb_health,
    ("", "PersistentVolumeClaim"): storage_batch.pvc_health,
    ("batch", "Job"): storage_batch.job_health,
    ("batch", "CronJob"): storage_batch.cronjob_health,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): apiextensions.crd_health,
    ("apiregistration.k8s.io", "APIService"): apiextensions.apiservice_health,
    ("", "Namespace"): apiextensions.namespace_health,
    **CRD_RULES,
}

# API groups Kubernetes itself serves. Their kinds without a rule (ConfigMap, Role, ...)
# have no health notion; a custom resource of any other group does (see builtin_health).
_KUBERNETES_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "extensions",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "metrics.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


def group_and_kind(obj: ObjView) -> tuple[str, str]:
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    return group, str(obj.get("kind", ""))


def matching_rule(obj: ObjView, rules: Sequence[CustomHealthRule]) -> CustomHealthRule | None:
    """The first custom rule (jq or CEL) for the object's group/kind, if any."""
    group, kind = group_and_kind(obj)
    return next((rule for rule in rules if rule.matches(group, kind)), None)


def has_builtin_rule(obj: ObjView) -> bool:
    """True when tether knows this kind (a built-in or per-CRD rule, not kstatus)."""
    group, kind = group_and_kind(obj)
    return (group, kind) in _BUILTIN_CHECKERS or crossplane_rule_for(group, obj) is not None


def builtin_health(obj: ObjView) -> ResourceHealth | None:
    group, kind = group_and_kind(obj)
    checker = _BUILTIN_CHECKERS.get((group, kind)) or crossplane_rule_for(group, obj)
    if checker is not None:
        return checker(obj)
    health = kstatus_health(obj)
    if health is None and group not in _KUBERNETES_GROUPS:
        # A custom resource nobody reports on, of a kind tether has no rule for: kstatus
        # says Current, Argo CD counts it as healthy. (Kinds with a rule say Progressing:
        # their controller is expected to write a status.)
        return healthy()
    return health


def assess_health(obj: ObjView, rules: Sequence[CustomHealthRule] = ()) -> ResourceHealth | None:
    """Health of one live object; None when its kind has no health notion (a ConfigMap).

    The first custom rule matching the object's group/kind replaces the built-in rule.
    """
    rule = matching_rule(obj, rules)
    if rule is not None:
        return rule.evaluate(obj)
    health = builtin_health(obj)
    if health is None:
        return None
    # An object on its way out is neither done nor failed, whatever its status says.
    metadata = section(obj, "metadata")
    if metadata.get("deletionTimestamp"):
        finalizers = metadata.get("finalizers")
        if isinstance(finalizers, list) and finalizers:
            return progressing(f"Pending deletion (finalizers: {', '.join(map(str, finalizers))})")
        return progressing("Pending deletion")
    return health
