"""`tether drift`: who changed what, when, and why it probably happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.core.drift_findings import DriftFinding
from tether.errors import ClusterError
from tether.model.application import Application

from .compare import Comparison, Engine, compare


@dataclass
class DriftReport:
    app: Application
    comparison: Comparison
    findings: list[DriftFinding]


async def explain_drift(engine: Engine, app: Application) -> DriftReport:
    """Compare, then attribute every drifted path using managedFields and recent Events."""

    async def events(namespaces: set[str]) -> list[dict[str, Any]]:
        return await _events(engine, namespaces)

    result = await compare(engine, app, events=events)
    if result.error is not None:
        raise result.error
    return DriftReport(app, result, result.findings)


async def _events(engine: Engine, namespaces: set[str]) -> list[dict[str, Any]]:
    """Recent core/v1 Events of the app's namespaces (extra evidence; optional)."""
    found: list[dict[str, Any]] = []
    for namespace in sorted(namespaces):
        try:
            found += await engine.kube.list("v1", "Event", namespace)
        except ClusterError:
            continue
    return found
