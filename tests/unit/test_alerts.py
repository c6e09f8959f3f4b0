"""`tether alerts`: the PrometheusRule DESIGN §3 asks for, over metrics tether exports."""

from __future__ import annotations

import re

from tether.core.alerts import grafana_dashboard, prometheus_rule

DESIGN_METRICS = {
    "tether_app_info",
    "tether_app_out_of_sync_since_seconds",
    "tether_app_resources",
    "tether_app_sync_total",
    "tether_app_reconcile_seconds",
    "tether_drift_events_total",
    "tether_break_glass_active",
    "tether_history_rewritten",
}


def test_rule_has_each_alert_with_its_duration_and_severity() -> None:
    rules = prometheus_rule()["spec"]["groups"][0]["rules"]
    got = {(r["alert"], r["for"], r["labels"]["severity"]) for r in rules}
    assert got == {
        ("TetherAppOutOfSync", "5m", "warning"),
        ("TetherAppOutOfSyncPage", "15m", "page"),
        ("TetherAppDegraded", "3m", "critical"),
        ("TetherBreakGlassActive", "0m", "warning"),
        ("TetherHistoryRewritten", "0m", "critical"),
    }


def test_every_expression_uses_only_design_metrics() -> None:
    exprs = [r["expr"] for r in prometheus_rule()["spec"]["groups"][0]["rules"]]
    exprs += [t["expr"] for p in grafana_dashboard()["panels"] for t in p["targets"]]
    used = {m.removesuffix("_bucket") for e in exprs for m in re.findall(r"tether_[a-z_]+", e)}
    assert used <= DESIGN_METRICS and used
