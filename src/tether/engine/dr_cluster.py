"""Disaster recovery from the hub: rebuild a registered cluster that came back empty
from Git, with the Applications the hub still holds for it (`tether dr bootstrap
--cluster NAME`). The hub keeps the apps, their history and credentials; only the
objects are lost with the cluster, so the rebuild is the apps' syncs in recovery order
(dependsOn levels, then sync waves), timed per phase, then the wait for Synced+Healthy.
"""

from __future__ import annotations

import asyncio

from tether.errors import InputError
from tether.kube import KubeClient, LiveCache
from tether.model.cluster import ClusterPolicy, targets
from tether.model.spec import Destination

from .apps import list_apps
from .clusters import identity_of, record_identity, registered_access, registrations
from .compare import Engine
from .dr import PhaseClock, RecoveryReport, recovery_steps, sync_in_order, wait_recovered
from .sync import Progress


async def rebuild_cluster(
    hub: Engine,
    name: str,
    namespace: str,
    *,
    timeout: float = 600.0,
    policy: ClusterPolicy | None = None,
    progress: Progress = lambda _: None,
    report: RecoveryReport | None = None,
) -> RecoveryReport:
    """Sync every Application of `namespace` (on the hub) that deploys to the registered
    cluster `name` onto it, in recovery order; `report` is filled phase by phase."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    report = report if report is not None else RecoveryReport()
    clock = PhaseClock(report)
    registered, problems = await registrations(hub.kube, namespace, policy or ClusterPolicy())
    access = registered_access(registered, problems, Destination(name=name), namespace)
    target = KubeClient.from_access(access)
    cache = LiveCache(target)
    engine = hub.for_destination(target, cache)
    try:
        version = await target.version()
        uid = await identity_of(target)
        await record_identity(hub.kube, access, uid)
        clock.lap("cluster", f"{access.name} {version.get('gitVersion', '')} at {access.server}")
        apps = [
            a for a in await list_apps(hub.kube, namespace, invalid=[]) if targets(a.spec, access)
        ]
        if not apps:
            raise InputError(f"no Application in namespace {namespace} deploys to cluster {name}")
        report.apps = [a.name for a in apps]
        progress(f"cluster {access.name}: {len(apps)} applications to rebuild")
        steps = recovery_steps(apps, [a.to_dict() for a in apps])
        await sync_in_order(engine, steps, deadline, clock, progress, f"rebuild of cluster {name}")
        what = f"rebuild of cluster {name}"
        return await wait_recovered(engine, apps, deadline, clock, report, what)
    finally:
        await cache.close()
        target.close()


__all__ = ["rebuild_cluster"]
