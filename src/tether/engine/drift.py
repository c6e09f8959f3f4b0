"""`tether drift`: who changed what, when, and why it probably happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.core.drift_findings import DriftFinding
from tether.core.drift_view import AppDriftView, app_drift_views
from tether.errors import ClusterError
from tether.model.application import Application

from .compare import Comparison, Engine, compare, refresh


@dataclass
class DriftReport:
    app: Application
    comparison: Comparison
    findings: list[DriftFinding]


async def explain_drift(engine: Engine, app: Application) -> DriftReport:
    """Compare, then attribute every drifted path using managedFields and recent Events
    (of the cluster the app deploys to)."""
    engine = await engine.for_app(app)

    async def events(namespaces: set[str]) -> list[dict[str, Any]]:
        return await _events(engine, namespaces)

    result = await compare(engine, app, events=events)
    if result.error is not None:
        raise result.error
    return DriftReport(app, result, result.findings)


async def drift_view(engine: Engine, app: Application) -> AppDriftView:
    """Compare `app` now (storing the status, as `app diff` does) and say what differs."""
    result = await refresh(engine, app)
    sync = result.status.sync.status.value if result.status is not None else "Unknown"
    if result.error is not None or result.diff is None:
        message = result.error.message.splitlines()[0] if result.error is not None else ""
        return AppDriftView(app.namespace, app.name, result.revision, sync, (), message or "failed")
    views = app_drift_views(result.diff, result.findings)
    return AppDriftView(app.namespace, app.name, result.revision, sync, tuple(views))


async def _events(engine: Engine, namespaces: set[str]) -> list[dict[str, Any]]:
    """Recent core/v1 Events of the app's namespaces (extra evidence; optional)."""
    found: list[dict[str, Any]] = []
    for namespace in sorted(namespaces):
        try:
            found += await engine.kube.list("v1", "Event", namespace)
        except ClusterError:
            continue
    return found
