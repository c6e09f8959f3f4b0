"""Which field managers are a person's tool, and taking their fields over (core.managers).

The managedFields here are as kube-apiserver recorded them for real kubectl commands
(patch, scale, label, set image) on objects tether applied.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.core.managers import (
    describe_takeover,
    is_person_tool_entry,
    merge_fields,
    plan_takeover,
    takeover_for,
)
from tether.core.paths import resolve_pointer


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": extra.pop("apiVersion", "v1"),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
        "manager": manager,
        "operation": operation,
        **extra,
    }


def configmap(data: dict[str, str], managed: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "ns", "managedFields": managed},
        "data": data,
    }


DESIRED_CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "settings", "namespace": "ns"},
    "data": {"a": "1"},
}


@pytest.mark.parametrize(
    ("manager", "operation", "subresource", "expected"),
    [
        ("kubectl-edit", "Update", None, True),
        ("kubectl-patch", "Update", None, True),
        ("kubectl-client-side-apply", "Update", None, True),
        ("kubectl-set", "Update", None, True),
        ("kubectl-label", "Update", None, True),
        ("kubectl-annotate", "Update", None, True),
        ("kubectl", "Update", "scale", True),  # kubectl scale
        ("kubectl", "Apply", None, True),  # kubectl apply --server-side
        ("before-first-apply", "Update", None, True),
        ("kubectl-edit", "Update", "status", False),
        ("kube-controller-manager", "Update", "scale", False),  # the HPA
        ("horizontal-pod-autoscaler", "Update", None, False),
        ("kubectlish-operator", "Update", None, False),
        ("tether", "Apply", None, False),
    ],
)
def test_person_tool_entries(
    manager: str, operation: str, subresource: str | None, expected: bool
) -> None:
    extra = {"subresource": subresource} if subresource else {}
    assert is_person_tool_entry(entry(manager, operation, {}, **extra)) is expected


def test_merge_fields_is_a_union_and_copies() -> None:
    left = {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:x": {}}}}
    right = {"f:data": {"f:b": {}}, "f:metadata": {"f:labels": {"f:y": {}}}}
    merged = merge_fields(left, right)
    assert merged == {
        "f:data": {"f:a": {}, "f:b": {}},
        "f:metadata": {"f:labels": {".": {}, "f:x": {}, "f:y": {}}},
    }
    merged["f:data"]["f:c"] = {}
    assert "f:c" not in left["f:data"]


def test_pointer_path_resolves_list_indices_and_escapes() -> None:
    obj = {"spec": {"items": [{"a": 1}, {"a/b": 2}]}}
    assert resolve_pointer(obj, "/spec/items/1/a~1b") == ("spec", "items", 1, "a/b")
    assert resolve_pointer(obj, "/spec/items/7") is None
    assert resolve_pointer(obj, "") == ()


def test_a_key_kubectl_added_and_a_value_it_changed_become_tethers() -> None:
    # kubectl patch -p '{"data":{"added":"x","a":"2"}}': tether's entry is gone entirely.
    live = configmap(
        {"a": "2", "added": "x"},
        [entry("kubectl-patch", "Update", {"f:data": {"f:a": {}, "f:added": {}}}, time="T1")],
    )
    takeover = plan_takeover(live, DESIRED_CM, drifted=["/data/a", "/data/added"])
    assert takeover is not None
    assert takeover.managed_fields == [
        entry("tether", "Apply", {"f:data": {"f:a": {}, "f:added": {}}}, time="T1")
    ]
    assert describe_takeover(takeover) == "kubectl-patch: /data/a, /data/added"


def test_taken_fields_merge_into_tethers_one_apply_entry() -> None:
    # The API server keeps only the last of two tether/Apply entries: never write two.
    live = configmap(
        {"a": "1", "added": "x"},
        [
            entry("tether", "Apply", {"f:data": {"f:a": {}}}, time="T0"),
            entry("kubectl-edit", "Update", {"f:data": {"f:added": {}}}, time="T1"),
        ],
    )
    takeover = plan_takeover(live, DESIRED_CM, drifted=["/data/added"])
    assert takeover is not None
    ours = [e for e in takeover.managed_fields if e["manager"] == "tether"]
    assert len(ours) == 1 and len(takeover.managed_fields) == 1
    assert ours[0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:added": {}}}
    assert ours[0]["time"] == "T1"


def test_fields_neither_in_git_nor_flagged_stay_with_their_writer() -> None:
    live = configmap(
        {"a": "1"},
        [entry("tether", "Apply", {"f:data": {"f:a": {}}})],
    )
    live["metadata"]["labels"] = {"hand": "yes"}
    live["metadata"]["managedFields"].append(
        entry("kubectl-label", "Update", {"f:metadata": {"f:labels": {".": {}, "f:hand": {}}}})
    )
    assert plan_takeover(live, DESIRED_CM, drifted=[]) is None


def test_nothing_to_take_without_person_tools() -> None:
    live = configmap(
        {"a": "1", "extra": "x"},
        [
            entry("tether", "Apply", {"f:data": {"f:a": {}}}),
            entry("some-operator", "Update", {"f:data": {"f:extra": {}}}),
        ],
    )
    assert plan_takeover(live, DESIRED_CM, drifted=["/data/extra"]) is None


def deployment_live() -> dict[str, Any]:
    """After `kubectl scale --replicas=3`, `kubectl set image`, `kubectl label`, and a
    status write of kube-controller-manager."""
    managed = [
        entry(
            "tether",
            "Apply",
            {
                "f:spec": {
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:name": {}}}},
                    },
                }
            },
            apiVersion="apps/v1",
            time="T0",
        ),
        entry(
            "kubectl",
            "Update",
            {"f:spec": {"f:replicas": {}}},
            apiVersion="apps/v1",
            subresource="scale",
        ),
        entry(
            "kubectl-label",
            "Update",
            {"f:metadata": {"f:labels": {".": {}, "f:hand": {}}}},
            apiVersion="apps/v1",
            time="T1",
        ),
        entry(
            "kubectl-set",
            "Update",
            {
                "f:spec": {
                    "f:template": {
                        "f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}
                    }
                }
            },
            apiVersion="apps/v1",
            time="T2",
        ),
        entry(
            "kube-controller-manager",
            "Update",
            {"f:status": {"f:replicas": {}}},
            apiVersion="apps/v1",
            subresource="status",
            time="T3",
        ),
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "ns",
            "labels": {"hand": "yes"},
            "managedFields": managed,
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]},
            },
        },
        "status": {"replicas": 3},
    }


DESIRED_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        },
    },
}


def test_fields_git_sets_are_taken_from_every_kubectl_entry_and_controllers_are_left() -> None:
    live = deployment_live()
    before = copy.deepcopy(live)
    takeover = plan_takeover(live, DESIRED_DEPLOYMENT, drifted=["/spec/replicas"])
    assert live == before  # pure: the input is not modified
    assert takeover is not None
    by_manager = {e["manager"]: e for e in takeover.managed_fields}
    assert set(by_manager) == {"tether", "kubectl-label", "kube-controller-manager"}
    ours = by_manager["tether"]
    assert ours["operation"] == "Apply" and "subresource" not in ours
    spec = ours["fieldsV1"]["f:spec"]
    assert "f:replicas" in spec  # folded in from the scale subresource
    assert spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"app"}'] == {
        ".": {},
        "f:name": {},
        "f:image": {},
    }
    # The hand-added label is not in Git and the compare did not flag it: kept.
    assert by_manager["kubectl-label"] == before["metadata"]["managedFields"][2]
    assert by_manager["kube-controller-manager"] == before["metadata"]["managedFields"][4]
    assert describe_takeover(takeover) == (
        "kubectl: /spec/replicas; kubectl-set: /spec/template/spec/containers/0/image"
    )


def test_a_protected_field_stays_with_its_writer_and_the_rest_of_its_entry_moves() -> None:
    live = configmap(
        {"a": "1", "added": "x", "rotated": "r"},
        [
            entry("tether", "Apply", {"f:data": {"f:a": {}}}),
            entry("kubectl-edit", "Update", {"f:data": {"f:added": {}, "f:rotated": {}}}),
        ],
    )
    takeover = plan_takeover(
        live,
        DESIRED_CM,
        drifted=["/data/added", "/data/rotated"],
        protected=[("data", "rotated")],
    )
    assert takeover is not None
    by_manager = {e["manager"]: e["fieldsV1"] for e in takeover.managed_fields}
    assert by_manager == {
        "tether": {"f:data": {"f:a": {}, "f:added": {}}},
        "kubectl-edit": {"f:data": {"f:rotated": {}}},
    }


def test_a_protected_ancestor_keeps_everything_under_it() -> None:
    live = configmap(
        {"a": "1", "added": "x"},
        [entry("kubectl-edit", "Update", {"f:data": {"f:a": {}, "f:added": {}}})],
    )
    assert plan_takeover(live, DESIRED_CM, drifted=["/data"], protected=[("data",)]) is None


def test_an_added_list_item_is_taken_whole() -> None:
    live = deployment_live()
    live["spec"]["template"]["spec"]["containers"].append({"name": "debug", "image": "busybox"})
    live["metadata"]["managedFields"] = [
        live["metadata"]["managedFields"][0],
        entry(
            "kubectl-edit",
            "Update",
            {
                "f:spec": {
                    "f:template": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"debug"}': {".": {}, "f:image": {}, "f:name": {}}
                            }
                        }
                    }
                }
            },
            apiVersion="apps/v1",
        ),
    ]
    takeover = plan_takeover(live, DESIRED_DEPLOYMENT, drifted=["/spec/template/spec/containers/1"])
    assert takeover is not None
    assert [e["manager"] for e in takeover.managed_fields] == ["tether"]
    containers = takeover.managed_fields[0]["fieldsV1"]["f:spec"]["f:template"]["f:spec"][
        "f:containers"
    ]
    assert containers['k:{"name":"debug"}'] == {".": {}, "f:image": {}, "f:name": {}}


def test_entries_of_another_api_version_are_not_merged() -> None:
    live = configmap(
        {"a": "1", "added": "x"},
        [
            entry("tether", "Apply", {"f:data": {"f:a": {}}}),
            entry("kubectl-edit", "Update", {"f:data": {"f:added": {}}}, apiVersion="v2"),
        ],
    )
    assert plan_takeover(live, DESIRED_CM, drifted=["/data/added"]) is None


def test_ignore_rules_protect_their_fields() -> None:
    live = configmap(
        {"a": "1", "added": "x", "kept": "k"},
        [
            entry("tether", "Apply", {"f:data": {"f:a": {}}}),
            entry("kubectl-edit", "Update", {"f:data": {"f:added": {}, "f:kept": {}}}),
        ],
    )
    specs = [{"kind": "ConfigMap", "jsonPointers": ["/data/kept"]}]
    takeover = takeover_for(live, DESIRED_CM, ["/data/added"], specs)
    assert takeover is not None
    assert describe_takeover(takeover) == "kubectl-edit: /data/added"
    # A rule for another kind protects nothing here; a manager rule protects all it owns.
    assert takeover_for(live, DESIRED_CM, ["/data/added"], [{"kind": "Secret"}]) is not None
    by_manager = [{"kind": "*", "managedFieldsManagers": ["kubectl-edit"]}]
    assert takeover_for(live, DESIRED_CM, ["/data/added"], by_manager) is None
