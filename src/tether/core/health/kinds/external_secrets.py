"""external-secrets: ExternalSecret, ClusterExternalSecret, SecretStore,
ClusterSecretStore, PushSecret: one `Ready` condition each."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import condition_stale, conditions_of, is_status, kind, message_of
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "external-secrets.io"


def ready_condition_health(obj: ObjView) -> ResourceHealth:
    ready = conditions_of(obj).get("Ready")
    if ready is None or condition_stale(ready, obj):
        return progressing(f"Waiting for {kind(obj)}")
    if is_status(ready, "True"):
        return healthy(message_of(ready))
    if is_status(ready, "False"):
        return degraded(message_of(ready, f"{kind(obj)} is not ready"))
    return progressing(message_of(ready, f"Waiting for {kind(obj)}"))


RULES = {
    (GROUP, name): ready_condition_health
    for name in (
        "ExternalSecret",
        "ClusterExternalSecret",
        "SecretStore",
        "ClusterSecretStore",
        "PushSecret",
    )
}
