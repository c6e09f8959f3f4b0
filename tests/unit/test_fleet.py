"""core/fleet: the row a person sees of each Application (CLI list and dashboard)."""

from __future__ import annotations

from tests.support.apps import application
from tether.core.fleet import app_events, app_row, badges, deploy_duration, status_message
from tether.model.application import Application

SHA = "0123456789abcdef0123456789abcdef01234567"


def app(status: dict[str, object] | None = None, **spec: object) -> Application:
    manifest = application("web", "apps", "https://git.example/r.git", "web", **spec).to_dict()
    manifest["metadata"]["labels"] = {"team": "shop"}
    if status is not None:
        manifest["status"] = status
    return Application.from_dict(manifest)


def test_a_never_compared_app_is_unknown_with_no_badges() -> None:
    row = app_row(app())
    assert (row.sync, row.health, row.drift, row.badges, row.revision) == (
        "Unknown",
        "Unknown",
        0,
        (),
        "",
    )
    assert row.last_sync == "" and row.message == ""


def test_drift_counts_objects_out_of_sync_and_the_message_names_the_worst_condition() -> None:
    status = {
        "sync": {"status": "OutOfSync", "revision": SHA},
        "health": {"status": "Degraded", "message": "Deployment apps/web is Degraded"},
        "resources": [
            {"kind": "ConfigMap", "name": "a", "namespace": "apps", "status": "OutOfSync"},
            {"kind": "ConfigMap", "name": "b", "namespace": "apps", "status": "Synced"},
            {
                "kind": "Secret",
                "name": "c",
                "namespace": "apps",
                "status": "OutOfSync",
                "drift": ["/data/x"],
            },
        ],
        "conditions": [
            {"type": "SharedResource", "status": "True", "message": "shared"},
            {"type": "SyncError", "status": "True", "message": "sync refused"},
        ],
        "operationState": {
            "phase": "Failed",
            "message": "wave 1 failed",
            "startedAt": "2026-12-02T00:00:00Z",
        },
    }
    row = app_row(app(status))
    assert row.drift == 2 and row.revision == SHA[:8]
    assert row.message == "sync refused"  # SyncError outranks SharedResource
    assert (row.last_sync, row.last_sync_message) == ("Failed", "wave 1 failed")
    # Without conditions, a non-Healthy health message is what shows.
    assert status_message(app({**status, "conditions": []}).status) == (  # type: ignore[arg-type]
        "Deployment apps/web is Degraded"
    )


def test_badges_follow_the_policy_and_the_status() -> None:
    assert badges(app()) == ()
    automated = app(
        {
            "breakGlass": {"active": True},
            "conditions": [{"type": "HistoryRewritten", "status": "True"}],
        },
        syncPolicy={"automated": {"selfHeal": True}},
        suspend=True,
    )
    assert badges(automated) == (
        "auto-sync",
        "self-heal",
        "suspended",
        "break-glass",
        "history-rewritten",
    )


def test_the_text_filter_matches_name_namespace_message_and_labels() -> None:
    row = app_row(app())
    assert row.matches("WEB") and row.matches("apps") and row.matches("team=shop")
    assert not row.matches("team=other")


def test_events_are_those_of_the_app_and_its_objects_newest_first() -> None:
    status = {"resources": [{"kind": "ConfigMap", "name": "a", "namespace": "shop"}]}

    def event(kind: str, namespace: str, name: str, when: str, message: str = "m") -> dict:
        return {
            "involvedObject": {"kind": kind, "namespace": namespace, "name": name},
            "type": "Warning",
            "reason": "R",
            "message": message,
            "lastTimestamp": when,
        }

    events = [
        event("ConfigMap", "shop", "a", "2026-12-02T10:00:00Z"),
        event("ConfigMap", "shop", "other", "2026-12-02T11:00:00Z"),  # not the app's
        event("Application", "apps", "web", "2026-12-02T12:00:00Z", "fetch https://u:t@h/r"),
        event("Application", "apps", "api", "2026-12-02T13:00:00Z"),  # another app
    ]
    rows = app_events(app(status), events)
    assert [(r.object, r.time) for r in rows] == [
        ("Application/web", "2026-12-02T12:00:00Z"),
        ("ConfigMap/a", "2026-12-02T10:00:00Z"),
    ]
    assert "u:t@" not in rows[0].message and rows[0].count == 1


def test_a_deployment_duration_reads_in_seconds_minutes_or_hours() -> None:
    start = "2026-12-01T10:00:00Z"
    assert deploy_duration(start, "2026-12-01T10:00:04.25Z") == "4.2 s"
    assert deploy_duration(start, "2026-12-01T10:00:42Z") == "42 s"
    assert deploy_duration(start, "2026-12-01T10:03:10Z") == "3 m 10 s"
    assert deploy_duration(start, "2026-12-01T12:05:00Z") == "2 h 5 m"
    # Unknown start, unreadable or backwards times: nothing rather than a wrong number.
    assert deploy_duration(None, start) == ""
    assert deploy_duration("yesterday", start) == ""
    assert deploy_duration("2026-12-01T10:00:05Z", start) == ""
