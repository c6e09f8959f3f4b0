"""What one controller reconcile costs: a reconcile that auto-syncs an app reads the
Application from the API at most twice and compares once (the sync plans from the
reconcile's comparison; the compare after it is the next reconcile's)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.app_store import CountingApplicationStore
from tests.support.apps import application
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.cli import diff_view as diff_view_module
from tether.controller.reconciler import Controller, ControllerOptions
from tether.engine import compare as compare_module
from tether.engine import drift as drift_module
from tether.engine.apps import ClusterApplicationStore, create_app, get_app
from tether.engine.compare import Engine
from tether.engine.drift import explain_drift
from tether.engine.sync import SyncRequest, sync_app
from tether.errors import UnreachableError
from tether.kube import KubeClient
from tether.model.application import (
    API_GROUP,
    API_VERSION,
    KIND,
    Application,
    OperationPhase,
    SyncStatusCode,
)
from tether.model.keys import ResourceKey


def count_application_gets(kube: KubeClient) -> list[int]:
    """Count GETs of Applications that bypass the store (there should be none)."""
    counter = [0]
    original = kube.get

    async def get(api_version: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == KIND:
            counter[0] += 1
        return await original(api_version, kind, *args, **kwargs)

    kube.get = get  # type: ignore[method-assign]
    return counter


async def created_and_cached(engine: Engine, kube: KubeClient, app: Application) -> None:
    """Create `app` and wait until the watch cache holds it (what a reconcile reads)."""
    await create_app(kube, app)
    await engine.cache.watch_kind(API_VERSION, KIND)
    key = ResourceKey(API_GROUP, KIND, app.namespace, app.name)

    async def cached() -> bool:
        return engine.cache.get(key) is not None

    await eventually(cached, what="the Application in the watch cache")


async def test_an_auto_sync_reconcile_reads_the_app_at_most_twice_and_compares_once(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: budget}\n"})
    sha = repo.commit("one ConfigMap")
    app = application(
        "budget", namespace, repo.url, "app", syncPolicy={"automated": {"prune": True}}
    )
    await created_and_cached(engine, kube, app)

    store = CountingApplicationStore(ClusterApplicationStore(kube))
    engine.app_store = store
    gets = count_application_gets(kube)
    controller = Controller(engine, ControllerOptions(app_namespace=namespace))
    compares = engine.compares

    assert await controller.reconcile((namespace, "budget"))  # a sync task took over
    await asyncio.gather(*list(controller._tasks))
    reads, writes, compared = store.reads + gets[0], store.writes, engine.compares - compares

    synced = await get_app(kube, namespace, "budget")  # the test's own read, not counted
    assert synced.status is not None and synced.status.operation_state is not None
    assert synced.status.operation_state.phase is OperationPhase.SUCCEEDED, synced.status
    assert [e.revision for e in synced.status.history] == [sha]
    assert await kube.get("v1", "ConfigMap", "budget", namespace) is not None
    assert compared == 2  # the reconcile's, and the sync's after its applies
    assert reads <= 2, (store.reads, gets[0])
    # status writes: the reconcile's with the sync's claim, the outcome (with the compare
    # after the sync: Synced) with the history entry
    assert writes == 2, writes
    assert synced.status.sync.status is SyncStatusCode.SYNCED, synced.status

    # The reconcile queued after the sync finds the status current: nothing to write.
    async def outcome_cached() -> bool:
        cached = engine.cache.get(ResourceKey(API_GROUP, KIND, namespace, "budget"))
        return (cached or {}).get("metadata", {}).get("resourceVersion") == (
            synced.resource_version
        )

    await eventually(outcome_cached, what="the outcome in the watch cache")
    assert not await controller.reconcile((namespace, "budget"))  # no sync started
    assert store.writes == 2, store.writes


async def test_a_sync_that_fails_before_it_starts_does_not_stay_running(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    # The reconcile's status write claims the app for the sync it starts; when the sync
    # task fails before the operation records an outcome (its cluster went away between
    # the two), the claim ends as Error with the reason, never Running.
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n"})
    repo.commit("one ConfigMap")
    app = application("gone", namespace, repo.url, "app", syncPolicy={"automated": {}})
    await created_and_cached(engine, kube, app)
    controller = Controller(engine, ControllerOptions(app_namespace=namespace))
    opened = controller.destinations.engine_for
    calls = [0]

    async def fails_the_second_time(target: Any) -> Engine:
        calls[0] += 1
        if calls[0] > 1:
            raise UnreachableError("cluster in-cluster: connection refused")
        return await opened(target)

    controller.destinations.engine_for = fails_the_second_time  # type: ignore[method-assign]
    assert await controller.reconcile((namespace, "gone"))  # the claim is written
    await asyncio.gather(*list(controller._tasks))
    stored = await get_app(kube, namespace, "gone")
    state = stored.status.operation_state if stored.status else None
    assert state is not None and state.phase is OperationPhase.ERROR, state
    assert state.message is not None and "connection refused" in state.message
    assert await kube.get("v1", "ConfigMap", "gone", namespace) is None  # nothing applied


async def test_tether_drift_attributes_once_and_app_diff_reads_the_same_findings(
    engine: Engine,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo.write(
        {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: once}\ndata: {a: '1'}\n"}
    )
    repo.commit("one ConfigMap")
    app = application("once", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    edit = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "once", "namespace": namespace},
        "data": {"x": "1"},
    }
    await kube.apply(edit, field_manager="kubectl-edit", force=True)

    runs = [0]
    real = compare_module.explain_app

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_module, "explain_app", counted)
    for module in (drift_module, diff_view_module):  # nothing after the compare explains again
        for name in ("explain_app", "explain_object"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, counted)
    report = await explain_drift(engine, await get_app(kube, namespace, "once"))
    assert runs[0] == 1  # the compare's attribution is the report's
    found = [f for f in report.findings if f.path == "/data/x"]
    assert found and found[0].writer is not None and found[0].writer.manager == "kubectl-edit"
    assert report.comparison.findings == report.findings
