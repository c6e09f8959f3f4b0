"""Application health: the worst health of its resources."""

from __future__ import annotations

from collections.abc import Iterable

from tether.model.keys import ResourceKey

from .status import HealthStatus, ResourceHealth, healthy


def aggregate_health(
    resources: Iterable[tuple[ResourceKey, ResourceHealth | None]],
) -> ResourceHealth:
    """Application health: the worst resource health, naming the object that has it.

    Resources without health (None) do not count; with none left the app is Healthy.
    Ties go to the smallest key, so the message does not depend on input order.
    """
    worst_key: ResourceKey | None = None
    worst_health: ResourceHealth | None = None
    tied = 0
    for key, health in resources:
        if health is None:
            continue
        if worst_health is None or health.status.severity > worst_health.status.severity:
            worst_key, worst_health, tied = key, health, 1
        elif health.status == worst_health.status:
            tied += 1
            if worst_key is None or key < worst_key:
                worst_key, worst_health = key, health
    if worst_health is None or worst_health.status is HealthStatus.HEALTHY:
        return healthy()
    message = f"{worst_key} is {worst_health.status.value}"
    if worst_health.message:
        message += f": {worst_health.message}"
    if tied > 1:
        message += f" (and {tied - 1} more {worst_health.status.value})"
    return ResourceHealth(worst_health.status, message)
