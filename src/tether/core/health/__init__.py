"""Health assessment of live objects and of a whole application (DESIGN §3 "Health").

Pure: objects are plain dicts in Kubernetes wire form, nothing here talks to a cluster or
reads a clock. Built-in rules cover the kinds whose readiness Kubernetes itself does not
summarise in one condition (workloads, pods, networking, storage and batch, the API's own
objects) and the custom resources platform teams run most (`kinds`); every other kind
falls back to the kstatus conventions. Operators override any of them per group/kind with
a custom jq or CEL rule (`custom`, `cel`). `dispatch` picks the rule; docs/health.md
describes each one and where tether parts from Argo CD and kstatus.
"""

from .aggregate import aggregate_health
from .cel import CelHealthExpressions
from .custom import CustomHealthRule, parse_health_rules
from .dispatch import HealthChecker, assess_health, builtin_health, has_builtin_rule, matching_rule
from .status import HealthStatus, ResourceHealth, health_of_missing, worst

__all__ = [
    "CelHealthExpressions",
    "CustomHealthRule",
    "HealthChecker",
    "HealthStatus",
    "ResourceHealth",
    "aggregate_health",
    "assess_health",
    "builtin_health",
    "has_builtin_rule",
    "health_of_missing",
    "matching_rule",
    "parse_health_rules",
    "worst",
]
