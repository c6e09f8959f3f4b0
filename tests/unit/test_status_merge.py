"""A status computed from an old read never erases what others wrote since."""

from __future__ import annotations

import dataclasses

from tether.core.diff import AppDiff, Verdict
from tether.core.health import HealthStatus, ResourceHealth
from tether.core.status import compared_status, merge_status
from tether.model.application import (
    ApplicationStatus,
    HealthStatusCode,
    HistoryEntry,
    OperationPhase,
    OperationState,
    SyncStatus,
    SyncStatusCode,
)

T = "2026-11-26T19:00:00Z"


def test_changed_fields_win_and_untouched_fields_keep_their_newer_value() -> None:
    old = ApplicationStatus(sync=SyncStatus(SyncStatusCode.SYNCED, "a", T))
    computed = ApplicationStatus(sync=SyncStatus(SyncStatusCode.OUT_OF_SYNC, "b", T))
    entry = HistoryEntry(id=1, revision="a", deployed_at=T)
    current = ApplicationStatus(
        sync=SyncStatus(SyncStatusCode.SYNCED, "a", T),
        history=(entry,),
        operation_state=OperationState(OperationPhase.SUCCEEDED, "a", T, T),
    )
    merged = merge_status(old, computed, current)
    assert merged.sync.status is SyncStatusCode.OUT_OF_SYNC and merged.sync.revision == "b"
    assert merged.history == (entry,)  # recorded after the read: kept
    assert merged.operation_state == current.operation_state


def test_no_change_means_the_current_status_as_is() -> None:
    current = ApplicationStatus(history=(HistoryEntry(id=7, revision="x", deployed_at=T),))
    assert merge_status(None, ApplicationStatus(), current) == current


def test_history_merges_entry_by_entry() -> None:
    one = HistoryEntry(id=1, revision="a", deployed_at=T, health=HealthStatusCode.PROGRESSING)
    two = HistoryEntry(id=2, revision="b", deployed_at=T)
    three = HistoryEntry(id=3, revision="c", deployed_at=T)
    healthy_one = dataclasses.replace(one, health=HealthStatusCode.HEALTHY)
    base = ApplicationStatus(history=(one, two))
    computed = ApplicationStatus(history=(healthy_one, two))  # a compare updated entry 1
    current = ApplicationStatus(history=(one, two, three))  # a sync appended entry 3 since
    assert merge_status(base, computed, current).history == (healthy_one, two, three)
    trimmed = ApplicationStatus(history=(two, three))  # ...and someone trimmed entry 1
    assert merge_status(base, computed, trimmed).history == (two, three)
    appended = ApplicationStatus(history=(one, two, three))
    assert merge_status(base, appended, ApplicationStatus(history=(one, two))).history == (
        one,
        two,
        three,
    )


def test_the_current_deployment_entry_follows_the_app_health() -> None:
    entry = HistoryEntry(id=4, revision="abc", deployed_at=T, health=HealthStatusCode.PROGRESSING)
    previous = ApplicationStatus(history=(entry,))
    diff = AppDiff(Verdict.SYNCED, [])
    status = compared_status(
        previous,
        revision="abc",
        diff=diff,
        health={},
        app_health=ResourceHealth(HealthStatus.HEALTHY, ""),
        versions={},
        now=T,
    )
    assert status.history[-1].health is HealthStatusCode.HEALTHY
    other = compared_status(
        previous,
        revision="def",
        diff=diff,
        health={},
        app_health=ResourceHealth(HealthStatus.HEALTHY, ""),
        versions={},
        now=T,
    )
    assert other.history == previous.history  # another revision's entry is left alone
