"""Unit tests for tether.core.quantity and tether.core.normalize: the known comparison traps."""

from __future__ import annotations

import base64
import copy
from fractions import Fraction
from typing import Any

import pytest

from tests.support import manifests
from tether.core.normalize import (
    canonical_int_or_string,
    is_empty_value,
    normalize,
    pod_specs,
    secret_data,
)
from tether.core.quantity import (
    Quantity,
    QuantityFormat,
    normalize_quantity,
    parse_quantity,
    quantities_equal,
)
from tether.errors import InputError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deployment(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return manifests.deployment(
        "api-service", namespace="production", replicas=3, containers=[container], **spec
    )


def container_of(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


# --- Quantity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("0.5", "500m"),
        (0.5, "500m"),
        ("1000M", "1G"),
        ("1Gi", "1024Mi"),
        ("1", 1),
        (0.1, "100m"),
        ("1e3", "1k"),
        ("1E3", 1000),
        ("1.5Gi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1000Ki", "1024000"),
        ("+2", "2"),
        (".5", "500m"),
        ("250m", 0.25),
    ],
)
def test_equal_quantities_in_different_spellings(left: str | float, right: str | float) -> None:
    assert quantities_equal(left, right)
    assert normalize_quantity(left) == normalize_quantity(right)


@pytest.mark.parametrize(
    ("left", "right"), [("1G", "1Gi"), ("100m", "0.01"), ("1", "1m"), ("1M", "1Mi")]
)
def test_different_quantities(left: str, right: str) -> None:
    assert not quantities_equal(left, right)
    assert normalize_quantity(left) != normalize_quantity(right)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0.5", "500m"),
        (0.5, "500m"),
        ("1000M", "1G"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("1e3", "1e3"),
        ("1500", "1500"),
        ("2048Ki", "2Mi"),
        ("1536", "1536"),
        ("512", "512"),  # binary format below 1024 is written as a decimal
        ("0.1m", "100u"),
        ("0.5n", "1n"),  # the server rounds below a nano-unit up
        ("-0.5", "-500m"),
        ("0", "0"),
        ("0Gi", "0"),
    ],
)
def test_canonical_form_matches_the_api_server(raw: str | float, canonical: str) -> None:
    assert parse_quantity(raw).canonical() == canonical


def test_quantity_keeps_exact_value_and_format() -> None:
    assert parse_quantity("1.5Gi") == Quantity(Fraction(1610612736), QuantityFormat.BINARY_SI)
    assert parse_quantity("5e-3").value == Fraction(5, 1000)
    assert parse_quantity("5e-3").format is QuantityFormat.DECIMAL_EXPONENT
    assert parse_quantity("300m").format is QuantityFormat.DECIMAL_SI
    assert hash(parse_quantity("0.5")) == hash(parse_quantity("500m"))


@pytest.mark.parametrize("raw", ["", "abc", "1.2.3", "1Ki5", "1 Gi", "m", "1e", "--1", "1KiB"])
def test_invalid_quantity_is_an_input_error(raw: str) -> None:
    with pytest.raises(InputError, match="invalid quantity"):
        parse_quantity(raw)


def test_bool_and_non_finite_are_not_quantities() -> None:
    with pytest.raises(InputError):
        parse_quantity(True)
    with pytest.raises(InputError):
        parse_quantity(float("inf"))


def test_normalize_quantity_leaves_non_quantities_alone() -> None:
    assert normalize_quantity("{{ .Values.cpu }}") == "{{ .Values.cpu }}"
    assert normalize_quantity(None) is None
    assert normalize_quantity(True) is True


# --- server-written fields -------------------------------------------------------------------


def test_server_written_metadata_and_status_are_dropped() -> None:
    live = deployment({"name": "api", "image": "registry.example.com/api:1.4.2"})
    live["metadata"].update(
        {
            "uid": "3f1f7a4e-8d4c-4f59-9f2b-0d2a1f6d1c55",
            "resourceVersion": "48213",
            "generation": 4,
            "creationTimestamp": "2026-11-20T09:12:44Z",
            "selfLink": "/apis/apps/v1/namespaces/production/deployments/api-service",
            "managedFields": [{"manager": "tether", "operation": "Apply"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}',
                "deployment.kubernetes.io/revision": "4",
            },
        }
    )
    live["status"] = {"observedGeneration": 4, "replicas": 3}
    result = normalize(live)
    assert result["metadata"] == {
        "name": "api-service",
        "namespace": "production",
        "annotations": {"deployment.kubernetes.io/revision": "4"},
    }
    assert "status" not in result
    assert normalize(live, compare_status=True)["status"] == live["status"]


def test_normalize_does_not_modify_its_input() -> None:
    obj = deployment({"name": "api", "resources": {"limits": {"cpu": 0.5}}})
    before = copy.deepcopy(obj)
    normalize(obj)
    assert obj == before


def test_nulls_are_dropped_as_absent() -> None:
    obj = deployment({"name": "api", "image": "api:1", "command": None})
    obj["spec"]["strategy"] = None
    result = normalize(obj)
    assert "command" not in container_of(result)
    assert "strategy" not in result["spec"]


# --- Secret ----------------------------------------------------------------------------------


def test_secret_string_data_is_folded_into_data_and_wins() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-credentials", "namespace": "production"},
        "type": "Opaque",
        "data": {"username": b64("app"), "password": b64("old-password")},
        "stringData": {"password": "s3cr3t-pa55", "host": "db.internal:5432"},
    }
    result = normalize(secret)
    assert "stringData" not in result
    assert result["data"] == {
        "username": b64("app"),
        "password": b64("s3cr3t-pa55"),
        "host": b64("db.internal:5432"),
    }
    assert secret_data(secret) == result["data"]


def test_secret_data_is_re_encoded_like_the_server() -> None:
    wrapped = b64("x" * 80)
    wrapped = wrapped[:40] + "\n" + wrapped[40:]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tls"},
        "data": {"blob": wrapped, "broken": "not base64!"},
    }
    result = normalize(secret)
    assert result["data"]["blob"] == b64("x" * 80)
    assert result["data"]["broken"] == "not base64!"  # left for the server to reject


def test_secret_without_payload_gets_no_data() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "empty"}}
    assert "data" not in normalize(secret)


def test_string_data_of_a_custom_kind_named_secret_is_left_alone() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"a": "b"}}
    assert normalize(obj)["stringData"] == {"a": "b"}


# --- quantities in their known places ------------------------------------------------------------


def test_container_and_pod_quantities_are_normalized() -> None:
    written = deployment(
        {
            "name": "api",
            "resources": {
                "requests": {"cpu": 0.5, "memory": "1024Mi", "ephemeral-storage": "1000M"},
                "limits": {"cpu": "1", "memory": "1Gi"},
            },
        }
    )
    pod_spec = written["spec"]["template"]["spec"]
    pod_spec["overhead"] = {"cpu": 0.1}
    pod_spec["initContainers"] = [{"name": "migrate", "resources": {"limits": {"cpu": 0.25}}}]
    pod_spec["volumes"] = [{"name": "scratch", "emptyDir": {"sizeLimit": "1024Mi"}}]
    stored = deployment(
        {
            "name": "api",
            "resources": {
                "requests": {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "1G"},
                "limits": {"cpu": 1, "memory": "1024Mi"},
            },
        }
    )
    stored_pod = stored["spec"]["template"]["spec"]
    stored_pod["overhead"] = {"cpu": "100m"}
    stored_pod["initContainers"] = [{"name": "migrate", "resources": {"limits": {"cpu": "250m"}}}]
    stored_pod["volumes"] = [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}]
    assert normalize(written) == normalize(stored)
    assert container_of(normalize(written))["resources"]["requests"]["cpu"] == "500m"


def test_cronjob_and_pod_quantities_are_normalized() -> None:
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "report"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "report", "resources": {"requests": {"memory": "0.5Gi"}}}
                            ]
                        }
                    }
                }
            },
        },
    }
    result = normalize(cronjob)
    pod = result["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["requests"]["memory"] == "512Mi"
    pod_obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug"},
        "spec": {"containers": [{"name": "sh", "resources": {"limits": {"cpu": 2.0}}}]},
    }
    assert normalize(pod_obj)["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2"
    assert [spec["containers"][0]["name"] for spec in pod_specs(pod_obj)] == ["sh"]


def test_persistent_volume_claim_and_statefulset_templates() -> None:
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": 10240}}},
    }
    assert normalize(pvc)["spec"]["resources"]["requests"]["storage"] == normalize_quantity("10Ki")
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "postgres"},
        "spec": {
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "pgdata"},
                    "spec": {"resources": {"requests": {"storage": "20480Mi"}}},
                }
            ]
        },
    }
    template = normalize(sts)["spec"]["volumeClaimTemplates"][0]
    assert template["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_limit_range_and_resource_quota() -> None:
    limit_range = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "defaults"},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": 0.5, "memory": "512Mi"},
                    "defaultRequest": {"cpu": "0.1"},
                    "max": {"memory": "2048Mi"},
                }
            ]
        },
    }
    limit = normalize(limit_range)["spec"]["limits"][0]
    assert limit["default"] == {"cpu": "500m", "memory": "512Mi"}
    assert limit["defaultRequest"] == {"cpu": "100m"}
    assert limit["max"] == {"memory": "2Gi"}
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "team-quota"},
        "spec": {"hard": {"requests.cpu": "10", "requests.memory": "10240Mi", "pods": "50"}},
    }
    assert normalize(quota)["spec"]["hard"] == {
        "requests.cpu": "10",
        "requests.memory": "10Gi",
        "pods": "50",
    }


# --- IntOrString -------------------------------------------------------------------------------


def test_int_or_string_ports_digit_strings_equal_ints() -> None:
    written = deployment(
        {
            "name": "api",
            "ports": [{"containerPort": "8080", "name": "http"}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "8080"}},
            "readinessProbe": {"tcpSocket": {"port": "http"}},
            "lifecycle": {"preStop": {"httpGet": {"path": "/drain", "port": "9090"}}},
        }
    )
    container = container_of(normalize(written))
    assert container["ports"][0]["containerPort"] == 8080
    assert container["livenessProbe"]["httpGet"]["port"] == 8080
    assert container["readinessProbe"]["tcpSocket"]["port"] == "http"  # a named port
    assert container["lifecycle"]["preStop"]["httpGet"]["port"] == 9090


def test_service_target_port() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api-service"},
        "spec": {
            "selector": {"app": "api-service"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": "8080"},
                {"name": "metrics", "port": 9090, "targetPort": "metrics"},
            ],
        },
    }
    ports = normalize(service)["spec"]["ports"]
    assert [port["targetPort"] for port in ports] == [8080, "metrics"]


def test_percentages_are_not_integers() -> None:
    written = deployment(
        {"name": "api"}, strategy={"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "1"}}
    )
    live = deployment(
        {"name": "api"}, strategy={"rollingUpdate": {"maxSurge": 25, "maxUnavailable": 1}}
    )
    written_update = normalize(written)["spec"]["strategy"]["rollingUpdate"]
    live_update = normalize(live)["spec"]["strategy"]["rollingUpdate"]
    assert written_update["maxSurge"] != live_update["maxSurge"]
    assert written_update["maxUnavailable"] == live_update["maxUnavailable"] == 1


def test_pdb_and_network_policy_ports() -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "api"},
        "spec": {"minAvailable": "2"},
    }
    assert normalize(pdb)["spec"]["minAvailable"] == 2
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-api"},
        "spec": {"ingress": [{"ports": [{"protocol": "TCP", "port": "8080"}]}]},
    }
    assert normalize(policy)["spec"]["ingress"][0]["ports"][0]["port"] == 8080


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("8080", 8080), (8080, 8080), ("25%", "25%"), ("http", "http"), ("-1", "-1")],
)
def test_canonical_int_or_string(raw: object, expected: object) -> None:
    assert canonical_int_or_string(raw) == expected


# --- HPA and aggregated ClusterRole -------------------------------------------------------------


def hpa(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
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
            "metrics": metrics,
        },
    }


CPU_METRIC = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
}
MEMORY_METRIC = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "0.5Gi"}},
}


def test_hpa_metric_order_does_not_matter() -> None:
    first = normalize(hpa([CPU_METRIC, MEMORY_METRIC]))
    second = normalize(hpa([MEMORY_METRIC, CPU_METRIC]))
    assert first == second
    targets = [metric["resource"]["target"] for metric in first["spec"]["metrics"]]
    assert {"type": "AverageValue", "averageValue": "512Mi"} in targets


def test_aggregated_cluster_role_rules_are_dropped() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "monitoring"},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}
            ]
        },
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    assert "rules" not in normalize(role)
    plain = {key: value for key, value in role.items() if key != "aggregationRule"}
    assert normalize(plain)["rules"] == role["rules"]


# --- empty values ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, {}, [], 0, 0.0, False, ""])
def test_zero_values_are_unset_for_struct_fields(value: object) -> None:
    assert is_empty_value(value)


@pytest.mark.parametrize("value", [1, True, "x", {"a": 1}, [0]])
def test_real_values_are_set(value: object) -> None:
    assert not is_empty_value(value)


def test_empty_string_is_a_value_in_free_form_maps() -> None:
    assert not is_empty_value("", in_free_form_map=True)
    assert not is_empty_value(0, in_free_form_map=True)
    assert is_empty_value(None, in_free_form_map=True)
