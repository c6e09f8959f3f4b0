"""cert-manager: Certificate, Issuer, ClusterIssuer (and CertificateRequest)."""

from __future__ import annotations

from tether.core.paths import ObjView

from ..readers import condition_stale, conditions_of, is_status, message_of
from ..status import ResourceHealth, degraded, healthy, progressing

GROUP = "cert-manager.io"

# Ready=False reasons that mean "issuance under way", not a failure: cert-manager sets
# them while an order is pending or the Secret is being (re)issued.
_ISSUING_REASONS = frozenset({"Issuing", "InProgress", "Pending", "DoesNotExist", "Requested"})


def certificate_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    # Issuing first: during a renewal Ready may still be False (or True for the old cert).
    issuing = found.get("Issuing")
    if is_status(issuing, "True"):
        return progressing(message_of(issuing, "Issuing certificate"))
    ready = found.get("Ready")
    if ready is None:
        return progressing("Waiting for certificate")
    if condition_stale(ready, obj):
        return progressing("Waiting for the Ready condition to reflect the latest spec")
    if is_status(ready, "True"):
        return healthy(message_of(ready))
    if is_status(ready, "False"):
        if str(ready.get("reason") or "") in _ISSUING_REASONS:
            return progressing(message_of(ready, "Issuing certificate"))
        return degraded(message_of(ready, "Certificate is not ready"))
    return progressing(message_of(ready, "Waiting for certificate"))


def issuer_health(obj: ObjView) -> ResourceHealth:
    ready = conditions_of(obj).get("Ready")
    if ready is None or condition_stale(ready, obj):
        return progressing(f"Initializing {obj.get('kind') or 'issuer'}")
    if is_status(ready, "True"):
        return healthy(message_of(ready))
    if is_status(ready, "False"):
        return degraded(message_of(ready, "Issuer is not ready"))
    return progressing(message_of(ready, "Initializing issuer"))


def certificate_request_health(obj: ObjView) -> ResourceHealth:
    found = conditions_of(obj)
    for failed in ("Denied", "InvalidRequest"):
        if is_status(found.get(failed), "True"):
            return degraded(message_of(found[failed], f"CertificateRequest is {failed}"))
    ready = found.get("Ready")
    if is_status(ready, "True"):
        return healthy(message_of(ready))
    if is_status(ready, "False") and (ready or {}).get("reason") == "Failed":
        return degraded(message_of(ready, "CertificateRequest failed"))
    return progressing(message_of(ready, "Waiting for the certificate to be issued"))


RULES = {
    (GROUP, "Certificate"): certificate_health,
    (GROUP, "Issuer"): issuer_health,
    (GROUP, "ClusterIssuer"): issuer_health,
    (GROUP, "CertificateRequest"): certificate_request_health,
}
