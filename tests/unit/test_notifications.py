"""Notifications without a cluster: Provider/Alert specs (clear errors), what each
message says, the receivers' body shapes (the generic one against its documented JSON
schema), dedupe and the rate limit, grouping one incident, and which state changes the
controller announces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.apps import application
from tests.support.manifests import configmap
from tether.controller.notifications import changed_objects, state_events, states_of, sync_event
from tether.core.diff import compare_app
from tether.core.notify_event import ChangedObject, DriftedObject, NotificationEvent, merge_drift
from tether.core.notify_formats import alertmanager, discord, generic, msteams, slack
from tether.core.notify_policy import Dedupe, RateLimit
from tether.errors import InputError
from tether.model.application import Application, ApplicationStatus
from tether.model.keys import ResourceKey
from tether.model.notification import Severity, Trigger, parse_alert, parse_provider

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "notification-v1.schema.json"


def provider(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "tether-system", "name": "hook"}, "spec": spec}


def alert(**spec: Any) -> dict[str, Any]:
    base = {"providerRef": {"name": "hook"}, "triggers": ["drift-detected"]}
    return {"metadata": {"namespace": "tether-system", "name": "ops"}, "spec": base | spec}


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"type": "pager"}, "is not one of"),
        ({"type": "slack", "address": "https://user:pw@hooks.example/x"}, "holds credentials"),
        ({"type": "slack", "address": "ftp://hooks.example/x"}, "http(s) URL"),
        ({"type": "slack"}, "give spec.secretRef"),
        ({"type": "generic-hmac", "address": "https://h.example/"}, "needs spec.secretRef"),
        ({"type": "generic", "address": "https://h.example/", "timeout": "5 minutes"}, "duration"),
        ({"type": "generic", "address": "https://h.example/", "timeout": "2m"}, "at most 60s"),
        ({"type": "generic", "address": "https://h.example/", "proxy": "http://p:3128"}, "proxy"),
    ],
)
def test_a_bad_provider_is_one_line_naming_it(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(InputError, match="Provider tether-system/hook") as raised:
        parse_provider(provider(**spec))
    assert error in raised.value.message
    assert "pw@" not in raised.value.message


def test_a_provider_and_an_alert_as_written() -> None:
    parsed = parse_provider(provider(type="slack", secretRef={"name": "s"}, timeout="5s"))
    assert (parsed.type, parsed.secret_ref, parsed.timeout) == ("slack", parsed.secret_ref, 5.0)
    found = parse_alert(
        alert(
            triggers=["drift-detected", "health-degraded"],
            severity="warning",
            applications={"names": ["web"], "matchLabels": {"team": "shop"}},
            **{"for": {"health-degraded": "1m30s"}},
        )
    )
    assert found.triggers == {Trigger.DRIFT_DETECTED, Trigger.HEALTH_DEGRADED}
    assert found.health_degraded_for == 90.0 and found.out_of_sync_for == 300.0
    assert found.applications.selects("web", {"team": "shop"})
    assert not found.applications.selects("web", {"team": "ops"})
    assert not found.applications.selects("api", {"team": "shop"})
    # The severity threshold: a warning Alert takes warnings and worse, not info.
    assert found.wants(Trigger.DRIFT_DETECTED, Severity.CRITICAL)
    assert not found.wants(Trigger.DRIFT_DETECTED, Severity.INFO)
    assert not found.wants(Trigger.SYNC_SUCCEEDED, Severity.CRITICAL)  # not a trigger of it


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"triggers": []}, "at least one"),
        ({"triggers": ["deployed"]}, "unknown trigger 'deployed'"),
        ({"severity": "page"}, "info, warning or critical"),
        ({"exclusionList": ["x" * 300]}, "at most 256 characters"),
        ({"rateLimit": 0}, "1..1000"),
        ({"for": {"out-of-sync": 5}}, "duration"),
        ({"providerRef": {}}, "providerRef.name"),
    ],
)
def test_a_bad_alert_is_one_line_naming_it(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(InputError, match="Alert tether-system/ops") as raised:
        parse_alert(alert(**spec))
    assert error in raised.value.message


def drift(name: str, *paths: str) -> NotificationEvent:
    return NotificationEvent(
        trigger=Trigger.DRIFT_DETECTED,
        namespace="shop",
        app="web",
        message=f"ConfigMap shop/{name}: changed",
        drift=(DriftedObject("ConfigMap", "shop", name, paths, "kubectl-edit", "manual-edit", ""),),
    )


EVENT = NotificationEvent(
    trigger=Trigger.SYNC_SUCCEEDED,
    namespace="shop",
    app="web",
    message="synced 1 objects",
    cluster="https://10.0.0.1:6443",
    revision="c" * 40,
    commit_subject="raise replicas <b>now</b>",
    commit_author="Ada",
    initiated_by="controller/auto-sync",
    changed=(ChangedObject("configured", "Deployment", "shop", "web"),),
    dashboard_url="https://tether.example/ui/apps/shop/web",
    at="2026-12-02T10:00:00Z",
)


def test_the_generic_body_follows_its_documented_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    for event in (EVENT, drift("a", "/data/x"), merge_drift([drift("a", "/x"), drift("b", "/y")])):
        jsonschema.validate(generic(event), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**generic(EVENT), "trigger": "deployed"}, schema)


def test_each_format_carries_the_commit_the_objects_and_the_link() -> None:
    text = json.dumps(slack(EVENT, "#ops"))
    assert "raise replicas <b>now</b>" in text and "configured Deployment shop/web" in text
    assert slack(EVENT, "#ops")["channel"] == "#ops"
    card = msteams(EVENT)["attachments"][0]["content"]
    assert card["actions"][0]["url"] == EVENT.dashboard_url
    assert {"title": "Triggered by", "value": "controller/auto-sync"} in card["body"][2]["facts"]
    embed = discord(EVENT)["embeds"][0]
    assert embed["url"] == EVENT.dashboard_url and embed["timestamp"] == EVENT.at
    # Alertmanager: a recovery ends the alert of the trigger it clears.
    recovered = NotificationEvent(
        trigger=Trigger.RECOVERED,
        namespace="shop",
        app="web",
        message="health-degraded no longer applies",
        recovers=Trigger.HEALTH_DEGRADED,
        at="2026-12-02T10:05:00Z",
    )
    (ended,) = alertmanager(recovered)
    assert ended["labels"]["alertname"] == "TetherHealthDegraded"
    assert ended["endsAt"] == "2026-12-02T10:05:00Z"


def test_long_texts_are_cut_to_what_each_service_takes() -> None:
    many = NotificationEvent(
        trigger=Trigger.SYNC_SUCCEEDED,
        namespace="shop",
        app="web",
        message="x" * 10_000,
        changed=tuple(ChangedObject("created", "ConfigMap", "shop", f"c{n}") for n in range(500)),
    )
    assert len(slack(many)["blocks"][1]["text"]["text"]) <= 3000
    assert len(discord(many)["embeds"][0]["description"]) <= 4096
    assert "and 480 more" in msteams(many)["attachments"][0]["content"]["body"][1]["text"]
    assert len(generic(many)["objects"]) == 500  # the JSON carries them all


def test_one_incident_of_three_objects_is_one_message() -> None:
    merged = merge_drift([drift("a", "/data/x"), drift("b", "/data/y"), drift("a", "/data/z")])
    assert [(d.name, d.paths) for d in merged.drift] == [
        ("a", ("/data/x", "/data/z")),
        ("b", ("/data/y",)),
    ]
    assert merged.message == "2 objects of shop/web changed by kubectl-edit"


def test_dedupe_sends_a_key_once_per_window_and_a_recovery_rearms_it() -> None:
    dedupe = Dedupe(window=600)
    key = ("ops", "shop", "web", Trigger.HEALTH_DEGRADED, "sha")
    assert dedupe.first(key, 0.0)
    assert not dedupe.first(key, 100.0)
    assert dedupe.first(key, 700.0)  # the window passed
    assert not dedupe.first(key, 701.0)
    dedupe.forget(("ops", "shop", "web", Trigger.HEALTH_DEGRADED))
    assert dedupe.first(key, 702.0)


def test_the_rate_limit_counts_what_it_holds_back_and_sums_it_up_once() -> None:
    rate = RateLimit(limit=3, window=60)
    assert [rate.take(t) for t in (0, 1, 2, 3, 4)] == [True, True, True, False, False]
    assert rate.summary_due(30) == 0  # no room yet
    assert not rate.take(40)  # while a summary is owed, nothing jumps the queue
    assert rate.summary_due(61) == 3
    assert rate.summary_due(62) == 0
    assert rate.take(63)


def test_a_sync_names_only_the_objects_it_changed() -> None:
    desired = [
        configmap("a", {"k": "1"}, namespace="shop"),
        configmap("b", {"k": "2"}, namespace="shop"),
        configmap("new", {}, namespace="shop"),
    ]
    live = {
        ResourceKey.of(desired[0]): desired[0],
        ResourceKey.of(desired[1]): configmap("b", {"k": "old"}, namespace="shop"),
        ResourceKey("", "ConfigMap", "shop", "gone"): configmap("gone", {}, namespace="shop"),
    }
    diff = compare_app(desired, live)
    pruned = [ResourceKey("", "ConfigMap", "shop", "gone")]
    assert [(c.action, c.name) for c in changed_objects(diff, pruned)] == [
        ("configured", "b"),
        ("pruned", "gone"),
        ("created", "new"),
    ]
    # Not pruned (no prune): an extraneous object is not "changed".
    assert "gone" not in {c.name for c in changed_objects(diff, [])}


def app_with(status: dict[str, Any]) -> Application:
    raw = application("web", "shop", "https://git.example/r.git", "web").to_dict()
    raw["status"] = status
    return Application.from_dict(raw)


def test_states_are_announced_when_they_begin_and_end_and_not_at_first_sight() -> None:
    glass = {
        "sync": {"status": "Synced"},
        "health": {"status": "Degraded", "message": "Deployment shop/web: 0 of 2 ready"},
        "conditions": [{"type": "BreakGlass", "status": "True", "message": "rolled back"}],
    }
    app = app_with(glass)
    assert app.status is not None
    first, silent = state_events(app, None, app.status, "https://k8s")
    assert silent == [] and set(first) == {Trigger.BREAK_GLASS, Trigger.HEALTH_DEGRADED}
    healthy = app_with({"sync": {"status": "Synced"}, "health": {"status": "Healthy"}})
    assert healthy.status is not None
    now, events = state_events(healthy, first, healthy.status, "https://k8s")
    assert now == {}
    assert sorted((e.trigger.value, e.recovers.value if e.recovers else "") for e in events) == [
        ("recovered", "break-glass"),
        ("recovered", "health-degraded"),
    ]
    _, again = state_events(app, now, app.status, "https://k8s")
    assert {e.trigger for e in again} == {Trigger.BREAK_GLASS, Trigger.HEALTH_DEGRADED}
    assert states_of(ApplicationStatus()) == {}


def test_a_failed_self_heal_is_a_failed_sync_and_self_heal_failing_comes_from_the_condition() -> (
    None
):
    app = app_with({"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}})
    common: dict[str, Any] = {
        "message": "m",
        "revision": "r",
        "initiated_by": "controller/self-heal",
        "diff": None,
        "pruned": (),
        "findings": (),
        "cluster": "",
    }
    assert sync_event(app, succeeded=False, self_heal=True, **common).trigger is Trigger.SYNC_FAILED
    assert sync_event(app, succeeded=True, self_heal=True, **common).trigger is Trigger.SELF_HEAL
    failing = app_with(
        {
            "sync": {"status": "Synced"},
            "health": {"status": "Healthy"},
            "conditions": [{"type": "SelfHealFailing", "status": "True", "message": "undone"}],
        }
    )
    assert failing.status is not None
    assert Trigger.SELF_HEAL_FAILING in states_of(failing.status)
