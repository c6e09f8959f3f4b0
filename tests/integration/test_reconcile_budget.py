"""What one controller reconcile costs: a reconcile that auto-syncs an app reads the
Application from the API at most twice and compares once (the sync plans from the
reconcile's comparison; the compare after it is the next reconcile's)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.app_store import CountingApplicationStore
from tests.support.apps import application
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.controller.reconciler import Controller, ControllerOptions
from tether.engine.apps import ClusterApplicationStore, create_app, get_app
from tether.engine.compare import Engine
from tether.kube import KubeClient
from tether.model.application import API_GROUP, API_VERSION, KIND, OperationPhase
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


async def test_an_auto_sync_reconcile_reads_the_app_at_most_twice_and_compares_once(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: budget}\n"})
    sha = repo.commit("one ConfigMap")
    app = application(
        "budget", namespace, repo.url, "app", syncPolicy={"automated": {"prune": True}}
    )
    await create_app(kube, app)
    await engine.cache.watch_kind(API_VERSION, KIND)
    key = ResourceKey(API_GROUP, KIND, namespace, "budget")

    async def cached() -> bool:
        return engine.cache.get(key) is not None

    await eventually(cached, what="the Application in the watch cache")

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
    assert compared == 1
    assert reads <= 2, (store.reads, gets[0])
    # status writes: the reconcile's, the claim, the outcome, the history entry
    assert writes == 4, writes
