"""Health assessment of live objects and of a whole application (DESIGN §3 "Health").

Pure: objects are plain dicts in Kubernetes wire form, nothing here talks to a cluster or
reads a clock. Built-in rules cover the workload and networking kinds whose readiness
Kubernetes itself does not summarise in one condition; every other kind falls back to
the kstatus conventions (`observedGeneration`, `Ready` / `Reconciling` / `Stalled`).

Operators can override the built-in rule for a group/kind with a custom jq rule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import jq as jq_lang  # aliased: CustomHealthRule has a field named `jq`
import orjson

from tether.errors import InputError
from tether.model.fields import show
from tether.model.keys import ResourceKey, split_api_version

Obj = Mapping[str, Any]


# --------------------------------------------------------------------------------------
# Statuses and results


class HealthStatus(StrEnum):
    """Health of one object or one application, declared from best to worst."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"

    @property
    def severity(self) -> int:
        """0 for Healthy up to 5 for Unknown: higher is worse."""
        return _SEVERITY_ORDER.index(self)

    # Comparisons follow severity, not the alphabet, when both sides are statuses.
    def __lt__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity < other.severity
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity <= other.severity
        return str.__le__(self, other)

    def __gt__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity > other.severity
        return str.__gt__(self, other)

    def __ge__(self, other: str) -> bool:
        if isinstance(other, HealthStatus):
            return self.severity >= other.severity
        return str.__ge__(self, other)

    @classmethod
    def parse(cls, text: str) -> HealthStatus:
        """`"degraded"` -> DEGRADED (case-insensitive); ValueError for anything else."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        names = ", ".join(s.value for s in cls)
        raise ValueError(f"{text!r} is not a health status (one of {names})")


_SEVERITY_ORDER: tuple[HealthStatus, ...] = tuple(HealthStatus)


def worst(*statuses: HealthStatus) -> HealthStatus:
    """The most severe of `statuses`; Healthy when none are given."""
    return max(statuses, key=lambda status: status.severity, default=HealthStatus.HEALTHY)


@dataclass(frozen=True)
class ResourceHealth:
    """The health of one object, with a message for people."""

    status: HealthStatus
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        """Wire form for Application `.status` (`message` left out when empty)."""
        out = {"status": self.status.value}
        if self.message:
            out["message"] = self.message
        return out


def _healthy(message: str = "") -> ResourceHealth:
    return ResourceHealth(HealthStatus.HEALTHY, message)


def _progressing(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.PROGRESSING, message)


def _degraded(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.DEGRADED, message)


def _suspended(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.SUSPENDED, message)


def health_of_missing() -> ResourceHealth:
    """Health of an object that Git wants but the cluster does not have.

    Applies to every kind, including those without a health notion (a missing ConfigMap
    is still a problem for the application).
    """
    return ResourceHealth(HealthStatus.MISSING, "Resource does not exist in the cluster")


# --------------------------------------------------------------------------------------
# Small readers that tolerate malformed or partial objects (status is written by
# controllers we do not control, so never trust its shape).


def _section(obj: Obj, name: str) -> Mapping[str, Any]:
    value = obj.get(name)
    return value if isinstance(value, Mapping) else {}


def _int(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = mapping.get(key)
    # bool is an int subclass; a boolean is never a meaningful count.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def _name(obj: Obj) -> str:
    return str(_section(obj, "metadata").get("name", ""))


def _generation(obj: Obj) -> int:
    return _int(_section(obj, "metadata"), "generation")


def _desired_replicas(obj: Obj) -> int:
    # The API server defaults spec.replicas to 1 for every workload kind.
    return _int(_section(obj, "spec"), "replicas", default=1)


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Conditions by type (a later duplicate wins, as the API server would keep one)."""
    raw = status.get("conditions")
    if not isinstance(raw, list):
        return {}
    return {str(cond["type"]): cond for cond in raw if isinstance(cond, Mapping) and "type" in cond}


def _is(cond: Mapping[str, Any] | None, value: str) -> bool:
    return cond is not None and str(cond.get("status", "")) == value


def _describe(cond: Mapping[str, Any] | None, fallback: str = "") -> str:
    """`reason: message` of a condition, whichever parts it has."""
    if cond is None:
        return fallback
    reason = str(cond.get("reason") or "")
    message = str(cond.get("message") or "")
    if reason and message:
        return f"{reason}: {message}"
    return reason or message or fallback


def _controller_behind(obj: Obj) -> bool:
    """True while a built-in controller has not yet seen the latest spec.

    Built-in controllers always write `observedGeneration`, so a missing one means "not
    processed yet", unlike custom resources (see `_kstatus_generation_behind`).
    """
    return _int(_section(obj, "status"), "observedGeneration") < _generation(obj)


# --------------------------------------------------------------------------------------
# Built-in rules, one function per kind. Each returns None only when the kind has no
# health notion; the dispatch table is at the bottom of this section.


def _deployment_health(obj: Obj) -> ResourceHealth:
    spec, status = _section(obj, "spec"), _section(obj, "status")
    # A paused rollout will not progress by itself: report it rather than "stuck".
    if spec.get("paused") is True:
        return _suspended("Deployment is paused")
    if _controller_behind(obj):
        return _progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired "
            "generation"
        )
    progressing = _conditions(status).get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return _degraded(f"Deployment {_name(obj)!r} exceeded its progress deadline")
    desired = _desired_replicas(obj)
    updated = _int(status, "updatedReplicas")
    current = _int(status, "replicas")
    available = _int(status, "availableReplicas")
    if updated < desired:
        return _progressing(
            f"Waiting for rollout to finish: {updated} out of {desired} new replicas have been "
            "updated..."
        )
    if current > updated:
        return _progressing(
            f"Waiting for rollout to finish: {current - updated} old replicas are pending "
            "termination..."
        )
    if available < updated:
        return _progressing(
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
            "available..."
        )
    return _healthy()


def _statefulset_health(obj: Obj) -> ResourceHealth:
    spec, status = _section(obj, "spec"), _section(obj, "status")
    if _controller_behind(obj):
        return _progressing("Waiting for statefulset spec update to be observed...")
    desired = _desired_replicas(obj)
    ready = _int(status, "readyReplicas")
    if ready < desired:
        return _progressing(f"Waiting for {desired - ready} pods to be ready...")
    if _int(status, "replicas") > desired:
        return _progressing(
            f"Waiting for {_int(status, 'replicas') - desired} pods to be terminated..."
        )
    strategy = _section(spec, "updateStrategy")
    # OnDelete: pods are only replaced when someone deletes them, so there is no rollout
    # to wait for; ready pods are all we can ask for.
    if strategy.get("type") == "OnDelete":
        return _healthy(f"statefulset has {ready} ready pods")
    partition = _int(_section(strategy, "rollingUpdate"), "partition")
    updated = _int(status, "updatedReplicas")
    if partition > 0:
        # Only ordinals >= partition are meant to move to the new revision (a canary).
        expected = max(desired - partition, 0)
        if updated < expected:
            return _progressing(
                f"Waiting for partitioned roll out to finish: {updated} out of {expected} new "
                "pods have been updated..."
            )
        return _healthy(f"partitioned roll out complete: {updated} new pods have been updated...")
    update_revision = status.get("updateRevision")
    if update_revision and update_revision != status.get("currentRevision"):
        return _progressing(
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_revision}..."
        )
    return _healthy(
        f"statefulset rolling update complete {_int(status, 'currentReplicas')} pods at "
        f"revision {status.get('currentRevision', '')}..."
    )


def _daemonset_health(obj: Obj) -> ResourceHealth:
    spec, status = _section(obj, "spec"), _section(obj, "status")
    if _controller_behind(obj):
        return _progressing("Waiting for daemon set spec update to be observed...")
    desired = _int(status, "desiredNumberScheduled")
    updated = _int(status, "updatedNumberScheduled")
    if _section(spec, "updateStrategy").get("type") == "OnDelete":
        return _healthy(f"daemon set {updated} out of {desired} new pods have been updated")
    name = _name(obj)
    if updated < desired:
        return _progressing(
            f"Waiting for daemon set {name!r} rollout to finish: {updated} out of {desired} new "
            "pods have been updated..."
        )
    available = _int(status, "numberAvailable")
    if available < desired:
        return _progressing(
            f"Waiting for daemon set {name!r} rollout to finish: {available} of {desired} "
            "updated pods are available..."
        )
    return _healthy()


def _replicaset_health(obj: Obj) -> ResourceHealth:
    status = _section(obj, "status")
    if _controller_behind(obj):
        return _progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired "
            "generation"
        )
    # ReplicaFailure is how a ReplicaSet reports pods it cannot create (quota, admission).
    failure = _conditions(status).get("ReplicaFailure")
    if _is(failure, "True"):
        return _degraded(_describe(failure, "ReplicaSet cannot create pods"))
    desired = _desired_replicas(obj)
    available = _int(status, "availableReplicas")
    if available < desired:
        return _progressing(
            f"Waiting for rollout to finish: {available} out of {desired} new replicas are "
            "available..."
        )
    return _healthy()


# Container waiting reasons that will not resolve without a change to the pod or image.
_STUCK_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
    }
)


def _container_statuses(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Init containers first: a stuck init container blocks everything after it."""
    statuses: list[Mapping[str, Any]] = []
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        raw = status.get(key)
        if isinstance(raw, list):
            statuses.extend(s for s in raw if isinstance(s, Mapping))
    return statuses


def _stuck_container(status: Mapping[str, Any]) -> str | None:
    """Message for the first container waiting for a reason that needs a human."""
    for container in _container_statuses(status):
        waiting = _section(_section(container, "state"), "waiting")
        reason = str(waiting.get("reason") or "")
        if reason in _STUCK_WAITING_REASONS:
            message = str(waiting.get("message") or "")
            detail = f"{reason}: {message}" if message else reason
            return f"container {container.get('name', '?')!r} is waiting: {detail}"
    return None


def _pod_failure_message(status: Mapping[str, Any]) -> str:
    if status.get("message"):
        return str(status["message"])
    for container in _container_statuses(status):
        terminated = _section(_section(container, "state"), "terminated")
        code = _int(terminated, "exitCode")
        if terminated and code != 0:
            reason = terminated.get("reason") or "Error"
            return (
                f"container {container.get('name', '?')!r} terminated with exit code {code} "
                f"({reason})"
            )
    return str(status.get("reason") or "Pod failed")


def _pod_pending_message(status: Mapping[str, Any]) -> str:
    scheduled = _conditions(status).get("PodScheduled")
    if _is(scheduled, "False"):
        return _describe(scheduled, "Pod is not scheduled yet")
    for container in _container_statuses(status):
        reason = _section(_section(container, "state"), "waiting").get("reason")
        if reason:
            return f"container {container.get('name', '?')!r} is waiting: {reason}"
    return str(status.get("message") or "Pod is pending")


def _unready_containers(status: Mapping[str, Any]) -> list[str]:
    raw = status.get("containerStatuses")
    if not isinstance(raw, list):
        return []
    return [
        str(c.get("name", "?"))
        for c in raw
        if isinstance(c, Mapping) and c.get("ready") is not True
    ]


def _pod_health(obj: Obj) -> ResourceHealth:
    status = _section(obj, "status")
    phase = str(status.get("phase") or "")
    if phase == "Succeeded":
        return _healthy(str(status.get("message") or "Pod completed"))
    if phase == "Failed":
        return _degraded(_pod_failure_message(status))
    # A crash loop or a bad image shows up while the phase is still Pending or Running.
    stuck = _stuck_container(status)
    if stuck is not None:
        return _degraded(stuck)
    if phase == "Pending":
        return _progressing(_pod_pending_message(status))
    if phase == "Running":
        # A pod that is not restarted (a Job's or a hook's pod) is only done once it
        # Succeeds, so Running is still work in progress for it.
        if _section(obj, "spec").get("restartPolicy", "Always") != "Always":
            return _progressing("Pod is running")
        if _is(_conditions(status).get("Ready"), "True"):
            return _healthy()
        unready = _unready_containers(status)
        waiting_for = f": {', '.join(unready)}" if unready else ""
        return _progressing(f"Waiting for containers to become ready{waiting_for}")
    return ResourceHealth(HealthStatus.UNKNOWN, f"Pod phase is {phase or 'not reported'}")


def _has_load_balancer_ingress(obj: Obj) -> bool:
    ingress = _section(_section(obj, "status"), "loadBalancer").get("ingress")
    return isinstance(ingress, list) and len(ingress) > 0


def _service_health(obj: Obj) -> ResourceHealth:
    # Only a LoadBalancer depends on something outside the API server (the cloud LB).
    if _section(obj, "spec").get("type") != "LoadBalancer":
        return _healthy()
    if _has_load_balancer_ingress(obj):
        return _healthy()
    return _progressing("Waiting for the load balancer to be provisioned")


def _ingress_health(obj: Obj) -> ResourceHealth:
    if _has_load_balancer_ingress(obj):
        return _healthy()
    return _progressing("Waiting for the ingress controller to publish an address")


def _pvc_health(obj: Obj) -> ResourceHealth:
    phase = str(_section(obj, "status").get("phase") or "")
    if phase == "Bound":
        return _healthy()
    if phase == "Pending":
        return _progressing("Waiting for the claim to be bound to a volume")
    if phase == "Lost":
        return _degraded("The bound volume no longer exists")
    return ResourceHealth(HealthStatus.UNKNOWN, f"Claim phase is {phase or 'not reported'}")


def _job_health(obj: Obj) -> ResourceHealth:
    status = _section(obj, "status")
    conditions = _conditions(status)
    # FailureTarget / SuccessCriteriaMet (Kubernetes >= 1.31) announce the final state
    # before the terminal Failed / Complete condition is written.
    for failed_type in ("Failed", "FailureTarget"):
        if _is(conditions.get(failed_type), "True"):
            return _degraded(_describe(conditions[failed_type], "Job failed"))
    for done_type in ("Complete", "SuccessCriteriaMet"):
        if _is(conditions.get(done_type), "True"):
            return _healthy(_describe(conditions[done_type]))
    if _section(obj, "spec").get("suspend") is True or _is(conditions.get("Suspended"), "True"):
        return _suspended("Job is suspended")
    active, succeeded = _int(status, "active"), _int(status, "succeeded")
    return _progressing(f"Job is running: {active} active, {succeeded} succeeded")


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Kubernetes writes UTC; make a zone-less value comparable with the others.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _cronjob_health(obj: Obj) -> ResourceHealth:
    status = _section(obj, "status")
    if _section(obj, "spec").get("suspend") is True:
        return _suspended("CronJob is suspended")
    last_schedule = _timestamp(status.get("lastScheduleTime"))
    if last_schedule is None:
        return _healthy("CronJob has not been scheduled yet")
    active = status.get("active")
    if isinstance(active, list) and active:
        return _healthy(f"CronJob has {len(active)} active job(s)")
    # With no job running, the last scheduled run succeeded iff the last success is not
    # older than it. Kubernetes >= 1.21 always records lastSuccessfulTime.
    last_success = _timestamp(status.get("lastSuccessfulTime"))
    if last_success is None:
        return _degraded("CronJob has never completed a run successfully")
    if last_success < last_schedule:
        return _degraded(
            f"The last run scheduled at {status['lastScheduleTime']} did not succeed "
            f"(last success at {status['lastSuccessfulTime']})"
        )
    return _healthy()


def _apiservice_health(obj: Obj) -> ResourceHealth:
    available = _conditions(_section(obj, "status")).get("Available")
    if _is(available, "True"):
        return _healthy()
    # Not Degraded: an aggregated API is often unavailable for a while after its backing
    # Deployment starts, and the condition says why.
    return _progressing(_describe(available, "Waiting for the API service to become available"))


_HPA_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"


def _hpa_conditions(obj: Obj) -> dict[str, Mapping[str, Any]]:
    conditions = _conditions(_section(obj, "status"))
    if conditions:
        return conditions
    # autoscaling/v1 has no status.conditions; it carries them as a JSON annotation.
    raw = _section(_section(obj, "metadata"), "annotations").get(_HPA_CONDITIONS_ANNOTATION)
    if not isinstance(raw, str):
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return _conditions({"conditions": parsed})


def _hpa_health(obj: Obj) -> ResourceHealth:
    if _kstatus_generation_behind(obj):
        return _progressing("Waiting for the autoscaler to observe the latest spec")
    conditions = _hpa_conditions(obj)
    if not conditions:
        return _progressing("Waiting for the autoscaler to report its conditions")
    for cond_type in ("AbleToScale", "ScalingActive"):
        cond = conditions.get(cond_type)
        # ScalingDisabled means the target was scaled to zero on purpose, not a failure;
        # every other False reason (FailedGetResourceMetric, FailedGetScale, ...) is.
        if _is(cond, "False") and (cond or {}).get("reason") != "ScalingDisabled":
            return _degraded(_describe(cond, f"{cond_type} is False"))
    if _is(conditions.get("AbleToScale"), "True"):
        limited = conditions.get("ScalingLimited")
        return _healthy(_describe(limited) if _is(limited, "True") else "")
    return _progressing("Waiting for the autoscaler to be able to scale")


def _crd_health(obj: Obj) -> ResourceHealth:
    conditions = _conditions(_section(obj, "status"))
    if _is(conditions.get("Terminating"), "True"):
        return _progressing(_describe(conditions["Terminating"], "CRD is terminating"))
    if _is(conditions.get("NamesAccepted"), "False"):
        return _degraded(_describe(conditions["NamesAccepted"], "CRD names are not accepted"))
    if _is(conditions.get("NonStructuralSchema"), "True"):
        return _degraded(_describe(conditions["NonStructuralSchema"], "CRD schema is invalid"))
    if _is(conditions.get("Established"), "True"):
        return _healthy()
    return _progressing(_describe(conditions.get("Established"), "Waiting for CRD to be served"))


def _namespace_health(obj: Obj) -> ResourceHealth:
    status = _section(obj, "status")
    phase = status.get("phase")
    if phase == "Active":
        return _healthy()
    if phase == "Terminating":
        # The deletion conditions that are True say what is holding the namespace up.
        blockers = [_describe(cond) for cond in _conditions(status).values() if _is(cond, "True")]
        detail = f": {'; '.join(b for b in blockers if b)}" if any(blockers) else ""
        return _progressing(f"Namespace is terminating{detail}")
    return _progressing("Waiting for the namespace to become active")


def _kstatus_generation_behind(obj: Obj) -> bool:
    """kstatus: a controller that writes observedGeneration has not caught up yet.

    Custom resources need not write it at all, so a missing value means "unknown", not
    "behind" (unlike built-in controllers).
    """
    status = _section(obj, "status")
    if "observedGeneration" not in status:
        return False
    return _int(status, "observedGeneration") < _generation(obj)


def _kstatus_health(obj: Obj) -> ResourceHealth | None:
    """Health of any kind without a built-in rule, by the kstatus conventions."""
    status = _section(obj, "status")
    if not status:
        return None  # nothing reports on this object: no health notion
    if _kstatus_generation_behind(obj):
        return _progressing(
            f"Waiting for the controller to observe generation {_generation(obj)} "
            f"(observed {_int(status, 'observedGeneration')})"
        )
    conditions = _conditions(status)
    stalled = conditions.get("Stalled")
    if _is(stalled, "True"):
        return _degraded(_describe(stalled, "Stalled"))
    # Flux (and many operators following it) pause reconciliation with spec.suspend.
    if _section(obj, "spec").get("suspend") is True:
        return _suspended(f"{obj.get('kind', 'Resource')} is suspended")
    reconciling = conditions.get("Reconciling")
    if _is(reconciling, "True"):
        return _progressing(_describe(reconciling, "Reconciling"))
    ready = conditions.get("Ready")
    if ready is None:
        return _healthy()
    # A Ready condition about an older generation says nothing about the current spec.
    ready_generation = ready.get("observedGeneration")
    if isinstance(ready_generation, int) and ready_generation < _generation(obj):
        return _progressing("Waiting for the Ready condition to reflect the latest generation")
    if _is(ready, "True"):
        return _healthy(_describe(ready))
    if _is(ready, "False"):
        return _degraded(_describe(ready, "Not ready"))
    return _progressing(_describe(ready, "Readiness is unknown"))


HealthChecker = Callable[[Obj], ResourceHealth | None]

_BUILTIN_CHECKERS: dict[tuple[str, str], HealthChecker] = {
    ("apps", "Deployment"): _deployment_health,
    ("apps", "StatefulSet"): _statefulset_health,
    ("apps", "DaemonSet"): _daemonset_health,
    ("apps", "ReplicaSet"): _replicaset_health,
    ("", "Pod"): _pod_health,
    ("", "Service"): _service_health,
    ("networking.k8s.io", "Ingress"): _ingress_health,
    ("", "PersistentVolumeClaim"): _pvc_health,
    ("batch", "Job"): _job_health,
    ("batch", "CronJob"): _cronjob_health,
    ("apiregistration.k8s.io", "APIService"): _apiservice_health,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa_health,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd_health,
    ("", "Namespace"): _namespace_health,
}


# --------------------------------------------------------------------------------------
# Custom rules


@dataclass(frozen=True)
class CustomHealthRule:
    """An operator-supplied health rule for objects whose group and kind match the globs.

    `jq` is a jq program run on the object; it must output `{"status": ..., "message":
    ...}` or a bare status string. `group` defaults to the core group (""), as in
    ignoreDifferences. Constructing a rule validates and compiles it.
    """

    kind: str
    group: str = ""
    jq: str | None = None
    cel: str | None = None
    _program: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Messages start with the field name so parse_health_rules can prefix a path.
        if not self.kind:
            raise InputError("kind: required (a glob such as 'Rollout' or '*')")
        if (self.jq is None) == (self.cel is None):
            raise InputError("jq: exactly one of 'jq' or 'cel' must be set")
        if self.cel is not None:
            raise InputError(
                f"cel: CEL health rules are not supported yet: {self.cel!r}; use a 'jq' rule",
                hint="rewrite the expression as a jq program under the 'jq' key",
            )
        assert self.jq is not None
        try:
            program = jq_lang.compile(self.jq)
        except ValueError as err:
            raise InputError(f"jq: invalid program: {_first_line(err)}") from None
        object.__setattr__(self, "_program", program)

    def matches(self, group: str, kind: str) -> bool:
        return fnmatch.fnmatchcase(group, self.group) and fnmatch.fnmatchcase(kind, self.kind)

    def evaluate(self, obj: Obj) -> ResourceHealth:
        """Run the rule; any failure of the rule itself is Unknown, never an exception."""
        try:
            output = self._program.input_text(orjson.dumps(obj).decode()).first()
        except StopIteration:
            return _rule_failed(self, "produced no output")
        except (ValueError, TypeError) as err:
            return _rule_failed(self, f"failed: {_first_line(err)}")
        return _health_from_rule_output(self, output)

    def describe(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def to_spec(self) -> dict[str, str]:
        """The rule as `parse_health_rules` reads it (to rebuild it in another process)."""
        spec = {"kind": self.kind, "group": self.group}
        if self.jq is not None:
            spec["jq"] = self.jq
        if self.cel is not None:
            spec["cel"] = self.cel
        return spec


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _rule_failed(rule: CustomHealthRule, problem: str) -> ResourceHealth:
    return ResourceHealth(
        HealthStatus.UNKNOWN, f"custom health rule for {rule.describe()} {problem}"
    )


def _health_from_rule_output(rule: CustomHealthRule, output: object) -> ResourceHealth:
    if isinstance(output, str):
        status_text, message = output, ""
    elif isinstance(output, Mapping) and isinstance(output.get("status"), str):
        status_text = output["status"]
        raw_message = output.get("message")
        message = "" if raw_message is None else str(raw_message)
    else:
        shown = orjson.dumps(output).decode()[:200]
        return _rule_failed(
            rule, f'must output {{"status": ..., "message": ...}} or a status string, got {shown}'
        )
    try:
        return ResourceHealth(HealthStatus.parse(status_text), message)
    except ValueError as err:
        return _rule_failed(rule, f"returned an invalid status: {err}")


_RULE_FIELDS = ("group", "kind", "jq", "cel")  # a tuple: error messages in a stable order


def _parse_rule(item: object, path: str) -> CustomHealthRule:
    if not isinstance(item, Mapping):
        raise InputError(f"{path}: must be a mapping with 'kind' and 'jq', got {show(item)}")
    unknown = sorted(str(key) for key in item if key not in _RULE_FIELDS)
    if unknown:
        raise InputError(
            f"{path}: unknown field(s) {', '.join(unknown)} (allowed: group, kind, jq, cel)"
        )
    for name in _RULE_FIELDS:
        if name in item and not isinstance(item[name], str):
            raise InputError(f"{path}.{name}: must be a string, got {show(item[name])}")
    try:
        return CustomHealthRule(
            kind=item.get("kind", ""),
            group=item.get("group", ""),
            jq=item.get("jq"),
            cel=item.get("cel"),
        )
    except InputError as err:
        raise InputError(f"{path}.{err.message}", hint=err.hint) from None


def parse_health_rules(raw: object, *, where: str = "healthChecks") -> list[CustomHealthRule]:
    """Rules from a list of `{group, kind, jq | cel}` mappings; `where` names the field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of rules, got {type(raw).__name__}")
    return [_parse_rule(item, f"{where}[{index}]") for index, item in enumerate(raw)]


# --------------------------------------------------------------------------------------
# Entry points


def matching_rule(obj: Obj, rules: Sequence[CustomHealthRule]) -> CustomHealthRule | None:
    """The first custom rule for the object's group/kind, if any."""
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", ""))
    return next((rule for rule in rules if rule.matches(group, kind)), None)


def _builtin_health(obj: Obj) -> ResourceHealth | None:
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    checker = _BUILTIN_CHECKERS.get((group, str(obj.get("kind", ""))), _kstatus_health)
    return checker(obj)


def assess_health(obj: Obj, rules: Sequence[CustomHealthRule] = ()) -> ResourceHealth | None:
    """Health of one live object; None when its kind has no health notion (a ConfigMap).

    The first custom rule matching the object's group/kind replaces the built-in rule.
    """
    rule = matching_rule(obj, rules)
    if rule is not None:
        return rule.evaluate(obj)
    health = _builtin_health(obj)
    if health is None:
        return None
    # An object on its way out is neither done nor failed, whatever its status says.
    metadata = _section(obj, "metadata")
    if metadata.get("deletionTimestamp"):
        finalizers = metadata.get("finalizers")
        if isinstance(finalizers, list) and finalizers:
            return _progressing(f"Pending deletion (finalizers: {', '.join(map(str, finalizers))})")
        return _progressing("Pending deletion")
    return health


def aggregate_health(
    resources: Iterable[tuple[ResourceKey, ResourceHealth | None]],
) -> ResourceHealth:
    """Application health: the worst resource health, naming the object that has it.

    Resources without health (None) do not count; with none left the app is Healthy.
    Ties go to the smallest key, so the message does not depend on input order.
    """
    worst_key: ResourceKey | None = None
    worst_health: ResourceHealth | None = None
    tied = 0
    for key, health in resources:
        if health is None:
            continue
        if worst_health is None or health.status.severity > worst_health.status.severity:
            worst_key, worst_health, tied = key, health, 1
        elif health.status == worst_health.status:
            tied += 1
            if worst_key is None or key < worst_key:
                worst_key, worst_health = key, health
    if worst_health is None or worst_health.status is HealthStatus.HEALTHY:
        return _healthy()
    message = f"{worst_key} is {worst_health.status.value}"
    if worst_health.message:
        message += f": {worst_health.message}"
    if tied > 1:
        message += f" (and {tied - 1} more {worst_health.status.value})"
    return ResourceHealth(worst_health.status, message)
