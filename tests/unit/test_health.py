"""Unit tests for tether.core.health: built-in rules, kstatus, custom rules, aggregation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.core.health import (
    CustomHealthRule,
    HealthStatus,
    ResourceHealth,
    aggregate_health,
    assess_health,
    health_of_missing,
    parse_health_rules,
    worst,
)
from tether.errors import InputError
from tether.model.keys import ResourceKey
from tether.render import load_untrusted_yaml

H = HealthStatus


def status_of(obj: dict[str, Any], rules: list[CustomHealthRule] | None = None) -> HealthStatus:
    health = assess_health(obj, rules or ())
    assert health is not None
    return health.status


def patched(obj: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of obj with top-level sections (spec, status, metadata) merged in."""
    out = copy.deepcopy(obj)
    for name, values in sections.items():
        out.setdefault(name, {}).update(values)
    return out


def cond(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


# --------------------------------------------------------------------------------------
# Ordering


def test_status_order_follows_design() -> None:
    order = [H.HEALTHY, H.SUSPENDED, H.PROGRESSING, H.MISSING, H.DEGRADED, H.UNKNOWN]
    assert sorted(reversed(order)) == order
    assert [s.severity for s in order] == list(range(6))
    assert H.HEALTHY < H.SUSPENDED < H.PROGRESSING < H.MISSING < H.DEGRADED < H.UNKNOWN
    assert H.UNKNOWN >= H.DEGRADED and H.MISSING <= H.MISSING


def test_worst() -> None:
    assert worst() is H.HEALTHY
    assert worst(H.PROGRESSING, H.SUSPENDED) is H.PROGRESSING
    assert worst(H.MISSING, H.DEGRADED, H.HEALTHY) is H.DEGRADED
    assert worst(H.UNKNOWN, H.DEGRADED) is H.UNKNOWN


def test_status_is_its_wire_string() -> None:
    assert str(H.DEGRADED) == "Degraded"
    assert H.parse("progressing") is H.PROGRESSING
    with pytest.raises(ValueError, match="not a health status"):
        H.parse("Fine")
    assert ResourceHealth(H.HEALTHY).to_dict() == {"status": "Healthy"}
    assert ResourceHealth(H.DEGRADED, "x").to_dict() == {"status": "Degraded", "message": "x"}


# --------------------------------------------------------------------------------------
# Deployment

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "prod", "generation": 4},
    "spec": {"replicas": 3, "strategy": {"type": "RollingUpdate"}},
    "status": {
        "observedGeneration": 4,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "conditions": [
            cond("Available", "True", "MinimumReplicasAvailable"),
            cond("Progressing", "True", "NewReplicaSetAvailable"),
        ],
    },
}


def test_deployment_healthy() -> None:
    assert status_of(DEPLOYMENT) is H.HEALTHY


def test_deployment_paused_is_suspended() -> None:
    health = assess_health(patched(DEPLOYMENT, spec={"paused": True}))
    assert health == ResourceHealth(H.SUSPENDED, "Deployment is paused")


def test_deployment_generation_not_observed() -> None:
    health = assess_health(patched(DEPLOYMENT, metadata={"generation": 5}))
    assert health is not None and health.status is H.PROGRESSING
    assert "observed deployment generation" in health.message


def test_deployment_without_observed_generation_is_progressing() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    del obj["status"]
    assert status_of(obj) is H.PROGRESSING


def test_deployment_progress_deadline_exceeded() -> None:
    obj = patched(
        DEPLOYMENT,
        status={
            "updatedReplicas": 1,
            "availableReplicas": 2,
            "conditions": [
                cond("Available", "True", "MinimumReplicasAvailable"),
                cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "api-7d" ...'),
            ],
        },
    )
    health = assess_health(obj)
    assert health == ResourceHealth(H.DEGRADED, "Deployment 'api' exceeded its progress deadline")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            {"updatedReplicas": 1},
            "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
        ),
        (
            {"replicas": 4, "updatedReplicas": 3},
            "Waiting for rollout to finish: 1 old replicas are pending termination...",
        ),
        (
            {"availableReplicas": 1},
            "Waiting for rollout to finish: 1 of 3 updated replicas are available...",
        ),
    ],
)
def test_deployment_rollout_in_progress(status: dict[str, Any], message: str) -> None:
    assert assess_health(patched(DEPLOYMENT, status=status)) == ResourceHealth(
        H.PROGRESSING, message
    )


def test_deployment_default_replicas_is_one() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    del obj["spec"]["replicas"]
    obj["status"].update(replicas=1, updatedReplicas=1, availableReplicas=1)
    assert status_of(obj) is H.HEALTHY


def test_deployment_scaled_to_zero_is_healthy() -> None:
    obj = patched(DEPLOYMENT, spec={"replicas": 0})
    obj["status"] = {"observedGeneration": 4}
    assert status_of(obj) is H.HEALTHY


# --------------------------------------------------------------------------------------
# StatefulSet

STATEFULSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "db", "namespace": "prod", "generation": 2},
    "spec": {"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}},
    "status": {
        "observedGeneration": 2,
        "replicas": 3,
        "readyReplicas": 3,
        "currentReplicas": 3,
        "updatedReplicas": 3,
        "availableReplicas": 3,
        "currentRevision": "db-5c8f",
        "updateRevision": "db-5c8f",
    },
}


def test_statefulset_healthy() -> None:
    health = assess_health(STATEFULSET)
    assert health is not None and health.status is H.HEALTHY
    assert "3 pods at revision db-5c8f" in health.message


def test_statefulset_generation_not_observed() -> None:
    assert status_of(patched(STATEFULSET, metadata={"generation": 3})) is H.PROGRESSING


def test_statefulset_waiting_for_ready_pods() -> None:
    health = assess_health(patched(STATEFULSET, status={"readyReplicas": 1}))
    assert health == ResourceHealth(H.PROGRESSING, "Waiting for 2 pods to be ready...")


def test_statefulset_rolling_update_in_progress() -> None:
    obj = patched(
        STATEFULSET,
        status={"updatedReplicas": 1, "currentReplicas": 2, "updateRevision": "db-77aa"},
    )
    health = assess_health(obj)
    assert health is not None and health.status is H.PROGRESSING
    assert "revision db-77aa" in health.message


def test_statefulset_partitioned_rollout() -> None:
    # Partition 2 of 3: only ordinal 2 moves to the new revision.
    obj = patched(
        STATEFULSET,
        spec={"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
        status={"updatedReplicas": 0, "updateRevision": "db-77aa"},
    )
    health = assess_health(obj)
    assert health is not None and health.status is H.PROGRESSING
    assert "0 out of 1 new pods" in health.message

    obj["status"]["updatedReplicas"] = 1
    health = assess_health(obj)
    assert health is not None and health.status is H.HEALTHY
    assert health.message.startswith("partitioned roll out complete")


def test_statefulset_on_delete_ignores_revisions() -> None:
    obj = patched(
        STATEFULSET,
        spec={"updateStrategy": {"type": "OnDelete"}},
        status={"updatedReplicas": 0, "updateRevision": "db-77aa"},
    )
    assert assess_health(obj) == ResourceHealth(H.HEALTHY, "statefulset has 3 ready pods")


def test_statefulset_scaling_down() -> None:
    obj = patched(STATEFULSET, spec={"replicas": 2})
    assert status_of(obj) is H.PROGRESSING


# --------------------------------------------------------------------------------------
# DaemonSet

DAEMONSET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "node-exporter", "namespace": "monitoring", "generation": 1},
    "spec": {"updateStrategy": {"type": "RollingUpdate"}},
    "status": {
        "observedGeneration": 1,
        "currentNumberScheduled": 4,
        "desiredNumberScheduled": 4,
        "numberAvailable": 4,
        "numberReady": 4,
        "updatedNumberScheduled": 4,
        "numberMisscheduled": 0,
    },
}


def test_daemonset_healthy() -> None:
    assert status_of(DAEMONSET) is H.HEALTHY


def test_daemonset_rollout() -> None:
    health = assess_health(patched(DAEMONSET, status={"updatedNumberScheduled": 2}))
    assert health is not None and health.status is H.PROGRESSING
    assert "2 out of 4 new pods have been updated" in health.message
    health = assess_health(patched(DAEMONSET, status={"numberAvailable": 3}))
    assert health is not None and "3 of 4 updated pods are available" in health.message


def test_daemonset_generation_and_on_delete() -> None:
    assert status_of(patched(DAEMONSET, metadata={"generation": 2})) is H.PROGRESSING
    obj = patched(
        DAEMONSET, spec={"updateStrategy": {"type": "OnDelete"}}, status={"numberAvailable": 1}
    )
    assert status_of(obj) is H.HEALTHY


# --------------------------------------------------------------------------------------
# ReplicaSet

REPLICASET: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "metadata": {"name": "api-7d9f", "namespace": "prod", "generation": 1},
    "spec": {"replicas": 2},
    "status": {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "fullyLabeledReplicas": 2,
    },
}


def test_replicaset() -> None:
    assert status_of(REPLICASET) is H.HEALTHY
    assert status_of(patched(REPLICASET, status={"availableReplicas": 1})) is H.PROGRESSING
    assert status_of(patched(REPLICASET, metadata={"generation": 2})) is H.PROGRESSING
    failing = patched(
        REPLICASET,
        status={
            "availableReplicas": 0,
            "conditions": [
                cond("ReplicaFailure", "True", "FailedCreate", 'pods "api-7d9f-x" is forbidden')
            ],
        },
    )
    health = assess_health(failing)
    assert health is not None and health.status is H.DEGRADED
    assert health.message.startswith("FailedCreate: ")


# --------------------------------------------------------------------------------------
# Pod

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "api-7d9f-abcde", "namespace": "prod"},
    "spec": {"restartPolicy": "Always", "containers": [{"name": "api", "image": "api:1.2"}]},
    "status": {
        "phase": "Running",
        "conditions": [
            cond("PodScheduled", "True"),
            cond("Initialized", "True"),
            cond("ContainersReady", "True"),
            cond("Ready", "True"),
        ],
        "containerStatuses": [
            {
                "name": "api",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2024-05-01T10:00:00Z"}},
            }
        ],
    },
}


def pod_waiting(reason: str, phase: str = "Running") -> dict[str, Any]:
    obj = copy.deepcopy(POD)
    obj["status"]["phase"] = phase
    obj["status"]["conditions"][-1] = cond("Ready", "False", "ContainersNotReady")
    obj["status"]["containerStatuses"][0].update(
        ready=False, state={"waiting": {"reason": reason, "message": f"{reason} details"}}
    )
    return obj


def test_pod_running_and_ready() -> None:
    assert status_of(POD) is H.HEALTHY


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]
)
def test_pod_stuck_container_is_degraded(reason: str) -> None:
    phase = "Running" if reason == "CrashLoopBackOff" else "Pending"
    health = assess_health(pod_waiting(reason, phase))
    assert health is not None and health.status is H.DEGRADED
    assert reason in health.message and "'api'" in health.message


def test_pod_stuck_init_container_is_degraded() -> None:
    obj = copy.deepcopy(POD)
    obj["status"]["phase"] = "Pending"
    obj["status"]["initContainerStatuses"] = [
        {"name": "migrate", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
    ]
    health = assess_health(obj)
    assert health is not None and health.status is H.DEGRADED and "migrate" in health.message


def test_pod_running_not_ready_is_progressing() -> None:
    obj = pod_waiting("ContainerCreating")
    health = assess_health(obj)
    assert health == ResourceHealth(H.PROGRESSING, "Waiting for containers to become ready: api")


def test_pod_pending_unschedulable() -> None:
    obj = copy.deepcopy(POD)
    obj["status"] = {
        "phase": "Pending",
        "conditions": [
            cond(
                "PodScheduled",
                "False",
                "Unschedulable",
                "0/3 nodes are available: 3 Insufficient cpu.",
            )
        ],
    }
    health = assess_health(obj)
    assert health is not None and health.status is H.PROGRESSING
    assert health.message == "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu."


def test_pod_succeeded_and_failed() -> None:
    done = patched(POD, spec={"restartPolicy": "Never"}, status={"phase": "Succeeded"})
    assert status_of(done) is H.HEALTHY
    failed = patched(POD, spec={"restartPolicy": "Never"}, status={"phase": "Failed"})
    failed["status"]["containerStatuses"][0]["state"] = {
        "terminated": {"exitCode": 137, "reason": "OOMKilled"}
    }
    health = assess_health(failed)
    assert health is not None and health.status is H.DEGRADED
    assert health.message == "container 'api' terminated with exit code 137 (OOMKilled)"
    evicted = patched(POD, status={"phase": "Failed", "reason": "Evicted", "message": "low disk"})
    assert assess_health(evicted) == ResourceHealth(H.DEGRADED, "low disk")


def test_pod_that_is_not_restarted_is_progressing_while_running() -> None:
    job_pod = patched(POD, spec={"restartPolicy": "OnFailure"})
    assert status_of(job_pod) is H.PROGRESSING


def test_pod_unknown_phase() -> None:
    assert status_of(patched(POD, status={"phase": "Unknown"})) is H.UNKNOWN


def test_object_being_deleted_is_progressing() -> None:
    obj = patched(POD, metadata={"deletionTimestamp": "2024-05-01T10:00:00Z"})
    assert assess_health(obj) == ResourceHealth(H.PROGRESSING, "Pending deletion")
    obj["metadata"]["finalizers"] = ["example.com/cleanup"]
    health = assess_health(obj)
    assert (
        health is not None
        and health.message == "Pending deletion (finalizers: example.com/cleanup)"
    )
    # Kinds without health stay without health while being deleted.
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
    assert assess_health(configmap) is None


# --------------------------------------------------------------------------------------
# Service and Ingress

SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "api", "namespace": "prod"},
    "spec": {"type": "ClusterIP", "ports": [{"port": 80, "targetPort": 8080}]},
    "status": {"loadBalancer": {}},
}


def test_service() -> None:
    assert status_of(SERVICE) is H.HEALTHY
    lb = patched(SERVICE, spec={"type": "LoadBalancer"})
    assert status_of(lb) is H.PROGRESSING
    lb["status"]["loadBalancer"] = {"ingress": [{"ip": "203.0.113.7"}]}
    assert status_of(lb) is H.HEALTHY


def test_ingress() -> None:
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "api", "namespace": "prod", "generation": 1},
        "spec": {"rules": [{"host": "api.example.com"}]},
        "status": {"loadBalancer": {}},
    }
    assert status_of(ingress) is H.PROGRESSING
    ingress["status"]["loadBalancer"]["ingress"] = [{"hostname": "lb.example.com"}]
    assert status_of(ingress) is H.HEALTHY


# --------------------------------------------------------------------------------------
# PersistentVolumeClaim


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Bound", H.HEALTHY),
        ("Pending", H.PROGRESSING),
        ("Lost", H.DEGRADED),
        ("Gone", H.UNKNOWN),
        (None, H.PROGRESSING),  # just created: kstatus InProgress
    ],
)
def test_pvc(phase: str | None, expected: HealthStatus) -> None:
    pvc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-db-0", "namespace": "prod"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": phase} if phase else {},
    }
    assert status_of(pvc) is expected


# --------------------------------------------------------------------------------------
# Job and CronJob

JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "namespace": "prod", "generation": 1},
    "spec": {"backoffLimit": 2, "suspend": False},
    "status": {"active": 1, "startTime": "2024-05-01T10:00:00Z", "ready": 0},
}


def test_job_running() -> None:
    health = assess_health(JOB)
    assert health == ResourceHealth(H.PROGRESSING, "Job is running: 1 active, 0 succeeded")


def test_job_complete() -> None:
    obj = copy.deepcopy(JOB)
    obj["status"] = {
        "succeeded": 1,
        "conditions": [cond("SuccessCriteriaMet", "True"), cond("Complete", "True")],
    }
    assert status_of(obj) is H.HEALTHY


def test_job_failed() -> None:
    obj = copy.deepcopy(JOB)
    obj["status"] = {
        "failed": 3,
        "conditions": [
            cond("FailureTarget", "True", "BackoffLimitExceeded", "Job has reached the limit"),
            cond("Failed", "True", "BackoffLimitExceeded", "Job has reached the limit"),
        ],
    }
    assert assess_health(obj) == ResourceHealth(
        H.DEGRADED, "BackoffLimitExceeded: Job has reached the limit"
    )


def test_job_suspended() -> None:
    obj = patched(JOB, spec={"suspend": True}, status={"active": 0})
    obj["status"]["conditions"] = [cond("Suspended", "True", "JobSuspended")]
    assert status_of(obj) is H.SUSPENDED


CRONJOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "backup", "namespace": "prod", "generation": 1},
    "spec": {"schedule": "0 * * * *", "suspend": False},
    "status": {},
}


def test_cronjob_never_scheduled_and_suspended() -> None:
    assert status_of(CRONJOB) is H.HEALTHY
    assert status_of(patched(CRONJOB, spec={"suspend": True})) is H.SUSPENDED


def test_cronjob_last_run_succeeded() -> None:
    obj = patched(
        CRONJOB,
        status={
            "lastScheduleTime": "2024-05-01T10:00:00Z",
            "lastSuccessfulTime": "2024-05-01T10:00:42Z",
        },
    )
    assert status_of(obj) is H.HEALTHY


def test_cronjob_running_is_healthy() -> None:
    obj = patched(
        CRONJOB,
        status={
            "lastScheduleTime": "2024-05-01T11:00:00Z",
            "lastSuccessfulTime": "2024-05-01T10:00:42Z",
            "active": [{"kind": "Job", "name": "backup-28573", "namespace": "prod"}],
        },
    )
    assert status_of(obj) is H.HEALTHY


def test_cronjob_last_run_failed() -> None:
    obj = patched(
        CRONJOB,
        status={
            "lastScheduleTime": "2024-05-01T11:00:00Z",
            "lastSuccessfulTime": "2024-05-01T10:00:42Z",
        },
    )
    health = assess_health(obj)
    assert health is not None and health.status is H.DEGRADED
    assert "2024-05-01T11:00:00Z did not succeed" in health.message
    never = patched(CRONJOB, status={"lastScheduleTime": "2024-05-01T11:00:00Z"})
    assert status_of(never) is H.DEGRADED
    # A zone-less timestamp is read as UTC rather than failing the comparison.
    naive = patched(obj, status={"lastSuccessfulTime": "2024-05-01T11:00:30"})
    assert status_of(naive) is H.HEALTHY


# --------------------------------------------------------------------------------------
# APIService, HPA, CRD, Namespace

APISERVICE: dict[str, Any] = {
    "apiVersion": "apiregistration.k8s.io/v1",
    "kind": "APIService",
    "metadata": {"name": "v1beta1.metrics.k8s.io"},
    "spec": {"group": "metrics.k8s.io", "version": "v1beta1"},
    "status": {"conditions": [cond("Available", "True", "Passed", "all checks passed")]},
}


def test_apiservice() -> None:
    assert status_of(APISERVICE) is H.HEALTHY
    down = copy.deepcopy(APISERVICE)
    down["status"]["conditions"] = [
        cond("Available", "False", "MissingEndpoints", "endpoints for service/metrics-server")
    ]
    health = assess_health(down)
    assert health is not None and health.status is H.PROGRESSING
    assert health.message.startswith("MissingEndpoints")
    assert status_of(patched(APISERVICE, status={"conditions": []})) is H.PROGRESSING


HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "api", "namespace": "prod"},
    "spec": {"minReplicas": 2, "maxReplicas": 10},
    "status": {
        "currentReplicas": 2,
        "desiredReplicas": 2,
        "conditions": [
            cond("AbleToScale", "True", "ReadyForNewScale"),
            cond("ScalingActive", "True", "ValidMetricFound"),
            cond("ScalingLimited", "False", "DesiredWithinRange"),
        ],
    },
}


def test_hpa_healthy() -> None:
    assert assess_health(HPA) == ResourceHealth(H.HEALTHY)


def test_hpa_scaling_limited_is_healthy_with_message() -> None:
    obj = copy.deepcopy(HPA)
    obj["status"]["conditions"][2] = cond(
        "ScalingLimited", "True", "TooManyReplicas", "the desired replica count is more than max"
    )
    health = assess_health(obj)
    assert health is not None and health.status is H.HEALTHY
    assert health.message.startswith("TooManyReplicas")


def test_hpa_failed_metric_is_degraded() -> None:
    obj = copy.deepcopy(HPA)
    obj["status"]["conditions"][1] = cond(
        "ScalingActive", "False", "FailedGetResourceMetric", "unable to get metrics for cpu"
    )
    health = assess_health(obj)
    assert health is not None and health.status is H.DEGRADED
    assert "FailedGetResourceMetric" in health.message


def test_hpa_scaling_disabled_and_no_conditions() -> None:
    obj = copy.deepcopy(HPA)
    obj["status"]["conditions"][1] = cond("ScalingActive", "False", "ScalingDisabled")
    assert status_of(obj) is H.HEALTHY
    assert status_of(patched(HPA, status={"conditions": []})) is H.PROGRESSING


def test_hpa_v1_conditions_from_annotation() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "api",
            "namespace": "prod",
            "annotations": {
                "autoscaling.alpha.kubernetes.io/conditions": (
                    '[{"type":"AbleToScale","status":"True","reason":"SucceededGetScale"},'
                    '{"type":"ScalingActive","status":"False","reason":"FailedGetResourceMetric"}]'
                )
            },
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2},
    }
    assert status_of(obj) is H.DEGRADED


CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com", "generation": 1},
    "spec": {"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}},
    "status": {
        "conditions": [
            cond("NamesAccepted", "True", "NoConflicts"),
            cond("Established", "True", "InitialNamesAccepted"),
        ],
        "acceptedNames": {"kind": "Widget", "plural": "widgets"},
    },
}


def test_crd() -> None:
    assert status_of(CRD) is H.HEALTHY
    conflict = copy.deepcopy(CRD)
    conflict["status"]["conditions"] = [
        cond("NamesAccepted", "False", "ListKindConflict", '"WidgetList" is already in use'),
        cond("Established", "False", "NotAccepted"),
    ]
    assert status_of(conflict) is H.DEGRADED
    non_structural = copy.deepcopy(CRD)
    non_structural["status"]["conditions"].append(cond("NonStructuralSchema", "True", "Violations"))
    assert status_of(non_structural) is H.DEGRADED
    assert status_of(patched(CRD, status={"conditions": []})) is H.PROGRESSING


def test_namespace() -> None:
    ns: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "prod"},
        "status": {"phase": "Active"},
    }
    assert status_of(ns) is H.HEALTHY
    ns["status"] = {
        "phase": "Terminating",
        "conditions": [
            cond("NamespaceContentRemaining", "True", "SomeResourcesRemain", "pods: 2 remain"),
            cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered"),
        ],
    }
    health = assess_health(ns)
    assert health is not None and health.status is H.PROGRESSING
    assert health.message == "Namespace is terminating: SomeResourcesRemain: pods: 2 remain"


# --------------------------------------------------------------------------------------
# Kinds without health, and the kstatus conventions for everything else


def test_kinds_without_status_have_no_health() -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "prod"},
        "data": {"a": "b"},
    }
    assert assess_health(configmap) is None
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}}
    assert assess_health(role) is None
    assert assess_health({**role, "status": {}}) is None


WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "prod", "generation": 3},
    "spec": {"size": 2},
    "status": {
        "observedGeneration": 3,
        "conditions": [cond("Ready", "True", "Succeeded", "widget is up")],
    },
}


def widget_with(*conditions: dict[str, Any], **status: Any) -> dict[str, Any]:
    obj = copy.deepcopy(WIDGET)
    obj["status"]["conditions"] = list(conditions)
    obj["status"].update(status)
    return obj


def test_kstatus_ready() -> None:
    assert assess_health(WIDGET) == ResourceHealth(H.HEALTHY, "Succeeded: widget is up")
    # kstatus: not Ready is InProgress unless Stalled (issue 14, trait 2).
    assert status_of(widget_with(cond("Ready", "False", "Failed", "boom"))) is H.PROGRESSING
    assert status_of(widget_with(cond("Ready", "Unknown", "Pending"))) is H.PROGRESSING


def test_kstatus_observed_generation_behind() -> None:
    health = assess_health(widget_with(cond("Ready", "True"), observedGeneration=2))
    assert health is not None and health.status is H.PROGRESSING
    assert "generation 3" in health.message


def test_kstatus_ready_condition_about_old_generation() -> None:
    stale = {**cond("Ready", "True"), "observedGeneration": 2}
    obj = widget_with(stale)
    del obj["status"]["observedGeneration"]
    assert status_of(obj) is H.PROGRESSING


def test_kstatus_reconciling_and_stalled() -> None:
    reconciling = widget_with(cond("Reconciling", "True", "Progressing"), cond("Ready", "False"))
    assert status_of(reconciling) is H.PROGRESSING
    stalled = widget_with(
        cond("Stalled", "True", "InvalidSpec", "size must be > 0"),
        cond("Reconciling", "True"),
    )
    assert assess_health(stalled) == ResourceHealth(H.DEGRADED, "InvalidSpec: size must be > 0")


def test_kstatus_status_without_conditions_is_healthy() -> None:
    obj = copy.deepcopy(WIDGET)
    obj["status"] = {"phase": "Whatever"}
    assert status_of(obj) is H.HEALTHY


def test_kstatus_flux_suspend() -> None:
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps", "namespace": "flux-system", "generation": 2},
        "spec": {"suspend": True, "interval": "5m"},
        "status": {"observedGeneration": 2, "conditions": [cond("Ready", "True")]},
    }
    assert status_of(kustomization) is H.SUSPENDED


def test_malformed_status_does_not_crash() -> None:
    obj = patched(DEPLOYMENT, status={"replicas": "three", "conditions": "nope"})
    assert status_of(obj) is H.HEALTHY
    assert status_of({"apiVersion": "v1", "kind": "Pod", "status": {"phase": 7}}) is H.UNKNOWN


def test_missing() -> None:
    assert health_of_missing().status is H.MISSING


# --------------------------------------------------------------------------------------
# Custom rules

ROLLOUT: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "api", "namespace": "prod", "generation": 1},
    "spec": {"paused": True},
    "status": {"phase": "Paused", "message": "CanaryPauseStep"},
}

ROLLOUT_JQ = """
if .status.phase == "Paused" then {status: "Suspended", message: .status.message}
elif .status.phase == "Healthy" then "Healthy"
else {status: "Progressing"} end
"""


def test_custom_jq_rule_object_output() -> None:
    rules = parse_health_rules([{"group": "argoproj.io", "kind": "Rollout", "jq": ROLLOUT_JQ}])
    assert assess_health(ROLLOUT, rules) == ResourceHealth(H.SUSPENDED, "CanaryPauseStep")


def test_custom_jq_rule_string_output() -> None:
    rules = parse_health_rules([{"group": "argoproj.io", "kind": "Rollout", "jq": ROLLOUT_JQ}])
    obj = patched(ROLLOUT, status={"phase": "Healthy"})
    assert assess_health(obj, rules) == ResourceHealth(H.HEALTHY)


def test_custom_rule_overrides_builtin() -> None:
    rules = parse_health_rules(
        [{"group": "apps", "kind": "Deploy*", "jq": '{status: "degraded", message: "policy"}'}]
    )
    assert assess_health(DEPLOYMENT, rules) == ResourceHealth(H.DEGRADED, "policy")
    # Other kinds keep their built-in rule.
    assert status_of(STATEFULSET, rules) is H.HEALTHY


def test_custom_rule_gives_health_to_kinds_without_status() -> None:
    rules = parse_health_rules([{"kind": "ConfigMap", "jq": '"Healthy"'}])
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert status_of(configmap, rules) is H.HEALTHY


def test_custom_rule_group_defaults_to_core_and_globs() -> None:
    (core_only,) = parse_health_rules([{"kind": "*", "jq": '"Degraded"'}])
    assert core_only.matches("", "Pod")
    assert not core_only.matches("apps", "Deployment")
    (anything,) = parse_health_rules([{"group": "*", "kind": "*", "jq": '"Degraded"'}])
    assert anything.matches("apps", "Deployment")


def test_first_matching_rule_wins() -> None:
    rules = parse_health_rules(
        [
            {"group": "argoproj.io", "kind": "Rollout", "jq": '"Degraded"'},
            {"group": "*", "kind": "*", "jq": '"Healthy"'},
        ]
    )
    assert status_of(ROLLOUT, rules) is H.DEGRADED


@pytest.mark.parametrize(
    ("program", "fragment"),
    [
        ('error("custom boom")', "failed: custom boom"),
        (".status.phase.nope", "failed: Cannot index string"),
        ("empty", "produced no output"),
        ('"Fine"', "invalid status"),
        ("42", "must output"),
        ("{message: 1}", "must output"),
    ],
)
def test_custom_rule_runtime_problems_are_unknown(program: str, fragment: str) -> None:
    rules = parse_health_rules([{"group": "argoproj.io", "kind": "Rollout", "jq": program}])
    health = assess_health(ROLLOUT, rules)
    assert health is not None and health.status is H.UNKNOWN
    assert health.message.startswith("custom health rule for Rollout.argoproj.io")
    assert fragment in health.message


def test_bad_jq_is_input_error_at_parse() -> None:
    with pytest.raises(InputError, match=r"^healthChecks\[1\]\.jq: invalid program: "):
        parse_health_rules([{"kind": "A", "jq": '"Healthy"'}, {"kind": "B", "jq": ".status | ["}])


def test_cel_rule_must_be_a_mapping_of_expressions() -> None:
    # CEL rules themselves: tests/unit/test_health_cel.py.
    with pytest.raises(InputError, match=r"^healthChecks\[0\]\.cel: must be a mapping with 'cu"):
        parse_health_rules([{"kind": "Widget", "cel": "self.status.ready"}])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "A"}, r"^rules: must be a list"),
        ([["kind", "A"]], r"^rules\[0\]: must be a mapping"),
        ([{"jq": '"Healthy"'}], r"^rules\[0\]\.kind: required"),
        ([{"kind": "A"}], r"^rules\[0\]\.jq: exactly one of 'jq' or 'cel'"),
        ([{"kind": "A", "jq": ".", "cel": "x"}], r"^rules\[0\]\.jq: exactly one"),
        ([{"kind": "A", "jq": 3}], r"^rules\[0\]\.jq: must be a string"),
        ([{"kind": "A", "jq": ".", "lua": "x"}], r"^rules\[0\]: unknown field\(s\) lua"),
    ],
)
def test_rule_validation_names_the_field(raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_health_rules(raw, where="rules")


def test_parse_rules_from_configmap_yaml() -> None:
    text = """
- group: argoproj.io
  kind: Rollout
  jq: |
    if .status.phase == "Paused" then "Suspended" else "Progressing" end
"""
    where = "configmap tether-health data.rules"
    rules = parse_health_rules(load_untrusted_yaml(text, where)[0], where=where)
    assert status_of(ROLLOUT, rules) is H.SUSPENDED
    assert parse_health_rules(None) == []
    with pytest.raises(InputError, match=r"^cm: invalid YAML"):
        load_untrusted_yaml("- [unclosed", "cm")
    # The ConfigMap is written by whoever deploys it: an alias bomb is refused at once.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(InputError, match="cm: YAML aliases expand"):
        load_untrusted_yaml(bomb, "cm")


def test_rules_compare_by_definition() -> None:
    a = CustomHealthRule(kind="A", jq='"Healthy"')
    b = CustomHealthRule(kind="A", jq='"Healthy"')
    assert a == b and hash(a) == hash(b)


# --------------------------------------------------------------------------------------
# Aggregation

API = ResourceKey("apps", "Deployment", "prod", "api")
WEB = ResourceKey("apps", "Deployment", "prod", "web")
CFG = ResourceKey("", "ConfigMap", "prod", "cfg")
DB = ResourceKey("apps", "StatefulSet", "prod", "db")


def test_aggregate_empty_and_healthless_is_healthy() -> None:
    assert aggregate_health([]) == ResourceHealth(H.HEALTHY)
    assert aggregate_health([(CFG, None)]) == ResourceHealth(H.HEALTHY)


def test_aggregate_takes_worst_and_names_it() -> None:
    health = aggregate_health(
        [
            (API, ResourceHealth(H.PROGRESSING, "Waiting for rollout to finish")),
            (CFG, None),
            (DB, ResourceHealth(H.DEGRADED, "Waiting for 2 pods to be ready...")),
            (WEB, ResourceHealth(H.HEALTHY)),
        ]
    )
    assert health == ResourceHealth(
        H.DEGRADED, "StatefulSet.apps prod/db is Degraded: Waiting for 2 pods to be ready..."
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([H.HEALTHY, H.SUSPENDED], H.SUSPENDED),
        ([H.SUSPENDED, H.PROGRESSING], H.PROGRESSING),
        ([H.PROGRESSING, H.MISSING], H.MISSING),
        ([H.MISSING, H.DEGRADED], H.DEGRADED),
        ([H.DEGRADED, H.UNKNOWN], H.UNKNOWN),
        ([H.HEALTHY, H.HEALTHY], H.HEALTHY),
    ],
)
def test_aggregate_order(statuses: list[HealthStatus], expected: HealthStatus) -> None:
    keys = [API, WEB]
    pairs = [(k, ResourceHealth(s)) for k, s in zip(keys, statuses, strict=True)]
    assert aggregate_health(pairs).status is expected
    assert aggregate_health(reversed(pairs)).status is expected


def test_aggregate_ties_are_deterministic_and_counted() -> None:
    pairs = [
        (WEB, ResourceHealth(H.DEGRADED, "web broken")),
        (API, ResourceHealth(H.DEGRADED, "api broken")),
    ]
    expected = "Deployment.apps prod/api is Degraded: api broken (and 1 more Degraded)"
    assert aggregate_health(pairs).message == expected
    assert aggregate_health(reversed(pairs)).message == expected


def test_aggregate_with_missing_object() -> None:
    health = aggregate_health([(API, ResourceHealth(H.HEALTHY)), (CFG, health_of_missing())])
    assert health.status is H.MISSING
    assert health.message.startswith("ConfigMap prod/cfg is Missing")
