"""A status computed from an old read never erases what others wrote since."""

from __future__ import annotations

from tether.core.status import merge_status
from tether.model.application import (
    ApplicationStatus,
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
