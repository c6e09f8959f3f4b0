"""Self-heal that cannot help is not repeated: drift a heal left as it was, and drift of a
non-deterministic render (core.autosync); the second render's evidence (core.determinism)."""

from __future__ import annotations

from typing import Any

from tether.core.autosync import (
    HEAL_BLOCKED_NON_DETERMINISTIC,
    HEAL_BLOCKED_NOT_REPAIRABLE,
    Action,
    SelfHealMemory,
    decide,
    drifted_objects,
    unrepaired_drift,
)
from tether.core.determinism import self_written_drift, unstable_paths
from tether.core.diff import ObjectDiff, Verdict
from tether.core.drift import explain_object
from tether.core.drift_findings import DriftCause
from tether.core.status import empty_render_note, empty_render_warning
from tether.model.application import (
    API_VERSION,
    Application,
    ApplicationStatus,
    Condition,
    ConditionStatus,
    HistoryEntry,
    OperationPhase,
    OperationState,
    ResourceStatus,
    SyncStatus,
    SyncStatusCode,
)
from tether.model.keys import ResourceKey

HEAD = "c" * 40
CM = "ConfigMap ns/settings"


def app() -> Application:
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether-system"},
            "spec": {
                "source": {"repoURL": "file:///r.git"},
                "syncPolicy": {"automated": {"selfHeal": True}},
            },
        }
    )


def drifted(*resources: ResourceStatus) -> ApplicationStatus:
    return ApplicationStatus(
        sync=SyncStatus(SyncStatusCode.OUT_OF_SYNC, HEAD),
        operation_state=OperationState(OperationPhase.SUCCEEDED, HEAD, "t", "t", "ok", "x"),
        history=(HistoryEntry(1, HEAD, "t"),),
        resources=resources,
    )


def resource(
    name: str, *paths: str, cause: str = "controller-write", **extra: Any
) -> ResourceStatus:
    return ResourceStatus(
        kind="ConfigMap",
        name=name,
        namespace="ns",
        version="v1",
        status=SyncStatusCode.OUT_OF_SYNC,
        drift=paths,
        drift_cause=cause,
        **extra,
    )


def run(status: ApplicationStatus, memory: SelfHealMemory) -> Any:
    return decide(app(), compared=status, dependencies={}, memory=memory, now=100.0)


def test_drift_a_heal_left_as_it_was_is_not_healed_again_until_it_changes() -> None:
    status = drifted(resource("settings", "/data/extra"))
    assert drifted_objects(status) == {CM: frozenset({"/data/extra"})}
    memory = SelfHealMemory(attempts=1, last_at=99.0)
    assert run(status, memory).action is Action.SELF_HEAL

    memory.unrepairable = unrepaired_drift(
        drifted_objects(status),
        {CM: frozenset({"/data/extra"}), "ConfigMap ns/b": frozenset({"/x"})},
    )
    assert memory.unrepairable == {CM: frozenset({"/data/extra"})}
    memory.unrepairable_revision = HEAD
    memory.unrepairable_message = "ConfigMap ns/settings: /data/extra still differ"
    decision = run(status, memory)
    assert decision.action is Action.NONE
    assert decision.heal_blocked == HEAL_BLOCKED_NOT_REPAIRABLE
    assert "ConfigMap ns/settings: /data/extra" in decision.reason

    # New drift (another path) is healed; so is the same drift of another revision.
    more = drifted(resource("settings", "/data/extra", "/data/a"))
    assert run(more, memory).action is Action.SELF_HEAL
    memory.unrepairable_revision = "d" * 40
    assert run(status, memory).action is Action.SELF_HEAL
    memory.forget_unrepairable()
    assert memory.unrepairable == {} and memory.unrepairable_revision is None


def test_objects_to_create_or_prune_are_not_drift_a_heal_leaves() -> None:
    missing = resource("gone", "(missing: needs create)")
    assert drifted_objects(drifted(missing)) == {}
    assert unrepaired_drift({CM: frozenset({"/a"})}, {CM: frozenset({"/b"})}) == {}


def test_drift_of_a_non_deterministic_render_is_never_self_healed() -> None:
    secret = resource("pw", "/data/password", cause="non-deterministic-render")
    decision = run(drifted(secret), SelfHealMemory())
    assert decision.action is Action.NONE
    assert decision.heal_blocked == HEAL_BLOCKED_NON_DETERMINISTIC
    assert "ConfigMap ns/pw" in decision.reason and "every render" in decision.reason
    # Real drift beside it is healed (the sync applies the cached render: no rotation loop).
    edited = resource("settings", "/data/a", cause="manual-edit")
    assert run(drifted(secret, edited), SelfHealMemory()).action is Action.SELF_HEAL


def test_a_new_revision_is_still_auto_synced() -> None:
    secret = resource("pw", "/data/password", cause="non-deterministic-render")
    status = drifted(secret)
    status = ApplicationStatus(
        sync=SyncStatus(SyncStatusCode.OUT_OF_SYNC, "e" * 40),
        operation_state=status.operation_state,
        resources=status.resources,
    )
    assert run(status, SelfHealMemory()).action is Action.AUTO_SYNC


SECRET_KEY = ResourceKey("", "Secret", "ns", "pw")


def secret(value: str, *, string_data: bool = False) -> dict[str, Any]:
    body = {"stringData": {"password": value}} if string_data else {"data": {"password": value}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw"}, **body}


def test_unstable_paths_compare_two_renders_normalized() -> None:
    wanted = {SECRET_KEY: ["/data/password", "/data/other"]}
    first = [secret("aaaa", string_data=True)]
    assert unstable_paths(first, [secret("bbbb", string_data=True)], wanted) == {
        SECRET_KEY: frozenset({"/data/password"})
    }
    assert unstable_paths(first, [secret("aaaa", string_data=True)], wanted) == {}
    assert unstable_paths(first, [], wanted) == {}  # not rendered the second time


def test_tether_written_drift_on_an_unstable_path_is_non_deterministic_render() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "pw",
            "namespace": "ns",
            "managedFields": [
                {
                    "manager": "tether",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {"f:password": {}}},
                    "time": "2026-01-01T00:00:00Z",
                }
            ],
        },
        "data": {"password": "YQ=="},
    }
    diff = ObjectDiff(SECRET_KEY, Verdict.OUT_OF_SYNC, ["/data/password"])
    plain = explain_object(diff, desired=secret("Yg=="), live=live, predicted=None)
    assert plain[0].cause is DriftCause.UNKNOWN
    assert self_written_drift(plain) == {SECRET_KEY: ["/data/password"]}
    found = explain_object(
        diff, desired=secret("Yg=="), live=live, predicted=None, unstable={"/data/password"}
    )
    assert found[0].cause is DriftCause.NON_DETERMINISTIC_RENDER
    assert any("existingSecret" in line for line in found[0].evidence)
    assert self_written_drift(found) == {}


def test_empty_render_warning_and_sync_note() -> None:
    assert empty_render_warning("apps/x", HEAD, objects=0, shared=0) == (
        f"render of apps/x at {HEAD[:8]} produced no objects"
    )
    assert empty_render_warning("apps/x", None, objects=2, shared=2) == (
        "render of apps/x at the local directory: every object belongs to other apps"
    )
    assert empty_render_warning("apps/x", HEAD, objects=2, shared=1) is None
    condition = Condition("EmptyRender", ConditionStatus.TRUE, "EmptyRender", "... no objects")
    assert empty_render_note(ApplicationStatus(conditions=(condition,))) == (
        ": the render is empty"
    )
    assert empty_render_note(ApplicationStatus()) == ""
