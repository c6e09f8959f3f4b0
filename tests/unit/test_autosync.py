"""The controller's policy: auto-sync once per revision, self-heal with backoff, retry,
dependsOn, and every reason not to act."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tether.core.autosync import (
    INTERRUPTED_MESSAGE,
    Action,
    DriftTracker,
    SelfHealMemory,
    decide,
    dependencies_not_ready,
    self_heal_delay,
)
from tether.model.application import (
    API_VERSION,
    Application,
    ApplicationStatus,
    BreakGlass,
    Condition,
    ConditionStatus,
    HealthStatus,
    HealthStatusCode,
    HistoryEntry,
    OperationPhase,
    OperationState,
    ResourceStatus,
    SyncStatus,
    SyncStatusCode,
)
from tether.model.status import MISSING_DRIFT

HEAD = "b" * 40
OLD = "a" * 40


def app(**spec: Any) -> Application:
    policy = spec.pop("syncPolicy", {"automated": {"selfHeal": True}})
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "tether-system"},
            "spec": {"source": {"repoURL": "file:///r.git"}, "syncPolicy": policy, **spec},
        }
    )


def status(
    sync: SyncStatusCode = SyncStatusCode.OUT_OF_SYNC,
    revision: str = HEAD,
    op: OperationState | None = None,
    **extra: Any,
) -> ApplicationStatus:
    return ApplicationStatus(sync=SyncStatus(sync, revision), operation_state=op, **extra)


def op(phase: OperationPhase, revision: str = HEAD, **extra: Any) -> OperationState:
    return OperationState(phase, revision, "2026-01-01T00:00:00Z", None, "m", "x", **extra)


def run(a: Application, s: ApplicationStatus, memory: SelfHealMemory | None = None, **kw: Any):
    return decide(
        a,
        compared=s,
        dependencies=kw.pop("deps", {}),
        memory=memory or SelfHealMemory(),
        now=kw.pop("now", 1000.0),
        cluster_replaced=kw.pop("cluster_replaced", False),
    )


def test_a_new_revision_is_auto_synced_once() -> None:
    assert run(app(), status(op=op(OperationPhase.SUCCEEDED, OLD))).action is Action.AUTO_SYNC
    assert run(app(), status()).action is Action.AUTO_SYNC  # never synced
    failed = status(op=op(OperationPhase.FAILED))
    assert run(app(), failed).action is Action.NONE  # that revision was tried: not again


def test_nothing_happens_when_in_sync_off_suspended_frozen_or_break_glass() -> None:
    assert run(app(), status(SyncStatusCode.SYNCED)).action is Action.NONE
    assert run(app(syncPolicy={}), status()).action is Action.NONE
    assert run(app(suspend=True), status()).reason == "suspended"
    # detect-only: out of sync and automated with self-heal, yet never a write.
    assert run(app(mode="detect-only"), status()).action is Action.NONE
    assert run(app(mode="detect-only"), status()).reason.startswith("detect-only")
    assert run(app(mode="normal"), status()).action is Action.AUTO_SYNC
    rewritten = status(
        conditions=(Condition("HistoryRewritten", ConditionStatus.TRUE, "x", "moved"),)
    )
    assert run(app(), rewritten).action is Action.WAIT
    glass = status(break_glass=BreakGlass(active=True, history_id=1))
    assert run(app(), glass).reason == "break-glass rollback active"
    assert run(app(), status(op=op(OperationPhase.RUNNING, OLD))).action is Action.WAIT


def test_self_heal_of_the_synced_revision_backs_off_2s_times_3_to_the_n() -> None:
    synced = status(op=op(OperationPhase.SUCCEEDED), history=(HistoryEntry(1, HEAD, "t"),))
    assert run(app(), synced).action is Action.SELF_HEAL
    assert run(app(), synced).delay == 0  # a fresh drift is healed at once
    assert [self_heal_delay(n) for n in range(7)] == [0, 2, 6, 18, 54, 162, 300]
    memory = SelfHealMemory(attempts=3, last_at=1000.0)
    assert run(app(), synced, memory, now=1005.0).delay == pytest.approx(13.0)
    # A heal that held longer than the longest backoff starts the count again.
    assert run(app(), synced, SelfHealMemory(attempts=5, last_at=0.0), now=1000.0).delay == 0
    off = app(syncPolicy={"automated": {"selfHeal": False}})
    assert run(off, synced).action is Action.NONE


def test_retry_policy_and_interrupted_syncs() -> None:
    retrying = app(syncPolicy={"automated": {}, "retry": {"limit": 2}})
    failed = status(op=op(OperationPhase.FAILED))
    decision = run(retrying, failed)
    assert decision.action is Action.RETRY and decision.delay == 5.0
    exhausted = status(op=op(OperationPhase.FAILED, retry_count=2))
    assert run(retrying, exhausted).action is Action.NONE
    interrupted = status(
        op=dataclasses.replace(op(OperationPhase.FAILED), message=INTERRUPTED_MESSAGE)
    )
    assert run(app(), interrupted).action is Action.RETRY


def test_depends_on_waits_for_synced_and_healthy() -> None:
    dependent = app(dependsOn=[{"name": "crds"}])
    key = ("tether-system", "crds")
    ready = ApplicationStatus(
        sync=SyncStatus(SyncStatusCode.SYNCED, HEAD), health=HealthStatus(HealthStatusCode.HEALTHY)
    )
    assert run(dependent, status(), deps={key: ready}).action is Action.AUTO_SYNC
    assert "not found" in run(dependent, status(), deps={key: None}).reason
    progressing = dataclasses.replace(ready, health=HealthStatus(HealthStatusCode.PROGRESSING))
    assert "Synced/Progressing" in dependencies_not_ready(dependent, {key: progressing})
    running = dataclasses.replace(ready, operation_state=op(OperationPhase.RUNNING))
    assert "sync running" in dependencies_not_ready(dependent, {key: running})


def test_drift_tracker_reports_only_new_drift() -> None:
    tracker = DriftTracker()
    assert tracker.new_drift({"a": frozenset({"/x"})}) == {"a": frozenset({"/x"})}
    assert tracker.new_drift({"a": frozenset({"/x"})}) == {}
    assert tracker.new_drift({"a": frozenset({"/x", "/y"})}) == {"a": frozenset({"/x", "/y"})}
    assert tracker.new_drift({}) == {}
    assert tracker.new_drift({"a": frozenset({"/x"})}) == {"a": frozenset({"/x"})}


def missing(name: str) -> ResourceStatus:
    return ResourceStatus(
        kind="ConfigMap",
        name=name,
        namespace="shop",
        status=SyncStatusCode.OUT_OF_SYNC,
        drift=(MISSING_DRIFT,),
    )


def test_a_replaced_cluster_whose_objects_are_all_missing_is_rebuilt_without_self_heal() -> None:
    no_heal = app(syncPolicy={"automated": {}})
    deployed = op(OperationPhase.SUCCEEDED)  # this revision was deployed before
    gone = status(op=deployed, resources=(missing("a"), missing("b")))
    rebuilt = run(no_heal, gone, cluster_replaced=True)
    assert rebuilt.action is Action.REBUILD and rebuilt.syncs
    assert "came back empty" in rebuilt.reason
    # The same objects missing on the same cluster: drift, left alone without self-heal.
    assert run(no_heal, gone).action is Action.NONE
    # One object still there: not an empty cluster, so no rebuild either.
    one_left = dataclasses.replace(
        gone, resources=(missing("a"), dataclasses.replace(missing("b"), drift=("/data/x",)))
    )
    assert run(no_heal, one_left, cluster_replaced=True).action is Action.NONE
    # Never without automated, never while suspended, and dependencies first.
    assert run(app(syncPolicy={}), gone, cluster_replaced=True).action is Action.NONE
    assert run(app(suspend=True), gone, cluster_replaced=True).action is Action.NONE
    waiting = app(syncPolicy={"automated": {}}, dependsOn=[{"name": "base"}])
    assert (
        run(waiting, gone, cluster_replaced=True, deps={("tether-system", "base"): None}).action
        is Action.WAIT
    )
