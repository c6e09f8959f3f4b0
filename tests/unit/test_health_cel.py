"""CEL health rules: Flux `healthCheckExprs` semantics, the rule formats (ConfigMap and
`spec.healthChecks`), errors with their path, and bounded evaluation in the sandbox."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tether.core.health import (
    CelHealthExpressions,
    CustomHealthRule,
    HealthStatus,
    ResourceHealth,
    assess_health,
    matching_rule,
    parse_health_rules,
)
from tether.errors import InputError
from tether.model.application import ApplicationSpec
from tether.render import load_untrusted_yaml
from tether.sandbox import EvaluationLimits, EvaluationTimeout, Evaluator

H = HealthStatus

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "prod", "generation": 2},
    "spec": {"size": 3},
    "status": {"observedGeneration": 2, "phase": "Running", "readyReplicas": 1},
}

RULE = {
    "group": "example.com",
    "kind": "Widget",
    "cel": {
        "current": "status.phase == 'Running' && status.readyReplicas == spec.size",
        "inProgress": "status.phase == 'Running' && status.readyReplicas < spec.size",
        "failed": "status.phase == 'Failed'",
    },
}


def widget(**status: Any) -> dict[str, Any]:
    obj = copy.deepcopy(WIDGET)
    obj["status"].update(status)
    return obj


def health_of(obj: dict[str, Any], *rules: dict[str, Any]) -> ResourceHealth:
    health = assess_health(obj, parse_health_rules(list(rules or [RULE])))
    assert health is not None
    return health


def test_each_expression_gives_its_status() -> None:
    assert health_of(widget(readyReplicas=3)) == ResourceHealth(H.HEALTHY)
    progressing = health_of(widget())
    assert progressing.status is H.PROGRESSING
    assert progressing.message == (
        "custom health rule for Widget.example.com: inProgress expression is true"
    )
    failed = health_of(
        widget(
            phase="Failed",
            conditions=[
                {"type": "Ready", "status": "False", "reason": "Boom", "message": "it broke"}
            ],
        )
    )
    assert failed == ResourceHealth(
        H.DEGRADED,
        "custom health rule for Widget.example.com: failed expression is true (Boom: it broke)",
    )


def test_in_progress_is_evaluated_before_failed_and_current() -> None:
    # Flux's order: inProgress, failed, current; the first true one decides.
    everything_true = {
        "kind": "Widget",
        "group": "example.com",
        "cel": {"current": "true", "failed": "true", "inProgress": "true"},
    }
    assert health_of(WIDGET, everything_true).status is H.PROGRESSING
    failed_and_current = {
        "kind": "Widget",
        "group": "example.com",
        "cel": {"current": "true", "failed": "true"},
    }
    assert health_of(WIDGET, failed_and_current).status is H.DEGRADED


def test_none_true_is_progressing() -> None:
    health = health_of(widget(phase="Pending"))
    assert health.status is H.PROGRESSING and "waiting for current" in health.message


def test_a_controller_behind_is_progressing_before_any_expression() -> None:
    health = health_of(widget(observedGeneration=1, readyReplicas=3))
    assert health == ResourceHealth(
        H.PROGRESSING, "Waiting for the controller to observe generation 2 (observed 1)"
    )
    # Argo Rollouts' string form counts too.
    assert health_of(widget(observedGeneration="2", readyReplicas=3)).status is H.HEALTHY


def test_a_field_not_written_yet_waits_and_names_it() -> None:
    obj = copy.deepcopy(WIDGET)
    del obj["status"]
    health = health_of(obj)
    assert health.status is H.PROGRESSING
    assert health.message == (
        "custom health rule for Widget.example.com: inProgress expression: "
        "undeclared reference to 'status'"
    )
    guarded = {
        "kind": "Widget",
        "group": "example.com",
        "current": "has(status.phase) && status.phase == 'Running'",
    }
    assert health_of(widget(), guarded).status is H.HEALTHY


def test_a_non_boolean_expression_is_a_broken_rule() -> None:
    health = health_of(WIDGET, {"kind": "Widget", "group": "example.com", "current": "spec.size"})
    assert health.status is H.UNKNOWN
    assert "current expression must evaluate to a bool" in health.message


def test_flux_spelling_apiversion_and_top_level_expressions() -> None:
    flux = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "current": "status.readyReplicas == spec.size",
        "failed": "status.phase == 'Failed'",
    }
    (rule,) = parse_health_rules([flux])
    assert rule.group == "example.com" and rule.language == "cel"
    assert rule.cel == CelHealthExpressions(
        current="status.readyReplicas == spec.size", failed="status.phase == 'Failed'"
    )
    assert health_of(widget(readyReplicas=3), flux).status is H.HEALTHY


def test_rules_round_trip_through_to_spec() -> None:
    (rule,) = parse_health_rules([RULE])
    spec = rule.to_spec()
    assert spec == {
        "kind": "Widget",
        "group": "example.com",
        "cel": {
            "inProgress": RULE["cel"]["inProgress"],
            "failed": RULE["cel"]["failed"],
            "current": RULE["cel"]["current"],
        },
    }
    (again,) = parse_health_rules([spec], where="worker")
    assert again == rule and hash(again) == hash(rule)


def test_a_custom_cel_rule_overrides_the_builtin_per_kind_rule() -> None:
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "tls", "generation": 1},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Issuing"}]},
    }
    assert (
        health_of(
            certificate, {"group": "cert-manager.io", "kind": "Certificate", "jq": '"Healthy"'}
        ).status
        is H.HEALTHY
    )
    strict = {
        "group": "cert-manager.io",
        "kind": "Certificate",
        "cel": {
            "current": "false",
            "failed": "status.conditions.exists(c, c.type == 'Ready' && c.status == 'False')",
        },
    }
    assert health_of(certificate, strict).status is H.DEGRADED
    # Without a custom rule the built-in one says: still issuing.
    builtin = assess_health(certificate)
    assert builtin is not None and builtin.status is H.PROGRESSING


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"kind": "W", "cel": {"current": "1 +"}}], r"^rules\[0\]\.cel\.current: invalid expr"),
        ([{"kind": "W", "current": "status.("}], r"^rules\[0\]\.current: invalid expression"),
        ([{"kind": "W", "cel": {"failed": "true"}}], r"^rules\[0\]\.cel\.current: required"),
        ([{"kind": "W", "cel": {"current": "true", "done": "x"}}], r"^rules\[0\]\.cel: unknown"),
        ([{"kind": "W", "cel": {"current": 1}}], r"^rules\[0\]\.cel\.current: must be a string"),
        ([{"kind": "W", "cel": {"current": " "}}], r"^rules\[0\]\.cel\.current: is empty"),
        ([{"kind": "W", "cel": {"current": "true"}, "current": "true"}], r"not both"),
        ([{"kind": "W", "jq": ".", "current": "true"}], r"^rules\[0\]\.jq: exactly one of"),
        ([{"kind": "W", "group": "a", "apiVersion": "a/v1", "current": "true"}], r"not both"),
        ([{"kind": "W", "cel": {"current": "x" * 5000}}], r"5000 characters long"),
    ],
)
def test_malformed_cel_rules_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_health_rules(raw, where="rules")


def test_cel_rules_in_the_configmap_format() -> None:
    text = """
- group: example.com
  kind: Widget
  cel:
    current: "status.readyReplicas == spec.size"
    failed: "status.phase == 'Failed'"
- apiVersion: example.com/v1
  kind: Gadget
  current: "true"
"""
    where = "ConfigMap prod/tether-health-rules key rules"
    rules = parse_health_rules(load_untrusted_yaml(text, where)[0], where=where)
    assert [r.describe() for r in rules] == ["Widget.example.com", "Gadget.example.com"]
    assert health_of(widget(readyReplicas=3), *[r.to_spec() for r in rules]).status is H.HEALTHY


def test_application_spec_health_checks_become_rules() -> None:
    spec = ApplicationSpec.from_dict(
        {
            "source": {"repoURL": "https://git.example.com/shop.git", "path": "."},
            "healthChecks": [
                {
                    "apiVersion": "example.com/v1",
                    "kind": "Widget",
                    "current": "status.readyReplicas == spec.size",
                },
                {"group": "argoproj.io", "kind": "Rollout", "jq": '"Healthy"'},
            ],
        }
    )
    wire = spec.to_dict()["healthChecks"]
    assert wire == [
        {
            "group": "example.com",
            "kind": "Widget",
            "cel": {"current": "status.readyReplicas == spec.size"},
        },
        {"group": "argoproj.io", "kind": "Rollout", "jq": '"Healthy"'},
    ]
    assert ApplicationSpec.from_dict(spec.to_dict()) == spec
    rules = parse_health_rules([check.to_dict() for check in spec.health_checks])
    assert [r.language for r in rules] == ["cel", "jq"]


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"kind": "Widget"}, r"spec: healthChecks\[0\] must set exactly one of 'jq' or CEL"),
        (
            {"kind": "Widget", "cel": {"failed": "x"}},
            r"spec: healthChecks\[0\]\.cel\.current is req",
        ),
        ({"kind": "Widget", "lua": "x"}, r"spec: healthChecks\[0\]\.lua is not a known field"),
        ({"current": "true"}, r"spec: healthChecks\[0\]\.kind is required"),
    ],
)
def test_application_spec_health_checks_are_validated(check: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ApplicationSpec.from_dict(
            {"source": {"repoURL": "https://git.example.com/a.git"}, "healthChecks": [check]}
        )


def test_matching_rule_finds_cel_rules_so_they_go_to_the_worker() -> None:
    rules = parse_health_rules([RULE])
    assert matching_rule(WIDGET, rules) is rules[0]
    assert isinstance(rules[0], CustomHealthRule) and rules[0].cel is not None


@pytest.fixture
async def evaluator() -> Any:
    ev = Evaluator(EvaluationLimits(timeout=4.0, memory_bytes=512 << 20, workers=1))
    try:
        yield ev
    finally:
        await ev.close()


async def test_cel_rules_are_evaluated_in_a_worker(evaluator: Evaluator) -> None:
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    healths = await evaluator.assess_health(
        [widget(readyReplicas=3), configmap], parse_health_rules([RULE]), what="app shop"
    )
    assert healths == [ResourceHealth(H.HEALTHY), None]
    assert evaluator.pool.started == 1


async def test_a_cel_rule_that_runs_too_long_is_stopped(evaluator: Evaluator) -> None:
    # Nested comprehensions: 10^5 evaluations, minutes for a pure-Python evaluator.
    items = "[" + ",".join(str(i) for i in range(10)) + "]"
    expression = "".join(f"{items}.all({v}, " for v in "abcde") + "a + b + c + d + e >= 0" + ")" * 5
    rules = parse_health_rules([{"group": "example.com", "kind": "Widget", "current": expression}])
    started = time.monotonic()
    with pytest.raises(EvaluationTimeout, match=r"app shop: custom health rules did not finish"):
        await evaluator.assess_health([WIDGET], rules, what="app shop")
    assert time.monotonic() - started < 8
    assert evaluator.pool.killed == 1
    # The next job gets a fresh worker and works.
    healths = await evaluator.assess_health(
        [widget(readyReplicas=3)], parse_health_rules([RULE]), what="app shop"
    )
    assert healths == [ResourceHealth(H.HEALTHY)]
