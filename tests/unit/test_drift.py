"""Unit tests for tether.core.drift: who changed a drifted field, when, and why."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from tether.core.diff import ObjectDiff, Verdict
from tether.core.drift import explain_app, explain_object
from tether.core.drift_findings import DriftCause, DriftFinding, FieldWriter
from tether.core.drift_suggestions import object_causes, suggestion_yaml
from tether.core.drift_versions import api_version_skew
from tether.core.managedfields import attribute_path
from tether.core.undeclared import is_human_manager
from tether.model.keys import ResourceKey

NS = "production"
DEPLOY_KEY = ResourceKey("apps", "Deployment", NS, "api")
IMAGE = "/spec/template/spec/containers/0/image"

# tether's server-side apply of the manifest below.
TETHER_ENTRY: dict[str, Any] = {
    "manager": "tether",
    "operation": "Apply",
    "apiVersion": "apps/v1",
    "time": "2026-11-26T17:00:00Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"api"}': {".": {}, "f:image": {}, "f:name": {}},
                    }
                },
            },
        },
    },
}
# What the deployment controller writes on every Deployment.
KCM_STATUS_ENTRY: dict[str, Any] = {
    "manager": "kube-controller-manager",
    "operation": "Update",
    "apiVersion": "apps/v1",
    "time": "2026-11-26T17:00:05Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
        "f:status": {"f:replicas": {}, "f:readyReplicas": {}},
    },
    "subresource": "status",
}


def entry(
    manager: str,
    fields: dict[str, Any],
    *,
    operation: str = "Update",
    time: str = "2026-11-26T17:52:18Z",
    subresource: str | None = None,
    api_version: str = "apps/v1",
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource is not None:
        result["subresource"] = subresource
    return result


REPLICAS_FIELDS: dict[str, Any] = {"f:spec": {"f:replicas": {}}}


def desired_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": NS, "labels": {"app": "api"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "ghcr.io/acme/api:1.4.0"}]},
            },
        },
    }


def live_deployment(*extra_entries: dict[str, Any], **changes: Any) -> dict[str, Any]:
    live = desired_deployment()
    live["metadata"].update(
        uid="0b3c5f4e-1d1a-4f1e-9a57-6a2b0f7b8c11",
        resourceVersion="48213",
        creationTimestamp="2026-11-26T17:00:00Z",
        managedFields=[TETHER_ENTRY, KCM_STATUS_ENTRY, *extra_entries],
    )
    if "replicas" in changes:
        live["spec"]["replicas"] = changes["replicas"]
    if "image" in changes:
        live["spec"]["template"]["spec"]["containers"][0]["image"] = changes["image"]
    return live


def out_of_sync(key: ResourceKey, *paths: str) -> ObjectDiff:
    return ObjectDiff(key, Verdict.OUT_OF_SYNC, list(paths))


def explain_one(
    diff: ObjectDiff,
    desired: dict[str, Any] | None,
    live: dict[str, Any] | None,
    predicted: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> DriftFinding:
    findings = explain_object(
        diff, desired=desired, live=live, predicted=predicted, events=events or []
    )
    assert len(findings) == 1
    return findings[0]


# --- attribution ------------------------------------------------------------------------------


def test_attribute_scalar_field_to_its_manager_with_subresource() -> None:
    scale = entry("kubectl", REPLICAS_FIELDS, subresource="scale")
    writer = attribute_path(live_deployment(scale, replicas=5), "/spec/replicas")
    assert writer == FieldWriter("kubectl", "Update", "2026-11-26T17:52:18Z", "scale")


def test_attribute_keyed_container_image_resolved_against_live() -> None:
    # Live has a sidecar first: the api container is item 1, and fieldsV1 names it by key.
    live = live_deployment()
    containers = live["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "istio-proxy", "image": "istio/proxyv2:1.24.0"})
    containers[1]["image"] = "ghcr.io/acme/api:1.4.1-hotfix"
    edit = entry(
        "kubectl-set",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"api"}': {"f:image": {}}}}}
            }
        },
    )
    live["metadata"]["managedFields"].append(edit)
    assert attribute_path(live, "/spec/template/spec/containers/1/image") == FieldWriter(
        "kubectl-set", "Update", "2026-11-26T17:52:18Z", None
    )
    # Item 0 is the sidecar: nobody in managedFields owns it.
    assert attribute_path(live, "/spec/template/spec/containers/0/image") is None


def test_attribute_falls_back_to_owned_ancestor_list_item() -> None:
    # Only the whole item is owned (`.`): the item's owner owns its fields.
    live = live_deployment()
    live["metadata"]["managedFields"] = [
        entry(
            "helm",
            {
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"api"}': {".": {}, "f:name": {}}}}
                    }
                }
            },
        )
    ]
    writer = attribute_path(live, IMAGE)
    assert writer is not None and writer.manager == "helm"


def test_attribute_falls_back_to_owned_descendant() -> None:
    live = live_deployment()
    live["metadata"]["labels"]["team"] = "payments"
    live["metadata"]["managedFields"] = [
        entry("kubectl-label", {"f:metadata": {"f:labels": {"f:team": {}}}})
    ]
    writer = attribute_path(live, "/metadata/labels")
    assert writer is not None and writer.manager == "kubectl-label"


def test_attribute_prefers_the_latest_of_equal_owners() -> None:
    older = entry("team-a-operator", REPLICAS_FIELDS, time="2026-11-26T10:00:00Z")
    newer = entry("team-b-operator", REPLICAS_FIELDS, time="2026-11-26T12:00:00Z")
    writer = attribute_path(live_deployment(older, newer), "/spec/replicas")
    assert writer is not None and writer.manager == "team-b-operator"


def test_explain_maps_desired_list_index_to_live_item() -> None:
    # The diff speaks desired's indices (api is item 0 there), live has a sidecar first.
    desired = desired_deployment()
    live = live_deployment()
    containers = live["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "linkerd-proxy", "image": "linkerd/proxy:2.14"})
    containers[1]["image"] = "ghcr.io/acme/api:debug"
    live["metadata"]["managedFields"].append(
        entry(
            "kubectl-edit",
            {
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"api"}': {"f:image": {}}}}
                    }
                }
            },
        )
    )
    finding = explain_one(out_of_sync(DEPLOY_KEY, IMAGE), desired, live)
    assert finding.cause is DriftCause.MANUAL_EDIT
    assert finding.writer is not None and finding.writer.manager == "kubectl-edit"
    assert finding.path == IMAGE


# --- one test per cause --------------------------------------------------------------------


def test_manual_edit_kubectl_scale() -> None:
    scale = entry("kubectl", REPLICAS_FIELDS, subresource="scale")
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/spec/replicas"),
        desired_deployment(),
        live_deployment(scale, replicas=5),
    )
    assert finding.cause is DriftCause.MANUAL_EDIT
    assert finding.when == "2026-11-26T17:52:18Z"
    assert finding.suggestion is None
    assert any("owned by kubectl (Update, subresource scale" in line for line in finding.evidence)
    assert any("by hand" in line for line in finding.evidence)


def test_manual_edit_dashboard_and_kubectl_apply() -> None:
    assert is_human_manager("Mozilla")
    assert is_human_manager("k9s")
    assert is_human_manager("kubectl-client-side-apply")
    assert not is_human_manager("kube-controller-manager")
    assert not is_human_manager("horizontal-pod-autoscaler")
    applied = entry(
        "kubectl",
        {
            "f:spec": {
                "f:template": {"f:spec": {"f:containers": {'k:{"name":"api"}': {"f:image": {}}}}}
            }
        },
        operation="Apply",
    )
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, IMAGE),
        desired_deployment(),
        live_deployment(applied, image="ghcr.io/acme/api:1.5.0-rc1"),
    )
    assert finding.cause is DriftCause.MANUAL_EDIT
    assert finding.writer is not None and finding.writer.operation == "Apply"


def test_autoscaler_hpa_through_kube_controller_manager_scale() -> None:
    hpa = entry("kube-controller-manager", REPLICAS_FIELDS, subresource="scale")
    events = [
        {
            "involvedObject": {
                "kind": "HorizontalPodAutoscaler",
                "name": "api",
                "namespace": NS,
            },
            "reason": "SuccessfulRescale",
            "message": "New size: 6; reason: cpu resource utilization above target",
            "lastTimestamp": "2026-11-26T17:52:17Z",
            "source": {"component": "horizontal-pod-autoscaler"},
        },
        {
            "involvedObject": {"kind": "Deployment", "name": "api", "namespace": NS},
            "reason": "ScalingReplicaSet",
            "message": "Scaled up replica set api-7d9f8c6b5 to 6 from 2",
            "lastTimestamp": "2026-11-26T17:52:18Z",
            "source": {"component": "deployment-controller"},
        },
        {  # an hour earlier: not about this write
            "involvedObject": {"kind": "Deployment", "name": "api", "namespace": NS},
            "reason": "ScalingReplicaSet",
            "message": "Scaled down replica set api-5c4b3a2 to 0 from 1",
            "lastTimestamp": "2026-11-26T16:40:00Z",
            "source": {"component": "deployment-controller"},
        },
        {  # another namespace
            "involvedObject": {"kind": "Deployment", "name": "api", "namespace": "staging"},
            "reason": "ScalingReplicaSet",
            "message": "Scaled up",
            "lastTimestamp": "2026-11-26T17:52:18Z",
        },
    ]
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/spec/replicas"),
        desired_deployment(),
        live_deployment(hpa, replicas=6),
        events=events,
    )
    assert finding.cause is DriftCause.AUTOSCALER
    assert finding.suggestion == {
        "group": "apps",
        "kind": "Deployment",
        "name": "api",
        "managedFieldsManagers": ["kube-controller-manager"],
    }
    event_lines = [line for line in finding.evidence if line.startswith("event ")]
    assert len(event_lines) == 2
    assert any("SuccessfulRescale from horizontal-pod-autoscaler" in x for x in event_lines)
    assert any("ScalingReplicaSet from deployment-controller" in x for x in event_lines)


def test_autoscaler_named_manager() -> None:
    keda = entry("keda-operator", REPLICAS_FIELDS)
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/spec/replicas"),
        desired_deployment(),
        live_deployment(keda, replicas=0),
    )
    assert finding.cause is DriftCause.AUTOSCALER
    assert finding.suggestion is not None
    assert finding.suggestion["managedFieldsManagers"] == ["keda-operator"]


def test_admission_mutation_from_predicted() -> None:
    # A webhook adds resource limits at admission: in the dry-run result, not in Git, and
    # owned by tether (the applier owns what webhooks add to its request).
    desired = desired_deployment()
    predicted = copy.deepcopy(desired)
    limits = {"limits": {"cpu": "500m", "memory": "256Mi"}}
    predicted["spec"]["template"]["spec"]["containers"][0]["resources"] = limits
    live = live_deployment()
    live["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"cpu": "1", "memory": "256Mi"}
    }
    pointer = "/spec/template/spec/containers/0/resources/limits/cpu"
    finding = explain_one(out_of_sync(DEPLOY_KEY, pointer), desired, live, predicted)
    assert finding.cause is DriftCause.ADMISSION_MUTATION
    assert any("absent from the desired manifest" in line for line in finding.evidence)
    assert finding.suggestion == {
        "group": "apps",
        "kind": "Deployment",
        "name": "api",
        "jsonPointers": [pointer],
    }


def test_controller_write() -> None:
    rollouts = entry(
        "argo-rollouts",
        {"f:spec": {"f:template": {"f:metadata": {"f:annotations": {"f:rollouts/hash": {}}}}}},
    )
    live = live_deployment(rollouts)
    live["spec"]["template"]["metadata"]["annotations"] = {"rollouts/hash": "5f7d"}
    pointer = "/spec/template/metadata/annotations/rollouts~1hash"
    finding = explain_one(out_of_sync(DEPLOY_KEY, pointer), desired_deployment(), live)
    assert finding.cause is DriftCause.CONTROLLER_WRITE
    assert finding.suggestion == {
        "group": "apps",
        "kind": "Deployment",
        "name": "api",
        "managedFieldsManagers": ["argo-rollouts"],
    }


def test_autoscaler_manager_outside_scaling_fields_is_a_controller_write() -> None:
    odd = entry("keda-operator", {"f:metadata": {"f:labels": {"f:scaled": {}}}})
    live = live_deployment(odd)
    live["metadata"]["labels"]["scaled"] = "true"
    finding = explain_one(out_of_sync(DEPLOY_KEY, "/metadata/labels/scaled"), None, live)
    assert finding.cause is DriftCause.CONTROLLER_WRITE


def test_hook_leftover() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "db-migrate",
            "namespace": NS,
            "creationTimestamp": "2026-11-20T09:00:00Z",
            "annotations": {
                "helm.sh/hook": "pre-upgrade",
                "helm.sh/hook-weight": "-5",
                "meta.helm.sh/release-name": "api",
            },
        },
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}},
    }
    key = ResourceKey.of(job)
    finding = explain_one(ObjectDiff(key, Verdict.EXTRANEOUS), None, job)
    assert finding.cause is DriftCause.HOOK_LEFTOVER
    assert finding.path == ""
    assert finding.when == "2026-11-20T09:00:00Z"
    assert "helm.sh/hook=pre-upgrade" in finding.evidence[0]
    assert "meta.helm.sh" not in finding.evidence[0]
    assert finding.suggestion is None


def test_extraneous_without_hook_is_unknown() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old", "namespace": NS}}
    finding = explain_one(ObjectDiff(ResourceKey.of(cm), Verdict.EXTRANEOUS), None, cm)
    assert finding.cause is DriftCause.UNKNOWN
    assert "no longer rendered" in finding.evidence[0]


def hpa_object(api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": NS},
        "spec": {"minReplicas": 2, "maxReplicas": 10},
    }


def test_api_version_skew_live_version_differs() -> None:
    desired = hpa_object("autoscaling/v2beta2")
    live = hpa_object("autoscaling/v2")
    live["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 300}}
    live["metadata"]["managedFields"] = [
        entry(
            "tether",
            {"f:spec": {"f:minReplicas": {}, "f:maxReplicas": {}, "f:behavior": {}}},
            operation="Apply",
            api_version="autoscaling/v2beta2",
        )
    ]
    key = ResourceKey.of(desired)
    finding = explain_one(out_of_sync(key, "/spec/behavior"), desired, live)
    assert finding.cause is DriftCause.API_VERSION_SKEW
    text = " | ".join(finding.evidence)
    assert "removed in Kubernetes 1.26: use autoscaling/v2" in text
    assert "differs from live apiVersion autoscaling/v2" in text
    assert "tether wrote it through autoscaling/v2beta2" in text


def hpa_v1_edited_through_v2(edit_time: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An autoscaling/v1 manifest and its live object after `kubectl edit` (which uses the
    preferred autoscaling/v2) changed the CPU target, as the API server records it: the
    edit's fields are in v2 terms, and tether's v1 entry lost the field."""
    desired = hpa_object("autoscaling/v1")
    desired["spec"]["targetCPUUtilizationPercentage"] = 50
    live = copy.deepcopy(desired)
    live["spec"]["targetCPUUtilizationPercentage"] = 80
    live["metadata"]["managedFields"] = [
        entry(
            "tether",
            {"f:spec": {"f:minReplicas": {}, "f:maxReplicas": {}}},
            operation="Apply",
            api_version="autoscaling/v1",
            time="2026-11-26T17:00:00Z",
        ),
        entry(
            "kube-controller-manager",
            {"f:status": {"f:currentReplicas": {}}},
            api_version="autoscaling/v2",
            subresource="status",
            time="2026-11-26T17:59:00Z",
        ),
        entry(
            "kubectl-edit",
            {"f:spec": {"f:metrics": {}}},
            api_version="autoscaling/v2",
            time=edit_time,
        ),
    ]
    return desired, live


def test_api_version_skew_field_written_through_another_version() -> None:
    desired, live = hpa_v1_edited_through_v2("2026-11-26T17:52:18Z")
    key = ResourceKey.of(desired)
    path = "/spec/targetCPUUtilizationPercentage"
    finding = explain_one(out_of_sync(key, path), desired, live, copy.deepcopy(desired))
    assert finding.cause is DriftCause.API_VERSION_SKEW
    assert finding.writer is not None and finding.writer.manager == "kubectl-edit"
    assert finding.when == "2026-11-26T17:52:18Z"
    text = " | ".join(finding.evidence)
    assert "kubectl-edit (a person's tool) wrote /spec/metrics through autoscaling/v2" in text
    assert "the manifest uses autoscaling/v1" in text
    assert finding.suggestion is None  # a person's edit: fixed, not silenced


def test_write_through_another_version_before_the_last_sync_is_not_the_cause() -> None:
    # tether's forced apply at 17:00 took the field back; an older write cannot be the cause.
    desired, live = hpa_v1_edited_through_v2("2026-11-26T16:00:00Z")
    key = ResourceKey.of(desired)
    path = "/spec/targetCPUUtilizationPercentage"
    finding = explain_one(out_of_sync(key, path), desired, live, copy.deepcopy(desired))
    assert finding.cause is DriftCause.UNKNOWN
    assert finding.writer is None


def test_api_version_skew_missing_object_with_removed_version() -> None:
    ingress = {
        "apiVersion": "extensions/v1beta1",
        "kind": "Ingress",
        "metadata": {"name": "api", "namespace": NS},
    }
    finding = explain_one(ObjectDiff(ResourceKey.of(ingress), Verdict.MISSING), ingress, None)
    assert finding.cause is DriftCause.API_VERSION_SKEW
    assert "networking.k8s.io/v1" in finding.evidence[0]
    assert api_version_skew(desired_deployment(), live_deployment()) == []
    cronjob = {"apiVersion": "batch/v1beta1", "kind": "CronJob", "metadata": {"name": "x"}}
    assert "batch/v1" in api_version_skew(cronjob, None)[0]


SECRET_VALUE = "czNjcjN0LXJvdGF0ZWQ="  # base64 of a rotated password
OLD_SECRET_VALUE = "b2xkLXBhc3N3b3Jk"


def secrets() -> tuple[dict[str, Any], dict[str, Any]]:
    desired: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": NS},
        "type": "Opaque",
        "data": {"password": OLD_SECRET_VALUE, "user": "YXBp"},
    }
    live = copy.deepcopy(desired)
    live["data"]["password"] = SECRET_VALUE
    live["metadata"]["managedFields"] = [
        entry(
            "tether",
            {"f:data": {"f:user": {}}, "f:type": {}},
            operation="Apply",
            api_version="v1",
        ),
        entry("external-secrets", {"f:data": {"f:password": {}}}, api_version="v1"),
    ]
    return desired, live


def test_secret_rotation() -> None:
    desired, live = secrets()
    event = {
        "involvedObject": {"kind": "Secret", "name": "db", "namespace": NS},
        "reason": "Updated",
        "message": f"wrote password={SECRET_VALUE}",
        "lastTimestamp": "2026-11-26T17:52:18Z",
        "source": {"component": "external-secrets"},
    }
    key = ResourceKey.of(desired)
    finding = explain_one(out_of_sync(key, "/data/password"), desired, live, events=[event])
    assert finding.cause is DriftCause.SECRET_ROTATION
    assert any("'password'" in line for line in finding.evidence)
    assert any(line.startswith("event Updated from external-secrets") for line in finding.evidence)
    assert finding.suggestion == {
        "group": "",
        "kind": "Secret",
        "name": "db",
        "jsonPointers": ["/data/password"],
    }


def test_no_secret_value_in_evidence() -> None:
    desired, live = secrets()
    live["metadata"]["managedFields"] = live["metadata"]["managedFields"][:1]  # no owner
    live["data"]["token"] = "dG9rZW4tdmFsdWU="
    key = ResourceKey.of(desired)
    diff = out_of_sync(key, "/data/password", "/data/token")
    event = {
        "involvedObject": {"kind": "Secret", "name": "db", "namespace": NS},
        "reason": "Changed",
        "message": f"password={SECRET_VALUE}",
    }
    findings = explain_object(
        diff, desired=desired, live=live, predicted=copy.deepcopy(desired), events=[event]
    )
    assert [f.cause for f in findings] == [DriftCause.UNKNOWN, DriftCause.UNKNOWN]
    text = repr(findings)
    for value in (SECRET_VALUE, OLD_SECRET_VALUE, "dG9rZW4tdmFsdWU=", "YXBp"):
        assert value not in text
    assert "present (value hidden)" in text


def test_a_secret_changed_with_a_persons_tool_is_a_manual_edit() -> None:
    desired, live = secrets()
    for tool in ("kubectl-edit", "kubectl-patch"):
        live["metadata"]["managedFields"][1]["manager"] = tool
        finding = explain_one(out_of_sync(ResourceKey.of(desired), "/data/password"), desired, live)
        assert finding.cause is DriftCause.MANUAL_EDIT
        assert finding.suggestion is None
        assert (
            f"someone changed Secret key 'password' by hand with kubectl (field manager {tool})"
            in finding.evidence
        )
    # The same write by a controller is a rotation: the tool is what decides.
    live["metadata"]["managedFields"][1]["manager"] = "vault-secrets-operator"
    finding = explain_one(out_of_sync(ResourceKey.of(desired), "/data/password"), desired, live)
    assert finding.cause is DriftCause.SECRET_ROTATION


def test_unowned_path_is_unknown_with_raw_evidence() -> None:
    # Someone removed a label: nobody owns an absent field.
    live = live_deployment()
    del live["metadata"]["labels"]["app"]
    live["metadata"]["managedFields"] = [KCM_STATUS_ENTRY]
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/metadata/labels/app"), desired_deployment(), live
    )
    assert finding.cause is DriftCause.UNKNOWN
    assert finding.writer is None and finding.when is None and finding.suggestion is None
    evidence = finding.evidence
    assert "no managedFields entry owns /metadata/labels/app" in evidence[0]
    assert 'desired: "api"' in evidence
    assert "live: absent" in evidence
    assert "managers on the object: kube-controller-manager (Update)" in evidence


def test_field_owned_by_tether_is_unknown_git_change() -> None:
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, IMAGE),
        desired_deployment(),
        live_deployment(image="ghcr.io/acme/api:1.3.9"),
    )
    assert finding.cause is DriftCause.UNKNOWN
    assert finding.writer is not None and finding.writer.manager == "tether"
    assert any("changed in Git" in line for line in finding.evidence)


def test_missing_object_is_unknown() -> None:
    desired = desired_deployment()
    finding = explain_one(ObjectDiff(DEPLOY_KEY, Verdict.MISSING), desired, None)
    assert finding.cause is DriftCause.UNKNOWN


def test_synced_object_has_no_findings() -> None:
    diff = ObjectDiff(DEPLOY_KEY, Verdict.SYNCED)
    assert explain_object(diff, desired={}, live={}, predicted=None) == []


# --- suggestions ------------------------------------------------------------------------


def test_explain_app_and_suggestion_yaml_merges_entries() -> None:
    desired = desired_deployment()
    hpa = entry("kube-controller-manager", REPLICAS_FIELDS, subresource="scale")
    manual = entry("kubectl-edit", {"f:metadata": {"f:labels": {"f:app": {}}}})
    live = live_deployment(hpa, manual, replicas=4)
    live["metadata"]["labels"]["app"] = "api-debug"
    predicted = copy.deepcopy(desired)
    predicted["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/status": "x"}
    predicted["spec"]["template"]["metadata"]["labels"]["security.istio.io/tlsMode"] = "istio"
    live["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/status": "y"}
    live["spec"]["template"]["metadata"]["labels"]["security.istio.io/tlsMode"] = "none"
    diff = out_of_sync(
        DEPLOY_KEY,
        "/spec/replicas",
        "/metadata/labels/app",
        "/spec/template/metadata/annotations/sidecar.istio.io~1status",
        "/spec/template/metadata/labels/security.istio.io~1tlsMode",
    )
    findings = explain_app([(diff, desired, live, predicted)])
    assert [f.cause for f in findings] == [
        DriftCause.AUTOSCALER,
        DriftCause.MANUAL_EDIT,
        DriftCause.ADMISSION_MUTATION,
        DriftCause.ADMISSION_MUTATION,
    ]
    rendered = suggestion_yaml(findings)
    assert yaml.safe_load(rendered) == {
        "ignoreDifferences": [
            {
                "group": "apps",
                "kind": "Deployment",
                "name": "api",
                "managedFieldsManagers": ["kube-controller-manager"],
            },
            {
                "group": "apps",
                "kind": "Deployment",
                "name": "api",
                "jsonPointers": [
                    "/spec/template/metadata/annotations/sidecar.istio.io~1status",
                    "/spec/template/metadata/labels/security.istio.io~1tlsMode",
                ],
            },
        ]
    }
    assert rendered.startswith("ignoreDifferences:\n- group: apps\n")


def test_suggestion_yaml_empty_without_intentional_drift() -> None:
    assert suggestion_yaml([]) == ""


def test_root_pointer_has_no_owner() -> None:
    assert attribute_path(live_deployment(), "") is None


def test_object_causes_pick_the_known_majority_cause_and_its_latest_writer() -> None:
    key = ResourceKey("apps", "Deployment", "ns", "web")
    other = ResourceKey("", "ConfigMap", "ns", "cm")

    def finding(k: ResourceKey, path: str, cause: DriftCause, who: str, when: str) -> DriftFinding:
        writer = FieldWriter(who, "Update", when, None)
        return DriftFinding(k, path, cause, writer, when, (), None)

    causes = object_causes(
        [
            finding(key, "/spec/replicas", DriftCause.MANUAL_EDIT, "kubectl-edit", "t1"),
            finding(key, "/spec/x", DriftCause.MANUAL_EDIT, "kubectl-patch", "t2"),
            finding(key, "/spec/y", DriftCause.UNKNOWN, "x", "t3"),
            finding(other, "/data/a", DriftCause.UNKNOWN, "someone", "t1"),
        ]
    )
    assert causes == {
        key: ("manual-edit", "kubectl-patch"),
        other: ("unknown", "someone"),
    }


def test_without_a_write_time_old_events_are_not_evidence() -> None:
    # `kubectl scale` writes through /scale, which records no time: a rollout's event
    # from 17 minutes earlier says nothing about it.
    scaled = entry("kubectl", REPLICAS_FIELDS, subresource="scale")
    scaled.pop("time", None)
    old_rollout = {
        "involvedObject": {"kind": "Deployment", "name": "api", "namespace": NS},
        "reason": "ScalingReplicaSet",
        "message": "Scaled up replica set api-5c4b3a2 to 2",
        "lastTimestamp": "2026-11-26T17:35:00Z",
        "source": {"component": "deployment-controller"},
    }
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/spec/replicas"),
        desired_deployment(),
        live_deployment(scaled, replicas=6),
        events=[old_rollout],
    )
    assert finding.cause is DriftCause.MANUAL_EDIT
    assert not [line for line in finding.evidence if line.startswith("event ")]
    # With the write's time, the same event within the window is evidence again.
    timed = entry("kubectl", REPLICAS_FIELDS, time="2026-11-26T17:35:05Z")
    finding = explain_one(
        out_of_sync(DEPLOY_KEY, "/spec/replicas"),
        desired_deployment(),
        live_deployment(timed, replicas=6),
        events=[old_rollout],
    )
    assert [line for line in finding.evidence if line.startswith("event ")]
