"""Rebuilding a destination cluster that was replaced by an empty one.

When a destination answers with another identity (controller/destinations.py), its apps
whose every object is Missing are synced from Git although nothing drifted (the
`rebuild` action of core/autosync.py; apps with `automated` only, in dependency order:
an app waits for its dependsOn as always). Each rebuilt app gets a `ClusterRebuilt`
Event with its recovery time, and once every app of the cluster is Synced and Healthy
the cluster's recovery time (RTO: from the new cluster's first answer) is logged and
kept for /metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tether.core.autosync import Action, Decision
from tether.engine.events import NORMAL, record_event
from tether.kube import KubeClient
from tether.model.application import Application, ApplicationStatus
from tether.model.status import HealthStatusCode, SyncStatusCode

from .destinations import Destinations, Replacement

log = logging.getLogger(__name__)

AppKey = tuple[str, str]
REBUILT_REASON = "ClusterRebuilt"


@dataclass
class Recoveries:
    destinations: Destinations
    kube: KubeClient  # where the apps' Events go (the hub)
    rebuilding: dict[str, set[AppKey]] = field(default_factory=dict)
    reported: set[AppKey] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=dict)  # cluster name -> last RTO

    def replacement(self, app: Application) -> Replacement | None:
        return self.destinations.replaced.get(self.destinations.cluster_of(app))

    def needs_rebuild(self, app: Application) -> bool:
        """Whether `app` may still be rebuilt for its cluster's replacement: once, since
        the watch cache may not show the rebuild's own objects at the next compare yet
        (they would look Missing and ask for the same rebuild again)."""
        key = self.destinations.cluster_of(app)
        return key in self.destinations.replaced and (
            app.namespace,
            app.name,
        ) not in self.rebuilding.get(key, set())

    async def progress(
        self,
        app: Application,
        status: ApplicationStatus,
        decision: Decision,
        everyone: Callable[[], list[Application]],
    ) -> None:
        """After a reconcile of `app` (its fresh `status`): note a rebuild that started,
        report one that finished, and close the cluster's recovery once all its apps are
        Synced and Healthy (`everyone`: every app the controller knows, read only then)."""
        replaced = self.replacement(app)
        if replaced is None:
            return
        key = self.destinations.cluster_of(app)
        me = (app.namespace, app.name)
        started = self.rebuilding.setdefault(key, set())
        if decision.action is Action.REBUILD:
            started.add(me)
        elapsed = time.monotonic() - replaced.noticed_at
        if me in started and me not in self.reported and _ready(status):
            self.reported.add(me)
            await record_event(
                self.kube,
                app,
                NORMAL,
                REBUILT_REASON,
                f"cluster {replaced.cluster} was replaced by an empty one: {app.name} rebuilt"
                f" from Git {elapsed:.1f}s after the new cluster answered",
            )
        mine = [a for a in everyone() if self.destinations.cluster_of(a) == key]
        statuses = [status if (a.namespace, a.name) == me else a.status for a in mine]
        if not all(s is not None and _ready(s) for s in statuses):
            return
        # Every app of the cluster is Synced and Healthy: its recovery is over (rebuilt by
        # this controller, or by someone else, e.g. `tether dr bootstrap --cluster`).
        self.destinations.replaced.pop(key, None)
        self.rebuilding.pop(key, None)
        self.reported -= started
        if not started:
            return
        self.seconds[replaced.cluster] = elapsed
        down = (
            f"; it was unreachable {replaced.noticed_at - replaced.lost_at:.1f}s before that"
            if replaced.lost_at is not None
            else ""
        )
        log.warning(
            "cluster %s rebuilt from Git: %d applications Synced and Healthy %.1fs after the"
            " new cluster answered%s",
            replaced.cluster,
            len(mine),
            elapsed,
            down,
        )


def _ready(status: ApplicationStatus) -> bool:
    return (
        status.sync.status is SyncStatusCode.SYNCED
        and status.health.status is HealthStatusCode.HEALTHY
    )


__all__ = ["REBUILT_REASON", "Recoveries"]
