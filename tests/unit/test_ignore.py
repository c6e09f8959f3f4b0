"""Unit tests for tether.core.ignore: ignoreDifferences rules and the fieldsV1 decoder."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.core.ignore import (
    FieldName,
    IgnoreRule,
    ItemByIndex,
    ItemByKey,
    ItemByValue,
    decode_fields_v1,
    ignored_paths,
    managed_field_paths,
    parse_field_segment,
    parse_ignore_rules,
    path_to_pointer,
    remove_paths,
    resolve_field_path,
    same_json,
    strip_ignored,
)
from tether.errors import InputError
from tether.model.keys import ResourceKey

TRACKING_ID = "tether-system/api:apps/Deployment:production/api-service"
DEPLOYMENT_KEY = ResourceKey("apps", "Deployment", "production", "api-service")

# What the HPA controller leaves on a Deployment it scales (through the scale subresource).
HPA_SCALE_ENTRY: dict[str, Any] = {
    "manager": "kube-controller-manager",
    "operation": "Update",
    "apiVersion": "apps/v1",
    "time": "2026-11-26T10:02:11Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {"f:spec": {"f:replicas": {}}},
    "subresource": "scale",
}

TETHER_APPLY_ENTRY: dict[str, Any] = {
    "manager": "tether",
    "operation": "Apply",
    "apiVersion": "apps/v1",
    "time": "2026-11-26T09:58:40Z",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {
            "f:labels": {"f:app": {}},
            "f:annotations": {"f:tether.dev/tracking-id": {}},
        },
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"api"}': {
                            ".": {},
                            "f:image": {},
                            "f:name": {},
                            "f:ports": {
                                'k:{"containerPort":8080,"protocol":"TCP"}': {
                                    ".": {},
                                    "f:containerPort": {},
                                }
                            },
                        }
                    }
                },
            },
        },
    },
}

ISTIO_ENTRY: dict[str, Any] = {
    "manager": "istio-sidecar-injector",
    "operation": "Update",
    "apiVersion": "apps/v1",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {"f:annotations": {".": {}, "f:sidecar.istio.io/status": {}}},
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"istio-proxy"}': {".": {}, "f:image": {}, "f:name": {}}
                    }
                }
            }
        },
    },
}


def live_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "api-service",
            "namespace": "production",
            "labels": {"app": "api-service"},
            "annotations": {
                "tether.dev/tracking-id": TRACKING_ID,
                "sidecar.istio.io/status": '{"version":"1.24"}',
            },
            "managedFields": [TETHER_APPLY_ENTRY, HPA_SCALE_ENTRY, ISTIO_ENTRY],
        },
        "spec": {
            "replicas": 7,
            "selector": {"matchLabels": {"app": "api-service"}},
            "template": {
                "metadata": {"labels": {"app": "api-service"}},
                "spec": {
                    "containers": [
                        {
                            "name": "api",
                            "image": "registry.example.com/api:1.4.2",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        },
                        {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.24.0"},
                    ]
                },
            },
        },
    }


def desired_deployment() -> dict[str, Any]:
    live = live_deployment()
    del live["metadata"]["managedFields"]
    del live["metadata"]["annotations"]["sidecar.istio.io/status"]
    live["spec"]["replicas"] = 3
    live["spec"]["template"]["spec"]["containers"] = live["spec"]["template"]["spec"]["containers"][
        :1
    ]
    live["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    return live


# --- rule matching and parsing -------------------------------------------------------------------


def test_rule_matches_group_and_kind_globs() -> None:
    assert IgnoreRule(kind="Deployment", group="apps").matches(DEPLOYMENT_KEY)
    assert IgnoreRule(kind="*", group="*").matches(DEPLOYMENT_KEY)
    assert IgnoreRule(kind="Deploy*", group="app?").matches(DEPLOYMENT_KEY)
    assert not IgnoreRule(kind="StatefulSet", group="apps").matches(DEPLOYMENT_KEY)


def test_empty_group_is_the_core_group() -> None:
    secret = ResourceKey("", "Secret", "production", "db-credentials")
    assert IgnoreRule(kind="Secret").matches(secret)
    assert not IgnoreRule(kind="Deployment").matches(DEPLOYMENT_KEY)


def test_name_and_namespace_are_exact() -> None:
    assert IgnoreRule(kind="*", group="*", name="api-service").matches(DEPLOYMENT_KEY)
    assert not IgnoreRule(kind="*", group="*", name="api-*").matches(DEPLOYMENT_KEY)
    assert IgnoreRule(kind="*", group="*", namespace="production").matches(DEPLOYMENT_KEY)
    assert not IgnoreRule(kind="*", group="*", namespace="staging").matches(DEPLOYMENT_KEY)


def test_parse_rules_from_application_spec() -> None:
    rules = parse_ignore_rules(
        [
            {
                "group": "apps",
                "kind": "Deployment",
                "name": "api-service",
                "jsonPointers": ["/spec/replicas"],
            },
            {"kind": "Secret", "jqPathExpressions": ['.data["rotated-key"]']},
            {"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]},
        ]
    )
    assert rules[0] == IgnoreRule(
        kind="Deployment", group="apps", name="api-service", json_pointers=("/spec/replicas",)
    )
    assert rules[1].jq_path_expressions == ('.data["rotated-key"]',)
    assert rules[2].managed_fields_managers == ("kube-controller-manager",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"group": "apps"}, "needs a kind"),
        ({"kind": "Deployment", "jsonPointers": "/spec/replicas"}, "jsonPointers must be a list"),
        ({"kind": "Deployment", "name": 3}, "name must be a string"),
        ({"kind": "Deployment", "jsonPointers": ["spec/replicas"]}, "invalid JSON pointer"),
    ],
)
def test_invalid_rules_are_input_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_ignore_rules([spec])


def test_invalid_jq_expression_names_the_expression() -> None:
    with pytest.raises(InputError) as caught:
        IgnoreRule(kind="Secret", jq_path_expressions=(".data[[",))
    assert "'.data[['" in caught.value.message
    assert "invalid jq path expression" in caught.value.message


def test_rules_list_must_hold_mappings() -> None:
    with pytest.raises(InputError, match=r"ignoreDifferences\[0\]"):
        parse_ignore_rules(["kind: Secret"])  # type: ignore[list-item]


# --- JSON pointers -----------------------------------------------------------------------------


def test_pointer_removes_the_field_from_both_sides() -> None:
    rules = [IgnoreRule(kind="Deployment", group="apps", json_pointers=("/spec/replicas",))]
    stripped = strip_ignored(rules, desired_deployment(), live_deployment())
    assert stripped.desired is not None and stripped.live is not None
    assert "replicas" not in stripped.desired["spec"]
    assert "replicas" not in stripped.live["spec"]


def test_pointer_with_escaped_key_and_list_index() -> None:
    live = live_deployment()
    rule = IgnoreRule(
        kind="Deployment",
        group="apps",
        json_pointers=(
            "/metadata/annotations/sidecar.istio.io~1status",
            "/spec/template/spec/containers/1",
            "/spec/does/not/exist",
            "/spec/template/spec/containers/9",
        ),
    )
    paths = ignored_paths([rule], live)
    assert paths == [
        ("metadata", "annotations", "sidecar.istio.io/status"),
        ("spec", "template", "spec", "containers", 1),
    ]
    result = remove_paths(live, paths)
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["api"]
    assert live["spec"]["template"]["spec"]["containers"][1]["name"] == "istio-proxy"  # a copy


def test_non_matching_rules_leave_objects_alone() -> None:
    rules = [IgnoreRule(kind="StatefulSet", group="apps", json_pointers=("/spec/replicas",))]
    desired, live = desired_deployment(), live_deployment()
    stripped = strip_ignored(rules, desired, live)
    assert stripped.desired == desired and stripped.live == live


# --- jq ----------------------------------------------------------------------------------------


def test_jq_path_expression_selects_list_items_by_content() -> None:
    rule = IgnoreRule(
        kind="Deployment",
        group="apps",
        jq_path_expressions=(
            '.spec.template.spec.containers[] | select(.name == "istio-proxy")',
            '.metadata.annotations["sidecar.istio.io/status"]',
        ),
    )
    stripped = strip_ignored([rule], desired_deployment(), live_deployment())
    assert stripped.live is not None
    assert [c["name"] for c in stripped.live["spec"]["template"]["spec"]["containers"]] == ["api"]
    assert "sidecar.istio.io/status" not in stripped.live["metadata"]["annotations"]


def test_jq_on_a_secret_key() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "api-keys", "namespace": "production"},
        "data": {"rotated-key": "c2VjcmV0LTE=", "static-key": "c3RhdGlj"},
    }
    rule = parse_ignore_rules([{"kind": "Secret", "jqPathExpressions": ['.data["rotated-key"]']}])
    assert ignored_paths(rule, secret) == [("data", "rotated-key")]


def test_jq_runtime_errors_select_nothing() -> None:
    rule = IgnoreRule(
        kind="Deployment",
        group="apps",
        jq_path_expressions=(".spec.template.spec.initContainers[]",),
    )
    assert ignored_paths([rule], live_deployment()) == []


def test_jq_expression_that_is_not_a_path_is_an_input_error_without_values() -> None:
    rule = IgnoreRule(kind="Secret", jq_path_expressions=(".data.password | ascii_downcase",))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "SECRETVALUE"},
    }
    with pytest.raises(InputError, match="does not select paths") as caught:
        ignored_paths([rule], secret)
    assert "SECRETVALUE" not in caught.value.message
    assert "secretvalue" not in caught.value.message


def test_jq_negative_index_and_slices() -> None:
    rule = IgnoreRule(
        kind="Deployment",
        group="apps",
        jq_path_expressions=(
            ".spec.template.spec.containers[-1]",
            ".spec.template.spec.containers[1:]",
        ),
    )
    live = live_deployment()
    result = remove_paths(live, ignored_paths([rule], live))
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == ["api"]


def test_max_paths_guard() -> None:
    rule = IgnoreRule(kind="Deployment", group="apps", jq_path_expressions=("..",))
    with pytest.raises(InputError, match="more than 5 fields"):
        ignored_paths([rule], live_deployment(), max_paths=5)


# --- managedFields -------------------------------------------------------------------------------


def test_managed_fields_managers_ignore_hpa_owned_replicas() -> None:
    rules = parse_ignore_rules(
        [{"group": "*", "kind": "*", "managedFieldsManagers": ["kube-controller-manager"]}]
    )
    stripped = strip_ignored(rules, desired_deployment(), live_deployment())
    assert stripped.desired is not None and stripped.live is not None
    assert "replicas" not in stripped.desired["spec"]
    assert "replicas" not in stripped.live["spec"]
    assert stripped.live["spec"]["template"] == live_deployment()["spec"]["template"]


def test_managed_fields_given_explicitly_for_normalized_live() -> None:
    live = live_deployment()
    entries = live["metadata"].pop("managedFields")
    rule = IgnoreRule(kind="*", group="*", managed_fields_managers=("kube-controller-manager",))
    stripped = strip_ignored([rule], None, live, managed_fields=entries)
    assert stripped.live is not None and "replicas" not in stripped.live["spec"]


def test_list_item_created_by_a_manager_is_ignored_whole() -> None:
    rule = IgnoreRule(kind="*", group="*", managed_fields_managers=("istio-sidecar-injector",))
    live = live_deployment()
    paths = ignored_paths([rule], live, managed_fields=live["metadata"]["managedFields"])
    assert paths == [
        ("metadata", "annotations", "sidecar.istio.io/status"),
        ("spec", "template", "spec", "containers", 1),
    ]


def test_decode_fields_v1() -> None:
    paths = decode_fields_v1(TETHER_APPLY_ENTRY["fieldsV1"])
    api = ItemByKey((("name", "api"),))
    assert (FieldName("metadata"), FieldName("labels"), FieldName("app")) in paths
    assert (FieldName("spec"), FieldName("replicas")) in paths
    # A container with "." is owned whole: its fields are not listed separately.
    containers = (
        FieldName("spec"),
        FieldName("template"),
        FieldName("spec"),
        FieldName("containers"),
    )
    assert (*containers, api) in paths
    assert (*containers, api, FieldName("image")) not in paths
    assert len(paths) == 6


def test_decode_set_and_index_items() -> None:
    fields: dict[str, Any] = {
        "f:metadata": {"f:finalizers": {".": {}, 'v:"example.com/cleanup"': {}}},
        "f:spec": {"f:args": {"i:0": {}}},
    }
    assert decode_fields_v1(fields) == [
        (FieldName("metadata"), FieldName("finalizers"), ItemByValue("example.com/cleanup")),
        (FieldName("spec"), FieldName("args"), ItemByIndex(0)),
    ]


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        ("f:spec", FieldName("spec")),
        ('k:{"port":80,"protocol":"TCP"}', ItemByKey((("port", 80), ("protocol", "TCP")))),
        ('v:"x"', ItemByValue("x")),
        ("i:3", ItemByIndex(3)),
        ("k:not-json", None),
        ("z:what", None),
    ],
)
def test_parse_field_segment(text: str, segment: object) -> None:
    assert parse_field_segment(text) == segment


def test_resolve_field_path_defaults_the_protocol_key() -> None:
    desired = desired_deployment()  # its port has no protocol: the server defaults it to TCP
    port = (
        FieldName("spec"),
        FieldName("template"),
        FieldName("spec"),
        FieldName("containers"),
        ItemByKey((("name", "api"),)),
        FieldName("ports"),
        ItemByKey((("containerPort", 8080), ("protocol", "TCP"))),
    )
    assert resolve_field_path(desired, port) == (
        "spec",
        "template",
        "spec",
        "containers",
        0,
        "ports",
        0,
    )
    udp = (*port[:-1], ItemByKey((("containerPort", 8080), ("protocol", "UDP"))))
    assert resolve_field_path(desired, udp) is None


def test_managed_field_paths_filters_by_manager_and_operation() -> None:
    entries = [TETHER_APPLY_ENTRY, HPA_SCALE_ENTRY]
    assert managed_field_paths(entries, {"kube-controller-manager"}) == [
        (FieldName("spec"), FieldName("replicas"))
    ]
    assert managed_field_paths(entries, {"kube-controller-manager"}, operation="Apply") == []
    assert len(managed_field_paths(entries, {"tether"}, operation="Apply")) == 6


# --- helpers -----------------------------------------------------------------------------------


def test_remove_paths_keeps_indices_valid() -> None:
    obj = {"spec": {"args": ["a", "b", "c", "d"], "env": [{"name": "A", "value": "1"}]}}
    result = remove_paths(
        obj, [("spec", "args", 0), ("spec", "args", 2), ("spec", "env", 0, "value"), ("x", "y")]
    )
    assert result == {"spec": {"args": ["b", "d"], "env": [{"name": "A"}]}}
    assert obj["spec"]["args"] == ["a", "b", "c", "d"]


def test_path_to_pointer_escapes() -> None:
    assert path_to_pointer(("metadata", "annotations", "a/b~c")) == "/metadata/annotations/a~1b~0c"
    assert path_to_pointer(("spec", "containers", 0, "image")) == "/spec/containers/0/image"


def test_same_json_distinguishes_bools_from_numbers() -> None:
    assert not same_json(True, 1)
    assert not same_json(0, False)
    assert same_json(1, 1.0)
    assert not same_json("1", 1)
    assert same_json({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    assert not same_json({"a": 1}, {"a": 1, "b": 2})


def test_strip_ignored_with_nothing_to_compare() -> None:
    assert strip_ignored([], None, None) == (None, None, None)


def test_strip_ignored_applies_to_predicted_too() -> None:
    rule = IgnoreRule(kind="Deployment", group="apps", json_pointers=("/spec/replicas",))
    predicted = copy.deepcopy(live_deployment())
    stripped = strip_ignored([rule], desired_deployment(), live_deployment(), predicted=predicted)
    assert stripped.predicted is not None and "replicas" not in stripped.predicted["spec"]
