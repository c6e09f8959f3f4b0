"""The one status writer (engine/apps.update_status) and the sync claim on its conflict
paths, against an in-memory store: the real-cluster tests (tests/integration/test_sync.py
racing claims, test_history.py concurrent records) cover the same rules end to end."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import cast

import pytest

from tests.support.app_store import InMemoryApplicationStore
from tests.support.apps import application
from tether.controller.operations import recover_operation
from tether.engine.apps import StatusConflict, update_status, write_status
from tether.engine.compare import Engine
from tether.engine.operation import SyncInProgress, claim_operation, release_claim
from tether.errors import InputError
from tether.model.application import (
    Application,
    ApplicationStatus,
    HistoryEntry,
    OperationPhase,
    OperationState,
    SyncStatus,
    SyncStatusCode,
)

T0 = "2026-12-02T00:00:00Z"
SHA = "a" * 40


def stored_app(store: InMemoryApplicationStore, **status: object) -> Application:
    app = application("web", "apps", "https://git.example/r.git", "web")
    return store.put(dataclasses.replace(app, status=ApplicationStatus(**status)))  # type: ignore[arg-type]


def synced(status: ApplicationStatus) -> ApplicationStatus:
    return dataclasses.replace(status, sync=SyncStatus(SyncStatusCode.SYNCED, SHA, T0))


async def test_a_write_on_the_current_copy_needs_no_read() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    written = await write_status(store, app, synced(ApplicationStatus()))
    assert written.written and written.app is not None
    assert (
        written.app.status is not None and written.app.status.sync.status is SyncStatusCode.SYNCED
    )
    assert (store.reads, store.writes, store.conflicts) == (0, 1, 0)
    assert written.resource_version == store.stored("apps", "web").resource_version


async def test_an_unchanged_status_is_not_written() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store, sync=SyncStatus(SyncStatusCode.SYNCED, SHA, T0))
    assert app.status is not None
    written = await write_status(store, app, app.status)
    assert not written.written and written.resource_version is None
    assert (store.reads, store.writes) == (0, 0)
    # ...and a changed one is (the same call, one field different).
    changed = dataclasses.replace(app.status, sync=SyncStatus(SyncStatusCode.OUT_OF_SYNC, SHA, T0))
    assert (await write_status(store, app, changed)).written
    assert store.writes == 1


async def test_a_write_in_between_is_merged_not_overwritten() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    # Someone records a history entry after our read: our copy is stale.
    entry = HistoryEntry(1, SHA, T0)
    store.put(dataclasses.replace(app, status=ApplicationStatus(history=(entry,))))
    written = await write_status(store, app, synced(ApplicationStatus()))
    assert written.written
    final = store.stored("apps", "web").status
    assert final is not None
    assert final.sync.status is SyncStatusCode.SYNCED  # our field
    assert final.history == (entry,)  # theirs survives the three-way merge
    assert (store.conflicts, store.reads, store.writes) == (1, 1, 1)


async def test_a_status_that_keeps_changing_is_a_conflict_after_the_attempts() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    n = 0

    async def another_writer(key: tuple[str, str]) -> None:
        nonlocal n
        n += 1
        current = store.stored(*key)
        store.put(
            dataclasses.replace(
                current, status=ApplicationStatus(history=(HistoryEntry(n, SHA, T0),))
            )
        )

    store.before_write = another_writer
    with pytest.raises(StatusConflict, match="status kept changing; status not written after 3"):
        await update_status(
            store, app, lambda cur: synced(cur.status or ApplicationStatus()), attempts=3
        )
    assert store.conflicts == 3 and store.writes == 0


async def test_an_app_deleted_meanwhile_is_not_written() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    store.put(app)  # our copy is stale...
    store.delete("apps", "web")  # ...and the app is gone
    written = await write_status(store, app, synced(ApplicationStatus()))
    assert written.app is None and not written.written


async def test_the_claim_refuses_while_an_operation_runs() -> None:
    store = InMemoryApplicationStore()
    running = OperationState(OperationPhase.RUNNING, SHA, T0, None, "sync started", "alice")
    app = stored_app(store, operation_state=running)
    with pytest.raises(SyncInProgress, match=r"started at .* by alice is still running"):
        await claim_operation(store, app, SHA, T0, "bob")
    assert store.writes == 0
    # Without the Running operation the same claim succeeds.
    done = dataclasses.replace(running, phase=OperationPhase.SUCCEEDED, finished_at=T0)
    app = store.put(dataclasses.replace(app, status=ApplicationStatus(operation_state=done)))
    claimed = await claim_operation(store, app, SHA, T0, "bob")
    assert claimed.status is not None and claimed.status.operation_state is not None
    assert claimed.status.operation_state.phase is OperationPhase.RUNNING
    assert claimed.status.operation_state.initiated_by == "bob"


async def test_two_racing_claims_one_wins_the_other_sees_it_running() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    turn = asyncio.Event()

    async def interleave(key: tuple[str, str]) -> None:
        # Both claims reach the write before either lands: the second one conflicts.
        if not turn.is_set():
            turn.set()
            await asyncio.sleep(0)

    store.before_write = interleave
    results = await asyncio.gather(
        claim_operation(store, app, SHA, T0, "alice"),
        claim_operation(store, app, SHA, T0, "bob"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Application)]
    lost = [r for r in results if isinstance(r, SyncInProgress)]
    assert len(won) == 1 and len(lost) == 1, results
    assert store.conflicts == 1
    final = store.stored("apps", "web").status
    assert final is not None and final.operation_state is not None
    assert won[0].status is not None and won[0].status.operation_state == final.operation_state


async def test_the_claim_of_a_deleted_app_says_not_found() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    store.put(app)
    store.delete("apps", "web")
    with pytest.raises(InputError, match="not found"):
        await claim_operation(store, app, SHA, T0, "bob")


async def test_the_claim_carries_the_reconciles_status_in_one_write() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    compared = synced(ApplicationStatus())
    claimed = await claim_operation(store, app, SHA, T0, "controller", status=compared)
    assert store.writes == 1 and claimed.status is not None
    assert claimed.status.sync.status is SyncStatusCode.SYNCED
    assert claimed.status.operation_state is not None
    assert claimed.status.operation_state.phase is OperationPhase.RUNNING
    # Without `status` the claim leaves the comparison as stored.
    other = stored_app(store)
    plain = await claim_operation(store, other, SHA, T0, "controller")
    assert plain.status is not None and plain.status.sync.status is not SyncStatusCode.SYNCED


async def test_the_claim_merges_into_a_newer_copy_and_keeps_its_history() -> None:
    store = InMemoryApplicationStore()
    app = stored_app(store)
    entry = HistoryEntry(1, SHA, T0)
    store.put(dataclasses.replace(app, status=ApplicationStatus(history=(entry,))))  # a CLI
    claimed = await claim_operation(store, app, SHA, T0, "ctl", status=synced(ApplicationStatus()))
    assert claimed.status is not None and claimed.status.history == (entry,)
    assert claimed.status.sync.status is SyncStatusCode.SYNCED
    assert store.conflicts == 1


async def test_an_unfinished_claim_is_released_and_a_finished_one_is_left_alone() -> None:
    store = InMemoryApplicationStore()
    claimed = await claim_operation(store, stored_app(store), SHA, T0, "ctl")
    await release_claim(store, claimed, "rendering failed")
    state = store.stored("apps", "web").status.operation_state  # type: ignore[union-attr]
    assert state is not None and state.phase is OperationPhase.ERROR
    assert state.message == "rendering failed" and state.finished_at is not None
    # The outcome recorded already (the operation wrote it): nothing is written.
    claimed = await claim_operation(store, store.stored("apps", "web"), SHA, T0, "ctl")
    assert claimed.status is not None and claimed.status.operation_state is not None
    done = dataclasses.replace(
        claimed.status.operation_state, phase=OperationPhase.SUCCEEDED, finished_at=T0
    )
    store.put(dataclasses.replace(claimed, status=ApplicationStatus(operation_state=done)))
    writes = store.writes
    await release_claim(store, claimed, "too late")
    assert store.writes == writes
    final = store.stored("apps", "web").status
    assert final is not None and final.operation_state == done


async def test_a_claim_running_on_a_stale_copy_is_read_again_before_called_interrupted() -> None:
    # The reconcile right after a sync may read a watch copy older than the sync's last
    # write (its claim still Running): recover_operation asks the store first.
    store = InMemoryApplicationStore()
    engine = cast(Engine, SimpleNamespace(apps=store, shadow=False, kube=None))
    claimed = await claim_operation(store, stored_app(store), SHA, T0, "controller/auto-sync")
    assert claimed.status is not None and claimed.status.operation_state is not None
    done = dataclasses.replace(
        claimed.status.operation_state, phase=OperationPhase.SUCCEEDED, finished_at=T0
    )
    store.put(dataclasses.replace(claimed, status=ApplicationStatus(operation_state=done)))
    writes = store.writes
    seen = await recover_operation(engine, claimed, syncing=False)
    assert store.writes == writes
    assert seen.status is not None and seen.status.operation_state == done
    # A claim that is Running in the store too is what a dead controller left: marked.
    stale = await claim_operation(store, store.stored("apps", "web"), SHA, T0, "controller/x")
    engine = cast(Engine, SimpleNamespace(apps=store, shadow=False, kube=SilentKube()))
    marked = await recover_operation(engine, stale, syncing=False)
    assert marked.status is not None and marked.status.operation_state is not None
    assert marked.status.operation_state.phase is OperationPhase.FAILED
    assert store.writes == writes + 2  # the second claim and the mark


class SilentKube:
    """Takes the Event recover_operation records (events are not what is tested here)."""

    async def create(self, body: object) -> None:
        return None
