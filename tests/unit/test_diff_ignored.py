"""core/diff_ignored: the differences an ignoreDifferences rule hides are shown as
ignored with the rule, never as drift; without the rule the same fields are drift."""

from __future__ import annotations

from tests.support.manifests import configmap, deployment
from tether.core.diff import Verdict, compare_app, compare_object
from tether.core.diff_ignored import describe_rule, hidden_differences
from tether.core.drift_view import app_drift_views
from tether.core.ignore import IgnoreRule
from tether.model.keys import ResourceKey

REPLICAS = IgnoreRule(kind="Deployment", group="apps", json_pointers=("/spec/replicas",))


def test_a_hidden_difference_is_named_with_its_rule_and_is_not_drift() -> None:
    desired = deployment("web", namespace="shop", replicas=3)
    live = deployment("web", namespace="shop", replicas=5)
    with_rule = compare_object(desired, live, rules=[REPLICAS])
    assert with_rule.verdict is Verdict.SYNCED and with_rule.paths == []
    assert [(i.pointer, i.rule) for i in with_rule.ignored] == [
        ("/spec/replicas", describe_rule(REPLICAS))
    ]
    assert '"jsonPointers": ["/spec/replicas"]' in with_rule.ignored[0].rule
    # Without the rule the same field is drift, and nothing is "ignored".
    without = compare_object(desired, live)
    assert without.verdict is Verdict.OUT_OF_SYNC and without.paths == ["/spec/replicas"]
    assert without.ignored == []


def test_an_ignored_field_with_the_same_value_on_both_sides_is_not_listed() -> None:
    same = deployment("web", namespace="shop", replicas=3)
    assert (
        compare_object(
            same, deployment("web", namespace="shop", replicas=3), rules=[REPLICAS]
        ).ignored
        == []
    )


def test_a_field_only_one_side_has_counts_and_jq_rules_name_each_path() -> None:
    rule = IgnoreRule(kind="ConfigMap", jq_path_expressions=(".data.token", ".data.extra"))
    desired = configmap("settings", {"mode": "blue", "token": "a"}, namespace="shop")
    live = configmap("settings", {"mode": "blue", "token": "b", "extra": "x"}, namespace="shop")
    found = hidden_differences([rule], desired, live, [])
    assert [i.pointer for i in found] == ["/data/extra", "/data/token"]
    # A rule for another kind hides nothing here.
    assert hidden_differences([REPLICAS], desired, live, []) == []


def test_the_diff_page_lists_an_object_whose_only_differences_are_ignored() -> None:
    desired = deployment("web", namespace="shop", replicas=3)
    live = deployment("web", namespace="shop", replicas=5)
    key = ResourceKey.of(live)
    shown = app_drift_views(compare_app([desired], {key: live}, rules=[REPLICAS]), [])
    assert [(v.verdict, [i.pointer for i in v.ignored]) for v in shown] == [
        ("Synced", ["/spec/replicas"])
    ]
    assert shown[0].to_dict()["ignored"] == [
        {"path": "/spec/replicas", "rule": describe_rule(REPLICAS)}
    ]
    # In sync without any rule: not listed at all.
    assert app_drift_views(compare_app([desired], {key: desired}), []) == []
