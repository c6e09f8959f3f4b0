"""Unit tests for tether.core.diff: verdicts, exact drift paths, the known traps, masking."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from tests.support import manifests
from tether.core.diff import AppDiff, ObjectDiff, Verdict, compare_app, compare_object, unified_diff
from tether.core.ignore import IgnoreRule, parse_ignore_rules
from tether.core.masking import MASK_CHANGED, MASK_UNCHANGED, mask_secret, masked_pair
from tether.errors import InputError
from tether.model.keys import ResourceKey

TRACKING = "tether.dev/tracking-id"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --- realistic objects ---------------------------------------------------------------------------


def desired_deployment() -> dict[str, Any]:
    """As written in Git, with the spellings that used to cause perpetual OutOfSync."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api-service",
            "namespace": "production",
            "labels": {"app": "api-service", "team": "payments"},
            "annotations": {TRACKING: "tether-system/api:apps/Deployment:production/api-service"},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "api-service"}},
            "template": {
                "metadata": {"labels": {"app": "api-service"}, "annotations": {}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "registry.example.com/api:1.4.2",
                            "args": ["--port=8080", "--log-level=info"],
                            "ports": [{"name": "http", "containerPort": "8080"}],
                            "env": [{"name": "LOG_FORMAT", "value": "json"}],
                            "resources": {
                                "requests": {"cpu": 0.5, "memory": "1000M"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "8080"},
                                "initialDelaySeconds": 0,
                            },
                            "volumeMounts": [],
                        },
                        {"name": "log-shipper", "image": "fluent/fluent-bit:3.1", "resources": {}},
                    ],
                    "volumes": [],
                },
            },
        },
    }


def stored_deployment() -> dict[str, Any]:
    """The same Deployment as the API server stores it: canonical forms and defaults."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api-service",
            "namespace": "production",
            "uid": "8d5e1d3c-0c7e-4a4b-9f0e-1d8f3b6c2a71",
            "resourceVersion": "912344",
            "generation": 7,
            "creationTimestamp": "2026-11-02T08:00:00Z",
            "labels": {"app": "api-service", "team": "payments"},
            "annotations": {
                TRACKING: "tether-system/api:apps/Deployment:production/api-service",
                "deployment.kubernetes.io/revision": "7",
            },
            "managedFields": [
                {
                    "manager": "tether",
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:labels": {"f:app": {}, "f:team": {}},
                            "f:annotations": {f"f:{TRACKING}": {}},
                        },
                        "f:spec": {"f:replicas": {}},
                    },
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                    "subresource": "scale",
                },
            ],
        },
        "spec": {
            "replicas": 3,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "api-service"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "api-service"}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "registry.example.com/api:1.4.2",
                            "imagePullPolicy": "IfNotPresent",
                            "args": ["--port=8080", "--log-level=info"],
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "LOG_FORMAT", "value": "json"}],
                            "resources": {
                                "requests": {"cpu": "500m", "memory": "1G"},
                                "limits": {"cpu": "1", "memory": "1Gi"},
                            },
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"},
                                "timeoutSeconds": 1,
                                "periodSeconds": 10,
                                "successThreshold": 1,
                                "failureThreshold": 3,
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        },
                        {
                            "name": "log-shipper",
                            "image": "fluent/fluent-bit:3.1",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        },
                    ],
                    "restartPolicy": "Always",
                    "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst",
                    "securityContext": {},
                    "schedulerName": "default-scheduler",
                },
            },
        },
        "status": {"observedGeneration": 7, "replicas": 3, "readyReplicas": 3},
    }


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return result


def secret(data: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": "production"},
        "type": "Opaque",
        **fields,
    }
    if data is not None:
        obj["data"] = data
    return obj


# --- verdicts --------------------------------------------------------------------------------


@pytest.mark.parametrize("use_predicted", [False, True])
def test_traps_do_not_cause_drift(use_predicted: bool) -> None:
    """Quantity, IntOrString, omitted/explicit defaults, empty vs absent: all Synced."""
    predicted = stored_deployment() if use_predicted else None
    diff = compare_object(desired_deployment(), stored_deployment(), predicted=predicted)
    assert diff.verdict is Verdict.SYNCED, diff.paths
    assert diff.paths == []
    assert diff.in_sync
    assert unified_diff(diff) == ""


def test_missing() -> None:
    diff = compare_object(desired_deployment(), None)
    assert diff.verdict is Verdict.MISSING
    assert diff.key == ResourceKey("apps", "Deployment", "production", "api-service")
    assert diff.live is None and diff.desired is not None
    assert "+kind: Deployment" in unified_diff(diff)


def test_extraneous() -> None:
    diff = compare_object(None, stored_deployment())
    assert diff.verdict is Verdict.EXTRANEOUS
    assert diff.desired is None and diff.live is not None
    assert "uid" not in diff.live["metadata"]  # shown normalized
    assert "-kind: Deployment" in unified_diff(diff)


def test_nothing_to_compare_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="desired or a live"):
        compare_object(None, None)


@pytest.mark.parametrize("use_predicted", [False, True])
def test_out_of_sync_reports_exact_paths(use_predicted: bool) -> None:
    live = stored_deployment()
    api = containers(live)[0]
    api["image"] = "registry.example.com/api:1.4.3-hotfix"
    api["resources"]["limits"]["memory"] = "2Gi"
    api["env"][0]["value"] = "text"
    live["spec"]["replicas"] = 5
    predicted = stored_deployment() if use_predicted else None
    diff = compare_object(desired_deployment(), live, predicted=predicted)
    assert diff.verdict is Verdict.OUT_OF_SYNC
    assert diff.paths == [
        "/spec/replicas",
        "/spec/template/spec/containers/0/image",
        "/spec/template/spec/containers/0/env/0/value",
        "/spec/template/spec/containers/0/resources/limits/memory",
    ]
    text = unified_diff(diff)
    assert "-        image: registry.example.com/api:1.4.3-hotfix" in text
    assert "+        image: registry.example.com/api:1.4.2" in text
    assert "-  replicas: 5" in text


def test_containers_are_matched_by_name_not_position() -> None:
    live = stored_deployment()
    containers(live).reverse()
    assert compare_object(desired_deployment(), live).verdict is Verdict.SYNCED


def test_webhook_injected_sidecar_is_not_drift() -> None:
    live = stored_deployment()
    containers(live).append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"})
    live["spec"]["template"]["metadata"]["annotations"] = {"sidecar.istio.io/status": "{}"}
    predicted = copy.deepcopy(live)  # the webhook runs on the dry-run too
    assert compare_object(desired_deployment(), live).verdict is Verdict.SYNCED
    assert compare_object(desired_deployment(), live, predicted=predicted).in_sync


def test_removed_container_in_desired_is_drift_when_the_apply_removes_it() -> None:
    desired = desired_deployment()
    containers(desired).pop()  # log-shipper deleted from Git
    predicted = stored_deployment()
    containers(predicted).pop()
    diff = compare_object(desired, stored_deployment(), predicted=predicted)
    assert diff.verdict is Verdict.OUT_OF_SYNC
    assert diff.paths == ["/spec/template/spec/containers/1"]


def test_atomic_list_changes() -> None:
    live = stored_deployment()
    containers(live)[0]["args"] = ["--port=8080", "--log-level=debug", "--pprof"]
    diff = compare_object(desired_deployment(), live)
    assert diff.paths == [
        "/spec/template/spec/containers/0/args/1",
        "/spec/template/spec/containers/0/args/2",
    ]


def test_a_missing_desired_field_in_live_is_drift() -> None:
    live = stored_deployment()
    del containers(live)[0]["readinessProbe"]
    diff = compare_object(desired_deployment(), live)
    assert diff.paths == ["/spec/template/spec/containers/0/readinessProbe"]


def test_explicit_zero_is_enforced_but_empty_containers_ask_for_nothing() -> None:
    live = stored_deployment()
    containers(live)[0]["readinessProbe"]["initialDelaySeconds"] = 5
    live["spec"]["template"]["spec"]["volumes"] = [{"name": "istio-envoy", "emptyDir": {}}]
    containers(live)[1]["resources"] = {"limits": {"memory": "128Mi"}}  # set by a VPA
    diff = compare_object(desired_deployment(), live)
    assert diff.paths == ["/spec/template/spec/containers/0/readinessProbe/initialDelaySeconds"]


def test_type_change_is_drift() -> None:
    live = stored_deployment()
    containers(live)[0]["ports"][0]["containerPort"] = True
    live["spec"]["replicas"] = "3"
    diff = compare_object(desired_deployment(), live)
    assert diff.paths == [
        "/spec/replicas",
        "/spec/template/spec/containers/0/ports/0",
    ]


def test_empty_label_value_is_a_value() -> None:
    desired = desired_deployment()
    desired["metadata"]["labels"]["canary"] = ""
    diff = compare_object(desired, stored_deployment())
    assert diff.paths == ["/metadata/labels/canary"]


# --- fields removed from Git -----------------------------------------------------------------


def test_label_removed_from_git_is_drift_with_predicted() -> None:
    live = stored_deployment()
    live["metadata"]["labels"]["tier"] = "backend"  # applied by tether earlier, now gone
    live["metadata"]["labels"]["owner"] = "sre"  # added by someone else: SSA keeps it
    predicted = stored_deployment()
    predicted["metadata"]["labels"]["owner"] = "sre"
    diff = compare_object(desired_deployment(), live, predicted=predicted)
    assert diff.verdict is Verdict.OUT_OF_SYNC
    assert diff.paths == ["/metadata/labels/tier"]
    assert "-    tier: backend" in unified_diff(diff)


def test_label_removed_from_git_is_drift_in_the_fallback_via_managed_fields() -> None:
    desired = desired_deployment()
    del desired["metadata"]["labels"]["team"]  # tether's managedFields still owns it
    live = stored_deployment()
    live["metadata"]["labels"]["owner"] = "sre"  # owned by nobody we know: not drift
    diff = compare_object(desired, live)
    assert diff.paths == ["/metadata/labels/team"]


def test_crd_schema_defaults_are_not_drift() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "api-tls", "namespace": "production"},
        "spec": {
            "secretName": "api-tls",
            "dnsNames": ["api.example.com"],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        },
    }
    predicted = copy.deepcopy(desired)
    predicted["spec"]["privateKey"] = {"rotationPolicy": "Always"}  # defaulted by the schema
    predicted["spec"]["issuerRef"]["group"] = "cert-manager.io"
    live = copy.deepcopy(predicted)
    live["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    assert compare_object(desired, live, predicted=predicted).verdict is Verdict.SYNCED
    assert compare_object(desired, live).verdict is Verdict.SYNCED


# --- Secret and ConfigMap payloads --------------------------------------------------------------


@pytest.mark.parametrize("use_predicted", [False, True])
def test_secret_string_data_equals_stored_data(use_predicted: bool) -> None:
    desired = secret(stringData={"username": "app", "password": "s3cr3t-pa55"})
    live = secret({"username": b64("app"), "password": b64("s3cr3t-pa55")})
    predicted = copy.deepcopy(live) if use_predicted else None
    assert compare_object(desired, live, predicted=predicted).verdict is Verdict.SYNCED


@pytest.mark.parametrize("use_predicted", [False, True])
def test_secret_key_removed_from_git_is_out_of_sync(use_predicted: bool) -> None:
    """The silent drift of DESIGN §7: a removed stringData key stays live."""
    desired = secret(stringData={"username": "app"})
    live = secret({"username": b64("app"), "password": b64("s3cr3t-pa55")})
    predicted = copy.deepcopy(live) if use_predicted else None  # another manager owns it
    diff = compare_object(desired, live, predicted=predicted)
    assert diff.verdict is Verdict.OUT_OF_SYNC
    assert diff.paths == ["/data/password"]
    assert diff.live is not None and diff.live["data"]["password"] == MASK_CHANGED


def test_secret_without_any_key_left_in_git() -> None:
    live = secret({"password": b64("s3cr3t-pa55")})
    diff = compare_object(secret(), live)
    assert diff.paths == ["/data/password"]


def test_service_account_token_secret_data_is_the_controllers() -> None:
    desired = secret(type="kubernetes.io/service-account-token")
    desired["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "deployer"}
    live = copy.deepcopy(desired)
    live["data"] = {
        "token": b64("eyJhbGciOi..."),
        "ca.crt": b64("-----BEGIN..."),
        "namespace": b64("production"),
    }
    assert compare_object(desired, live).verdict is Verdict.SYNCED


def test_configmap_key_removed_from_git_is_out_of_sync() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "api-config", "namespace": "production"},
        "data": {"LOG_LEVEL": "info", "FEATURE_X": ""},
    }
    live = copy.deepcopy(desired)
    live["data"]["OLD_FLAG"] = "true"
    live["binaryData"] = {"logo.png": "iVBORw0KGgo="}
    diff = compare_object(desired, live)
    assert diff.paths == ["/data/OLD_FLAG", "/binaryData/logo.png"]
    del live["data"]["FEATURE_X"]
    assert "/data/FEATURE_X" in compare_object(desired, live).paths


def test_ignored_secret_key_is_not_drift() -> None:
    rules = parse_ignore_rules([{"kind": "Secret", "jqPathExpressions": ['.data["rotated-key"]']}])
    desired = secret(stringData={"username": "app"})
    live = secret({"username": b64("app"), "rotated-key": b64("k-2026-11")})
    assert compare_object(desired, live, rules=rules).verdict is Verdict.SYNCED
    assert compare_object(desired, live).paths == ["/data/rotated-key"]  # without the rule


# --- HPA, aggregated ClusterRole --------------------------------------------------------------


def test_hpa_metric_order_is_not_drift() -> None:
    cpu: dict[str, Any] = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    memory: dict[str, Any] = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "0.5Gi"}},
    }
    desired: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api-service", "namespace": "production"},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "api-service",
            },
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [cpu, memory],
        },
    }
    live = copy.deepcopy(desired)
    live["spec"]["metrics"] = [copy.deepcopy(memory), copy.deepcopy(cpu)]
    live["spec"]["metrics"][0]["resource"]["target"]["averageValue"] = "512Mi"
    assert compare_object(desired, live).verdict is Verdict.SYNCED
    live["spec"]["metrics"][1]["resource"]["target"]["averageUtilization"] = 90
    assert compare_object(desired, live).verdict is Verdict.OUT_OF_SYNC


def test_aggregated_cluster_role_rules_are_not_drift() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "monitoring"},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}
            ]
        },
        "rules": [],
    }
    live = copy.deepcopy(desired)
    live["rules"] = [
        {"apiGroups": [""], "resources": ["pods", "services"], "verbs": ["get", "list", "watch"]}
    ]
    assert compare_object(desired, live, predicted=copy.deepcopy(live)).in_sync
    assert compare_object(desired, live).in_sync


# --- ignoreDifferences through the comparison ---------------------------------------------------


def test_managed_fields_managers_hide_hpa_scaling() -> None:
    live = stored_deployment()
    live["spec"]["replicas"] = 8  # scaled by the HPA through the scale subresource
    assert compare_object(desired_deployment(), live).paths == ["/spec/replicas"]
    rules = [IgnoreRule(kind="*", group="*", managed_fields_managers=("kube-controller-manager",))]
    diff = compare_object(desired_deployment(), live, rules=rules)
    assert diff.verdict is Verdict.SYNCED
    predicted = stored_deployment()
    assert compare_object(desired_deployment(), live, predicted=predicted, rules=rules).in_sync


def test_json_pointer_rule() -> None:
    live = stored_deployment()
    live["spec"]["replicas"] = 8
    rules = [
        IgnoreRule(
            kind="Deployment", group="apps", name="api-service", json_pointers=("/spec/replicas",)
        )
    ]
    assert compare_object(desired_deployment(), live, rules=rules).in_sync
    assert compare_object(desired_deployment(), live).paths == ["/spec/replicas"]


def test_jq_rule_on_a_container_image() -> None:
    live = stored_deployment()
    containers(live)[1]["image"] = "fluent/fluent-bit:3.2"
    rules = parse_ignore_rules(
        [
            {
                "group": "apps",
                "kind": "Deployment",
                "jqPathExpressions": [
                    '.spec.template.spec.containers[] | select(.name == "log-shipper") | .image'
                ],
            }
        ]
    )
    assert compare_object(desired_deployment(), live, rules=rules).in_sync
    assert compare_object(desired_deployment(), live).paths == [
        "/spec/template/spec/containers/1/image"
    ]


# --- other lists and status ---------------------------------------------------------------------


def test_service_ports_match_with_the_default_protocol() -> None:
    desired: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api-service", "namespace": "production"},
        "spec": {
            "selector": {"app": "api-service"},
            "ports": [
                {"name": "metrics", "port": 9090, "targetPort": "metrics"},
                {"name": "http", "port": 80, "targetPort": "8080"},
            ],
        },
    }
    live = copy.deepcopy(desired)
    live["spec"].update({"type": "ClusterIP", "clusterIP": "10.96.12.7", "sessionAffinity": "None"})
    live["spec"]["ports"] = [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
    ]
    assert compare_object(desired, live).in_sync
    live["spec"]["ports"][0]["targetPort"] = 8081
    assert compare_object(desired, live).paths == ["/spec/ports/1/targetPort"]


def test_finalizers_are_a_set() -> None:
    desired = desired_deployment()
    desired["metadata"]["finalizers"] = ["example.com/cleanup"]
    live = stored_deployment()
    live["metadata"]["finalizers"] = ["foregroundDeletion", "example.com/cleanup"]
    assert compare_object(desired, live).in_sync
    live["metadata"]["finalizers"] = ["foregroundDeletion"]
    assert compare_object(desired, live).paths == ["/metadata/finalizers/0"]


def test_status_is_compared_only_when_asked() -> None:
    desired = desired_deployment()
    desired["status"] = {"replicas": 1}
    assert compare_object(desired, stored_deployment()).in_sync
    diff = compare_object(desired, stored_deployment(), compare_status=True)
    assert diff.paths == ["/status/replicas"]


# --- Secret masking ----------------------------------------------------------------------------


def test_mask_secret() -> None:
    raw = secret({"password": b64("s3cr3t-pa55")}, stringData={"token": "t0k3n"})
    raw["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"stringData":{"token":"t0k3n"}}'
    }
    masked = mask_secret(raw)
    assert masked["data"] == {"password": "***"}
    assert masked["stringData"] == {"token": "***"}
    assert "t0k3n" not in str(masked)
    assert raw["stringData"] == {"token": "t0k3n"}  # a copy
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    assert mask_secret(configmap) == configmap


def test_masked_pair_marks_changed_and_unchanged_keys() -> None:
    desired = secret(stringData={"username": "app", "password": "aaaaaaaa", "api-key": "new"})
    live = secret({"username": b64("app"), "password": b64("bbbbbbbb"), "legacy": b64("x")})
    desired_masked, live_masked = masked_pair(desired, live)
    assert desired_masked is not None and live_masked is not None
    assert desired_masked["stringData"] == {
        "username": MASK_UNCHANGED,
        "password": MASK_CHANGED,  # same length as before: still only "changed"
        "api-key": MASK_CHANGED,
    }
    assert live_masked["data"] == {
        "username": MASK_UNCHANGED,
        "password": MASK_CHANGED,
        "legacy": MASK_CHANGED,
    }


def test_masked_pair_leaves_other_kinds_alone() -> None:
    deployment = desired_deployment()
    assert masked_pair(deployment, None) == (deployment, None)


SECRET_VALUES = ("s3cr3t-pa55", "hunter2-rotated", "app-user")


def secret_diffs() -> list[ObjectDiff]:
    desired = secret(stringData={"username": "app-user", "password": "hunter2-rotated"})
    live = secret(
        {"username": b64("app-user"), "password": b64("s3cr3t-pa55"), "old": b64("s3cr3t-pa55")}
    )
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": (
            '{"data":{"password":"czNjcjN0LXBhNTU="}}'
        )
    }
    return [
        compare_object(desired, live),
        compare_object(desired, live, predicted=copy.deepcopy(live)),
        compare_object(desired, None),
        compare_object(None, live),
    ]


@pytest.mark.parametrize(
    "diff", secret_diffs(), ids=["fallback", "predicted", "missing", "extraneous"]
)
def test_secret_values_never_appear_in_output(diff: ObjectDiff) -> None:
    outputs = [
        unified_diff(diff),
        repr(diff),
        str(diff.desired),
        str(diff.live),
        " ".join(diff.paths),
    ]
    forbidden = [*SECRET_VALUES, *(b64(value) for value in SECRET_VALUES)]
    for output in outputs:
        for value in forbidden:
            assert value not in output


def test_secret_diff_shows_markers() -> None:
    diff = secret_diffs()[0]
    assert diff.paths == ["/data/password", "/data/old"]
    text = unified_diff(diff)
    # "changed" is said once, on the desired side; the live side shows only the mask.
    assert "-  password: '***'" in text
    assert f"+  password: '{MASK_CHANGED}'" in text
    assert text.count(MASK_CHANGED) == 1
    assert f"   username: '{MASK_UNCHANGED}'" in text
    assert "-  old: '***'" in text
    assert "\ue000" not in text


def test_unified_diff_masks_hand_built_secret_diffs() -> None:
    key = ResourceKey("", "Secret", "production", "db-credentials")
    diff = ObjectDiff(
        key, Verdict.OUT_OF_SYNC, ["/data/password"], secret({"password": "cGxhaW4="}), None
    )
    text = unified_diff(diff)
    assert "cGxhaW4=" not in text and "password: '***'" in text


# --- application level ---------------------------------------------------------------------------


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return manifests.configmap(name, data, namespace="production")


def test_compare_app() -> None:
    deployment = desired_deployment()
    config = configmap("api-config", {"LOG_LEVEL": "info"})
    new = configmap("feature-flags", {"X": "on"})
    old = configmap("old-config", {"A": "b"})
    live_config = configmap("api-config", {"LOG_LEVEL": "debug"})
    live = {
        ResourceKey.of(deployment): stored_deployment(),
        ResourceKey.of(live_config): live_config,
        ResourceKey.of(old): old,
    }
    result = compare_app(
        [deployment, new, config], live, {ResourceKey.of(deployment): stored_deployment()}
    )
    assert isinstance(result, AppDiff)
    assert result.verdict is Verdict.OUT_OF_SYNC and not result.in_sync
    assert [(str(d.key), d.verdict) for d in result.objects] == [
        ("ConfigMap production/api-config", Verdict.OUT_OF_SYNC),
        ("ConfigMap production/feature-flags", Verdict.MISSING),
        ("ConfigMap production/old-config", Verdict.EXTRANEOUS),
        ("Deployment.apps production/api-service", Verdict.SYNCED),
    ]
    assert result.objects[0].paths == ["/data/LOG_LEVEL"]
    assert len(result.out_of_sync) == 3


def test_compare_app_synced() -> None:
    config = configmap("api-config", {"LOG_LEVEL": "info"})
    result = compare_app([config], {ResourceKey.of(config): copy.deepcopy(config)})
    assert result.verdict is Verdict.SYNCED
    assert result.out_of_sync == []
    assert compare_app([], {}).verdict is Verdict.SYNCED


def test_compare_app_rejects_duplicates() -> None:
    config = configmap("api-config", {"LOG_LEVEL": "info"})
    with pytest.raises(InputError, match="more than once"):
        compare_app([config, copy.deepcopy(config)], {})


def test_an_extraneous_object_with_ignore_extraneous_does_not_count_for_the_app() -> None:
    config = configmap("api-config", {"LOG_LEVEL": "info"})
    generated = configmap("generated", {"A": "b"})
    live = {ResourceKey.of(config): copy.deepcopy(config), ResourceKey.of(generated): generated}
    assert compare_app([config], live).verdict is Verdict.OUT_OF_SYNC  # without the option
    generated["metadata"]["annotations"] = {
        "argocd.argoproj.io/compare-options": "IgnoreExtraneous"
    }
    result = compare_app([config], live)
    assert result.verdict is Verdict.SYNCED
    # The object itself is still extraneous (a prune with --prune removes it).
    assert [d.verdict for d in result.objects][-1] is Verdict.EXTRANEOUS
