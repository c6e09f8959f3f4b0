"""The numbers behind `/metrics` (DESIGN §3), computed from Applications at scrape time.

Pure: the server turns these samples into Prometheus metric families. Because they are
derived from the apps the controller currently knows, a deleted app has no series in the
next scrape.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from tether.model.application import (
    CONDITION_HISTORY_REWRITTEN,
    Application,
    ApplicationStatus,
    find_condition,
)
from tether.model.keys import parse_rfc3339
from tether.model.urls import display_url

RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class AppSample:
    """One app's labels and gauges."""

    namespace: str
    name: str
    repo: str
    dest_namespace: str
    cluster: str  # the destination cluster: its name, its server, or "in-cluster"
    dest_server: str  # destination.server as written ("" when named or in-cluster)
    sync_status: str
    health_status: str
    autosync_enabled: bool
    suspended: bool
    operation: str  # phase of the current/last operation, '' if none
    out_of_sync_since: float | None  # unix seconds, None when in sync
    resources: Mapping[tuple[str, str], int]  # (sync_status, health_status) -> count
    break_glass_active: bool
    history_rewritten: bool


def app_sample(app: Application) -> AppSample:
    status = app.status or ApplicationStatus()
    resources: Counter[tuple[str, str]] = Counter()
    for res in status.resources:
        health = res.health.status.value if res.health is not None else ""
        resources[(res.status.value, health)] += 1
    operation = status.operation_state.phase.value if status.operation_state else ""
    since = parse_rfc3339(status.out_of_sync_since)
    return AppSample(
        namespace=app.namespace,
        name=app.name,
        repo=display_url(app.spec.source.repo_url),
        dest_namespace=app.spec.destination.namespace or "",
        cluster=(
            f"kubeconfig/{app.spec.kube_config.name}"
            if app.spec.kube_config
            else app.spec.destination.name
            or display_url(app.spec.destination.server or "")
            or "in-cluster"
        ),
        dest_server=display_url(app.spec.destination.server or ""),
        sync_status=status.sync.status.value,
        health_status=status.health.status.value,
        autosync_enabled=app.auto_sync_enabled,
        suspended=app.spec.suspend,
        operation=operation,
        out_of_sync_since=since.timestamp() if since else None,
        resources=dict(resources),
        break_glass_active=bool(status.break_glass and status.break_glass.active),
        history_rewritten=find_condition(status.conditions, CONDITION_HISTORY_REWRITTEN)
        is not None,
    )


@dataclass
class DurationHistogram:
    """A cumulative-bucket histogram (Prometheus semantics) without the client library."""

    buckets: Sequence[float] = RECONCILE_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    samples: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.samples += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, count) pairs including `+Inf`."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


@dataclass
class ControllerCounters:
    """Counters the controller increments; per-app series are dropped with the app."""

    syncs: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # ns, name, phase
    drift_events: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # ns,name,cause
    reconcile: DurationHistogram = field(default_factory=DurationHistogram)
    # (provider type, result): success, failed, deduplicated, suppressed, excluded, dropped
    notifications: Counter[tuple[str, str]] = field(default_factory=Counter)

    def forget_app(self, namespace: str, name: str) -> None:
        for counter in (self.syncs, self.drift_events):
            for key in [k for k in counter if k[0] == namespace and k[1] == name]:
                del counter[key]


@dataclass(frozen=True)
class ClusterSample:
    """A destination cluster the controller has watches on."""

    name: str
    server: str
    reachable: bool
    watched_objects: int
    recovery_seconds: float | None = None  # the last rebuild after it was replaced


@dataclass(frozen=True)
class MetricsSnapshot:
    apps: Sequence[AppSample]
    counters: ControllerCounters
    cache_bytes: Mapping[str, int] = field(default_factory=dict)  # "trees"/"mirrors" -> bytes
    clusters: Sequence[ClusterSample] = ()
    kube_requests: Mapping[tuple[str, str], int] = field(default_factory=dict)  # cluster, verb


def snapshot(
    apps: Iterable[Application],
    counters: ControllerCounters,
    cache_bytes: Mapping[str, int] | None = None,
    clusters: Sequence[ClusterSample] = (),
    kube_requests: Mapping[tuple[str, str], int] | None = None,
) -> MetricsSnapshot:
    return MetricsSnapshot(
        sorted((app_sample(a) for a in apps), key=lambda s: (s.namespace, s.name)),
        counters,
        dict(cache_bytes or {}),
        tuple(sorted(clusters, key=lambda c: c.name)),
        dict(kube_requests or {}),
    )
