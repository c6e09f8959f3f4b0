"""`/metrics`: one collector that reads the controller's state at scrape time, so the
series always match the apps that exist (a deleted app is gone from the next scrape)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from tether.core.metrics import MetricsSnapshot

APP_LABELS = ["namespace", "name"]
INFO_LABELS = [
    "namespace",
    "name",
    "repo",
    "dest_namespace",
    "cluster",
    "dest_server",
    "sync_status",
    "health_status",
    "autosync_enabled",
    "suspended",
    "operation",
]


def _flag(value: bool) -> str:
    return "true" if value else "false"


class TetherCollector(Collector):
    def __init__(self, read: Callable[[], MetricsSnapshot]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        snap = self.read()
        info = GaugeMetricFamily(
            "tether_app_info", "Information about an application.", labels=INFO_LABELS
        )
        since = GaugeMetricFamily(
            "tether_app_out_of_sync_since_seconds",
            "Unix time since when the application is OutOfSync (absent when in sync).",
            labels=APP_LABELS,
        )
        resources = GaugeMetricFamily(
            "tether_app_resources",
            "Managed objects of an application by sync and health status.",
            labels=[*APP_LABELS, "sync_status", "health_status"],
        )
        break_glass = GaugeMetricFamily(
            "tether_break_glass_active",
            "1 while a break-glass rollback is in force (Git does not match the cluster).",
            labels=APP_LABELS,
        )
        rewritten = GaugeMetricFamily(
            "tether_history_rewritten",
            "1 while the tracked branch no longer descends from the last synced revision.",
            labels=APP_LABELS,
        )
        for app in snap.apps:
            ident = [app.namespace, app.name]
            info.add_metric(
                [
                    app.namespace,
                    app.name,
                    app.repo,
                    app.dest_namespace,
                    app.cluster,
                    app.dest_server,
                    app.sync_status,
                    app.health_status,
                    _flag(app.autosync_enabled),
                    _flag(app.suspended),
                    app.operation,
                ],
                1.0,
            )
            if app.out_of_sync_since is not None:
                since.add_metric(ident, app.out_of_sync_since)
            for (sync_status, health_status), count in sorted(app.resources.items()):
                resources.add_metric([*ident, sync_status, health_status], float(count))
            break_glass.add_metric(ident, 1.0 if app.break_glass_active else 0.0)
            rewritten.add_metric(ident, 1.0 if app.history_rewritten else 0.0)
        syncs = CounterMetricFamily(
            "tether_app_sync_total",
            "Sync operations run by the controller, by outcome.",
            labels=[*APP_LABELS, "phase"],
        )
        for (ns, name, phase), count in sorted(snap.counters.syncs.items()):
            syncs.add_metric([ns, name, phase], float(count))
        drift = CounterMetricFamily(
            "tether_drift_events_total",
            "New drift seen on managed objects, by probable cause.",
            labels=[*APP_LABELS, "cause"],
        )
        for (ns, name, cause), count in sorted(snap.counters.drift_events.items()):
            drift.add_metric([ns, name, cause], float(count))
        histogram = snap.counters.reconcile
        reconcile = HistogramMetricFamily(
            "tether_app_reconcile_seconds", "Duration of one reconcile of one application."
        )
        reconcile.add_metric(
            [], [(le, float(c)) for le, c in histogram.cumulative()], histogram.total
        )
        cache = GaugeMetricFamily(
            "tether_cache_bytes",
            "Bytes on disk of the git mirrors and of the extracted trees (bounded, LRU).",
            labels=["cache"],
        )
        for name, size in sorted(snap.cache_bytes.items()):
            cache.add_metric([name], float(size))
        notifications = CounterMetricFamily(
            "tether_notifications",
            "Notifications by provider type and result (success, failed, deduplicated,"
            " suppressed, excluded, dropped; the last four before any provider).",
            labels=["provider", "result"],
        )
        for (provider, result), count in sorted(snap.counters.notifications.items()):
            notifications.add_metric([provider, result], float(count))
        clusters = GaugeMetricFamily(
            "tether_cluster_info",
            "A destination cluster the controller watches (1); reachable: its watches are in"
            " contact.",
            labels=["name", "server", "reachable"],
        )
        watched = GaugeMetricFamily(
            "tether_cluster_watched_objects",
            "Objects the controller's watches hold for a destination cluster.",
            labels=["name"],
        )
        recovery = GaugeMetricFamily(
            "tether_cluster_recovery_seconds",
            "Seconds the last rebuild of a replaced (empty) cluster took, from the new"
            " cluster's first answer to every app of it Synced and Healthy.",
            labels=["name"],
        )
        for cluster in snap.clusters:
            clusters.add_metric([cluster.name, cluster.server, _flag(cluster.reachable)], 1.0)
            watched.add_metric([cluster.name], float(cluster.watched_objects))
            if cluster.recovery_seconds is not None:
                recovery.add_metric([cluster.name], cluster.recovery_seconds)
        requests = CounterMetricFamily(
            "tether_kube_requests",
            "Kubernetes API requests the controller sent, by destination cluster and verb"
            " (WATCH: a watch opened).",
            labels=["cluster", "verb"],
        )
        for (where, verb), count in sorted(snap.kube_requests.items()):
            requests.add_metric([where, verb], float(count))
        yield from (
            requests,
            clusters,
            watched,
            recovery,
            info,
            since,
            resources,
            syncs,
            drift,
            reconcile,
            break_glass,
            rewritten,
            cache,
            notifications,
        )


def metrics_registry(read: Callable[[], MetricsSnapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TetherCollector(read))
    return registry
