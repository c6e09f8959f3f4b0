"""Health statuses and the result of one assessment."""

from __future__ import annotations

from dataclasses import dataclass

from tether.model.status import HealthStatusCode

# The health enum is the status vocabulary's (model/status.py); core calls it
# HealthStatus, the name its rules read best with.
HealthStatus = HealthStatusCode


def worst(*statuses: HealthStatus) -> HealthStatus:
    """The most severe of `statuses`; Healthy when none are given."""
    return max(statuses, key=lambda status: status.severity, default=HealthStatus.HEALTHY)


@dataclass(frozen=True)
class ResourceHealth:
    """The health of one object, with a message for people."""

    status: HealthStatus
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        """Wire form for Application `.status` (`message` left out when empty)."""
        out = {"status": self.status.value}
        if self.message:
            out["message"] = self.message
        return out


def healthy(message: str = "") -> ResourceHealth:
    return ResourceHealth(HealthStatus.HEALTHY, message)


def progressing(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.PROGRESSING, message)


def degraded(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.DEGRADED, message)


def suspended(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.SUSPENDED, message)


def unknown(message: str) -> ResourceHealth:
    return ResourceHealth(HealthStatus.UNKNOWN, message)


def health_of_missing() -> ResourceHealth:
    """Health of an object that Git wants but the cluster does not have.

    Applies to every kind, including those without a health notion (a missing ConfigMap
    is still a problem for the application).
    """
    return ResourceHealth(HealthStatus.MISSING, "Resource does not exist in the cluster")
