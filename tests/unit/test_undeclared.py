"""Undeclared manual edits: a field a person's tool wrote that Git does not declare is
found (and attributed), stays out of the sync status unless StrictManualEdits asks for it,
and is never a controller's or autoscaler's write."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.core.diff import AppDiff, Verdict, compare_object
from tether.core.drift import explain_object
from tether.core.drift_findings import DriftCause
from tether.core.ignore import parse_ignore_rules
from tether.core.status import resource_statuses
from tether.core.undeclared import manual_edit_paths, strict_in_annotations
from tether.model.keys import ResourceKey

EDIT_TIME = "2026-12-02T01:40:00Z"


def entry(manager: str, fields: dict[str, Any], operation: str = "Update") -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "x.dev/v1",
        "time": EDIT_TIME,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }


TETHER = entry("tether", {"f:spec": {"f:colour": {}}}, operation="Apply")
SIZE_FIELDS = {"f:spec": {"f:size": {}}}


def widget(**spec: Any) -> dict[str, Any]:
    """A custom resource whose CRD defaults spec.size (1); Git sets only spec.colour."""
    return {
        "apiVersion": "x.dev/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "shop"},
        "spec": {"colour": "blue", **spec},
    }


def live_widget(*entries: dict[str, Any], size: int = 3) -> dict[str, Any]:
    live = widget(size=size)
    live["metadata"]["managedFields"] = [TETHER, *entries]
    return live


def compared(live: dict[str, Any], desired: dict[str, Any] | None = None, **options: Any) -> Any:
    desired = desired or widget()
    # A forced server-side apply sets what Git declares and leaves the others' fields.
    predicted = copy.deepcopy(live)
    predicted["metadata"].pop("managedFields")
    predicted["spec"].update(copy.deepcopy(desired["spec"]))
    return compare_object(desired, live, predicted=predicted, **options)


def test_a_kubectl_patch_of_a_defaulted_field_is_found_and_stays_synced() -> None:
    diff = compared(live_widget(entry("kubectl-patch", SIZE_FIELDS)))
    assert diff.verdict is Verdict.SYNCED and diff.paths == []
    assert diff.manual_edits == ["/spec/size"]
    # With the app's option it is drift: OutOfSync on that path.
    strict = compared(live_widget(entry("kubectl-patch", SIZE_FIELDS)), strict_manual_edits=True)
    assert strict.verdict is Verdict.OUT_OF_SYNC and strict.paths == ["/spec/size"]
    assert strict.manual_edits == ["/spec/size"]


def test_the_manifest_can_opt_in_by_annotation() -> None:
    desired = widget()
    desired["metadata"]["annotations"] = {"tether.dev/compare-options": "StrictManualEdits=true"}
    live = live_widget(entry("kubectl-patch", SIZE_FIELDS))
    live["metadata"]["annotations"] = dict(desired["metadata"]["annotations"])
    assert compared(live, desired).verdict is Verdict.OUT_OF_SYNC
    assert compared(live, widget() | {"metadata": live["metadata"] | {"annotations": {}}}).in_sync


@pytest.mark.parametrize(
    "manager",
    [
        "widget-operator",
        "horizontal-pod-autoscaler",
        "kube-controller-manager",
        "before-first-apply",
    ],
)
def test_controllers_and_autoscalers_are_never_manual_edits(manager: str) -> None:
    assert compared(live_widget(entry(manager, SIZE_FIELDS))).manual_edits == []
    assert compared(live_widget(entry("kubectl-edit", SIZE_FIELDS))).manual_edits == ["/spec/size"]


def test_a_dashboard_is_a_person() -> None:
    assert compared(live_widget(entry("Mozilla", SIZE_FIELDS))).manual_edits == ["/spec/size"]


def test_a_status_write_by_kubectl_is_not_a_manual_edit_of_what_runs() -> None:
    status = entry("kubectl-patch", SIZE_FIELDS) | {"subresource": "status"}
    assert compared(live_widget(status)).manual_edits == []


def test_a_declared_field_changed_by_hand_is_ordinary_drift_not_undeclared() -> None:
    live = live_widget(entry("kubectl-edit", {"f:spec": {"f:colour": {}}}), size=1)
    live["spec"]["colour"] = "red"
    diff = compared(live)
    assert diff.paths == ["/spec/colour"] and diff.manual_edits == []


def test_an_added_env_var_is_one_edit_at_its_list_item() -> None:
    def deployment(env: list[dict[str, str]] | None) -> dict[str, Any]:
        container: dict[str, Any] = {"name": "web", "image": "nginx:1.27"}
        if env is not None:
            container["env"] = env
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [container]}}},
        }

    desired = deployment([{"name": "MODE", "value": "prod"}])
    live = deployment([{"name": "MODE", "value": "prod"}, {"name": "DEBUG", "value": "1"}])
    added = {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}}
    fields = {
        "f:spec": {
            "f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {"f:env": added}}}}
        }
    }
    live["metadata"]["managedFields"] = [entry("kubectl-edit", fields)]
    assert manual_edit_paths(desired, live, live["metadata"]["managedFields"]) == [
        ("spec", "template", "spec", "containers", 0, "env", 1)
    ]


def test_an_ignore_rule_hides_it_and_without_the_rule_it_is_found() -> None:
    live = live_widget(entry("kubectl-patch", SIZE_FIELDS))
    rules = parse_ignore_rules(
        [{"group": "x.dev", "kind": "Widget", "jsonPointers": ["/spec/size"]}]
    )
    assert compared(live, rules=rules, strict_manual_edits=True).manual_edits == []
    assert compared(live, rules=rules, strict_manual_edits=True).in_sync
    assert compared(live, strict_manual_edits=True).manual_edits == ["/spec/size"]


def test_kubectl_bookkeeping_is_not_an_edit() -> None:
    live = live_widget(size=1)
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    csa = {
        "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}
    }
    assert compared(live_widget(entry("kubectl-client-side-apply", csa), size=1)).manual_edits == []
    live["metadata"]["managedFields"].append(entry("kubectl-client-side-apply", csa))
    assert compared(live).manual_edits == []


def test_attributed_with_writer_and_time_and_listed_as_drift_while_synced() -> None:
    live = live_widget(entry("kubectl-patch", SIZE_FIELDS))
    diff = compared(live)
    [finding] = explain_object(diff, desired=widget(), live=live, predicted=None)
    assert finding.cause is DriftCause.UNDECLARED_MANUAL_EDIT
    assert finding.path == "/spec/size"
    assert finding.writer is not None and finding.writer.manager == "kubectl-patch"
    assert finding.when == EDIT_TIME
    assert any("StrictManualEdits=true" in line for line in finding.evidence)
    key = ResourceKey.of(live)
    [row] = resource_statuses(
        AppDiff(Verdict.SYNCED, [diff]), {key: None}, {}, {key: ("undeclared-manual-edit", None)}
    )
    assert row.status.value == "Synced" and row.drift == ("/spec/size",)
    assert row.drift_cause == "undeclared-manual-edit"


@pytest.mark.parametrize(
    ("annotations", "strict"),
    [
        ({"tether.dev/compare-options": "StrictManualEdits=true"}, True),
        ({"argocd.argoproj.io/compare-options": "IgnoreExtraneous,StrictManualEdits"}, True),
        ({"tether.dev/compare-options": "StrictManualEdits=false"}, False),
        ({"tether.dev/compare-options": "IgnoreExtraneous"}, False),
        ({}, False),
    ],
)
def test_the_option_is_read_from_compare_options(annotations: dict[str, str], strict: bool) -> None:
    assert strict_in_annotations(annotations) is strict


def test_a_field_the_diff_already_flags_is_ordinary_drift_not_undeclared() -> None:
    # A ConfigMap's data is compared key by key: a key added by hand is drift already.
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    live = copy.deepcopy(desired)
    live["data"]["added"] = "x"
    live["metadata"]["managedFields"] = [entry("kubectl-edit", {"f:data": {"f:added": {}}})]
    predicted = copy.deepcopy(live)
    predicted["metadata"].pop("managedFields")
    diff = compare_object(desired, live, predicted=predicted)
    assert diff.paths == ["/data/added"] and diff.manual_edits == []
    # The finder alone sees it; compare_object leaves it to the diff.
    assert manual_edit_paths(desired, live, live["metadata"]["managedFields"]) == [
        ("data", "added")
    ]
