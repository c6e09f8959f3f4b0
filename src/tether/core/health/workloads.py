"""Built-in rules for the workload controllers: Deployment, StatefulSet, DaemonSet,
ReplicaSet, and the HorizontalPodAutoscaler that scales them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tether.core.paths import ObjView

from .readers import (
    conditions,
    controller_behind,
    describe,
    desired_replicas,
    generation_behind,
    integer,
    is_status,
    name,
    section,
)
from .status import ResourceHealth, degraded, healthy, progressing, suspended


def deployment_health(obj: ObjView) -> ResourceHealth:
    spec, status = section(obj, "spec"), section(obj, "status")
    # A paused rollout will not progress by itself: report it rather than "stuck".
    if spec.get("paused") is True:
        return suspended("Deployment is paused")
    if controller_behind(obj):
        return progressing(
            "Waiting for rollout to finish: observed deployment generation less than desired "
            "generation"
        )
    progressing_cond = conditions(status).get("Progressing")
    if (
        progressing_cond is not None
        and progressing_cond.get("reason") == "ProgressDeadlineExceeded"
    ):
        return degraded(f"Deployment {name(obj)!r} exceeded its progress deadline")
    desired = desired_replicas(obj)
    updated = integer(status, "updatedReplicas")
    current = integer(status, "replicas")
    available = integer(status, "availableReplicas")
    if updated < desired:
        return progressing(
            f"Waiting for rollout to finish: {updated} out of {desired} new replicas have been "
            "updated..."
        )
    if current > updated:
        return progressing(
            f"Waiting for rollout to finish: {current - updated} old replicas are pending "
            "termination..."
        )
    if available < updated:
        return progressing(
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
            "available..."
        )
    return healthy()


def statefulset_health(obj: ObjView) -> ResourceHealth:
    spec, status = section(obj, "spec"), section(obj, "status")
    if controller_behind(obj):
        return progressing("Waiting for statefulset spec update to be observed...")
    desired = desired_replicas(obj)
    ready = integer(status, "readyReplicas")
    if ready < desired:
        return progressing(f"Waiting for {desired - ready} pods to be ready...")
    if integer(status, "replicas") > desired:
        return progressing(
            f"Waiting for {integer(status, 'replicas') - desired} pods to be terminated..."
        )
    strategy = section(spec, "updateStrategy")
    # OnDelete: pods are only replaced when someone deletes them, so there is no rollout
    # to wait for; ready pods are all we can ask for.
    if strategy.get("type") == "OnDelete":
        return healthy(f"statefulset has {ready} ready pods")
    partition = integer(section(strategy, "rollingUpdate"), "partition")
    updated = integer(status, "updatedReplicas")
    if partition > 0:
        # Only ordinals >= partition are meant to move to the new revision (a canary).
        expected = max(desired - partition, 0)
        if updated < expected:
            return progressing(
                f"Waiting for partitioned roll out to finish: {updated} out of {expected} new "
                "pods have been updated..."
            )
        return healthy(f"partitioned roll out complete: {updated} new pods have been updated...")
    update_revision = status.get("updateRevision")
    if update_revision and update_revision != status.get("currentRevision"):
        return progressing(
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_revision}..."
        )
    return healthy(
        f"statefulset rolling update complete {integer(status, 'currentReplicas')} pods at "
        f"revision {status.get('currentRevision', '')}..."
    )


def daemonset_health(obj: ObjView) -> ResourceHealth:
    spec, status = section(obj, "spec"), section(obj, "status")
    if controller_behind(obj):
        return progressing("Waiting for daemon set spec update to be observed...")
    desired = integer(status, "desiredNumberScheduled")
    updated = integer(status, "updatedNumberScheduled")
    if section(spec, "updateStrategy").get("type") == "OnDelete":
        return healthy(f"daemon set {updated} out of {desired} new pods have been updated")
    daemonset = name(obj)
    if updated < desired:
        return progressing(
            f"Waiting for daemon set {daemonset!r} rollout to finish: {updated} out of {desired} "
            "new pods have been updated..."
        )
    available = integer(status, "numberAvailable")
    if available < desired:
        return progressing(
            f"Waiting for daemon set {daemonset!r} rollout to finish: {available} of {desired} "
            "updated pods are available..."
        )
    return healthy()


def replicaset_health(obj: ObjView) -> ResourceHealth:
    status = section(obj, "status")
    if controller_behind(obj):
        return progressing(
            "Waiting for rollout to finish: observed replica set generation less than desired "
            "generation"
        )
    # ReplicaFailure is how a ReplicaSet reports pods it cannot create (quota, admission).
    failure = conditions(status).get("ReplicaFailure")
    if is_status(failure, "True"):
        return degraded(describe(failure, "ReplicaSet cannot create pods"))
    desired = desired_replicas(obj)
    available = integer(status, "availableReplicas")
    if available < desired:
        return progressing(
            f"Waiting for rollout to finish: {available} out of {desired} new replicas are "
            "available..."
        )
    return healthy()


_HPA_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"


def _hpa_conditions(obj: ObjView) -> dict[str, Mapping[str, Any]]:
    found = conditions(section(obj, "status"))
    if found:
        return found
    # autoscaling/v1 has no status.conditions; it carries them as a JSON annotation.
    raw = section(section(obj, "metadata"), "annotations").get(_HPA_CONDITIONS_ANNOTATION)
    if not isinstance(raw, str):
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return conditions({"conditions": parsed})


def _hpa_failure(reason: str) -> bool:
    # The HPA controller names its failures Failed* (FailedGetScale, FailedGetResourceMetric,
    # FailedGetObjectMetric, ...) or Invalid* (InvalidSelector, InvalidMetricSourceType).
    # Every other False reason (ScalingDisabled: scaled to zero on purpose, or a transient
    # one) is not a failure of the autoscaler.
    return reason.startswith(("Failed", "Invalid"))


def hpa_health(obj: ObjView) -> ResourceHealth:
    if generation_behind(obj):
        return progressing("Waiting for the autoscaler to observe the latest spec")
    found = _hpa_conditions(obj)
    if not found:
        return progressing("Waiting for the autoscaler to report its conditions")
    for cond_type in ("AbleToScale", "ScalingActive"):
        cond = found.get(cond_type)
        if is_status(cond, "False") and _hpa_failure(str((cond or {}).get("reason") or "")):
            return degraded(describe(cond, f"{cond_type} is False"))
    if is_status(found.get("AbleToScale"), "True"):
        limited = found.get("ScalingLimited")
        return healthy(describe(limited) if is_status(limited, "True") else "")
    return progressing("Waiting for the autoscaler to be able to scale")
