"""Alerting rules and a dashboard for tether's metrics (DESIGN §3 "Metrics").

`tether alerts` prints a PrometheusRule (prometheus-operator) and, with `--grafana`, a
Grafana dashboard; both use only the metric families the controller exports.
"""

from __future__ import annotations

from typing import Any

RULE_NAME = "tether-alerts"


def _alert(
    name: str, expr: str, for_: str, severity: str, summary: str, description: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description},
    }


def prometheus_rule(namespace: str = "tether-system") -> dict[str, Any]:
    out_of_sync = 'tether_app_info{sync_status="OutOfSync"} == 1'
    rules = [
        _alert(
            "TetherAppOutOfSync",
            out_of_sync,
            "5m",
            "warning",
            "Application {{ $labels.namespace }}/{{ $labels.name }} is OutOfSync",
            "The cluster differs from Git for 5 minutes. See `tether drift {{ $labels.name }}`"
            " for who changed what.",
        ),
        _alert(
            "TetherAppOutOfSyncPage",
            out_of_sync,
            "15m",
            "page",
            "Application {{ $labels.namespace }}/{{ $labels.name }} OutOfSync for 15 minutes",
            "Drift has not been healed or explained for 15 minutes: `tether drift`,"
            " then `tether app sync` or an ignoreDifferences rule.",
        ),
        _alert(
            "TetherAppDegraded",
            'tether_app_info{health_status="Degraded"} == 1',
            "3m",
            "critical",
            "Application {{ $labels.namespace }}/{{ $labels.name }} is Degraded",
            "Roll back the Git way: `tether revert {{ $labels.name }} --to-last-healthy`.",
        ),
        _alert(
            "TetherBreakGlassActive",
            "tether_break_glass_active == 1",
            "0m",
            "warning",
            "Break-glass rollback active on {{ $labels.namespace }}/{{ $labels.name }}",
            "The cluster runs a rolled-back state that Git does not describe; make the"
            " follow-up revert (see the BreakGlass condition).",
        ),
        _alert(
            "TetherHistoryRewritten",
            "tether_history_rewritten == 1",
            "0m",
            "critical",
            "Git history rewritten under {{ $labels.namespace }}/{{ $labels.name }}",
            "The tracked branch no longer descends from the last synced commit (force push?)."
            " Auto-sync is frozen until an explicit `tether app sync`.",
        ),
    ]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": RULE_NAME,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "tether"},
        },
        "spec": {"groups": [{"name": "tether", "rules": rules}]},
    }


def _panel(
    pid: int, title: str, expr: str, kind: str, x: int, y: int, w: int = 12
) -> dict[str, Any]:
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "targets": [{"expr": expr, "refId": "A", "legendFormat": "{{namespace}}/{{name}}"}],
    }


def grafana_dashboard() -> dict[str, Any]:
    panels = [
        _panel(
            1,
            "Apps out of sync",
            'count(tether_app_info{sync_status="OutOfSync"} == 1) or vector(0)',
            "stat",
            0,
            0,
            6,
        ),
        _panel(
            2,
            "Apps degraded",
            'count(tether_app_info{health_status="Degraded"} == 1) or vector(0)',
            "stat",
            6,
            0,
            6,
        ),
        _panel(
            3, "Break-glass active", "sum(tether_break_glass_active) or vector(0)", "stat", 12, 0, 6
        ),
        _panel(
            4, "History rewritten", "sum(tether_history_rewritten) or vector(0)", "stat", 18, 0, 6
        ),
        _panel(
            5,
            "Out of sync for (seconds)",
            "tether_app_out_of_sync_since_seconds",
            "timeseries",
            0,
            8,
        ),
        _panel(
            6,
            "Drift events by cause",
            "sum by (cause) (rate(tether_drift_events_total[5m]))",
            "timeseries",
            12,
            8,
        ),
        _panel(
            7,
            "Syncs by phase",
            "sum by (phase) (increase(tether_app_sync_total[1h]))",
            "timeseries",
            0,
            16,
        ),
        _panel(
            8,
            "Reconcile p95 (s)",
            "histogram_quantile(0.95, sum by (le) (rate(tether_app_reconcile_seconds_bucket[5m])))",
            "timeseries",
            12,
            16,
        ),
        _panel(
            9,
            "Resources by status",
            "sum by (sync_status, health_status) (tether_app_resources)",
            "table",
            0,
            24,
            24,
        ),
    ]
    return {
        "title": "tether",
        "uid": "tether-overview",
        "schemaVersion": 39,
        "tags": ["tether", "gitops"],
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }
