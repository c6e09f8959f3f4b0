"""Strimzi: Kafka and the other kafka.strimzi.io kinds (`Ready` / `NotReady`)."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import conditions_of, generation_behind, is_status, kind, message_of
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "kafka.strimzi.io"


def strimzi_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    if generation_behind(obj):
        return progressing(f"Waiting for the operator to observe the {kind(obj)}")
    not_ready = found.get("NotReady")
    # NotReady/Creating is a cluster being set up; any other NotReady reason is a failure.
    if is_status(not_ready, "True") and (not_ready or {}).get("reason") != "Creating":
        return degraded(message_of(not_ready, f"{kind(obj)} is not ready"))
    ready = found.get("Ready")
    if is_status(ready, "True"):
        return healthy()
    if is_status(ready, "False") and (ready or {}).get("reason") not in (None, "Creating"):
        return degraded(message_of(ready, f"{kind(obj)} is not ready"))
    return progressing(f"Waiting for {kind(obj)}")


RULES = {
    (GROUP, name): strimzi_health
    for name in (
        "Kafka",
        "KafkaTopic",
        "KafkaUser",
        "KafkaConnect",
        "KafkaConnector",
        "KafkaMirrorMaker2",
        "KafkaBridge",
    )
}
