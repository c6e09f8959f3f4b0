"""`Provider` and `Alert` (group tether.dev): where notifications go and which events
of which Applications are sent there. Shapes follow Flux's notification API where the
concept is the same (`providerRef`, `secretRef`, `suspend`, `exclusionList`, `summary`).

A Provider's URL and tokens live in a Secret (`secretRef`, keys `address`, `token`),
never in the spec: the spec's `address` is refused when it holds credentials, so nothing
secret can end up in `kubectl get -o yaml`, an Event or a log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tether.errors import InputError

from .names import API_GROUP

PROVIDER_KIND = "Provider"
ALERT_KIND = "Alert"
NOTIFICATION_VERSION = f"{API_GROUP}/v1alpha1"

PROVIDER_TYPES = ("generic", "generic-hmac", "slack", "msteams", "discord", "alertmanager")
MAX_TIMEOUT_SECONDS = 60.0
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_EXCLUSION_PATTERN = 256
MAX_EXCLUSIONS = 20


class Trigger(StrEnum):
    """What happened; the stable event names messages and Alerts use."""

    SYNC_SUCCEEDED = "sync-succeeded"
    SYNC_FAILED = "sync-failed"
    HEALTH_DEGRADED = "health-degraded"
    OUT_OF_SYNC = "out-of-sync"
    DRIFT_DETECTED = "drift-detected"
    SELF_HEAL = "self-heal"
    SELF_HEAL_FAILING = "self-heal-failing"
    AUTO_SYNC_REFUSED = "auto-sync-refused"
    HISTORY_REWRITTEN = "history-rewritten"
    BREAK_GLASS = "break-glass"
    REVERT = "revert"
    RECOVERED = "recovered"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "critical": 2}[self.value]


# How bad each trigger is by default (an Alert's `severity` is the least it sends).
TRIGGER_SEVERITY = {
    Trigger.SYNC_SUCCEEDED: Severity.INFO,
    Trigger.SYNC_FAILED: Severity.CRITICAL,
    Trigger.HEALTH_DEGRADED: Severity.CRITICAL,
    Trigger.OUT_OF_SYNC: Severity.WARNING,
    Trigger.DRIFT_DETECTED: Severity.WARNING,
    Trigger.SELF_HEAL: Severity.WARNING,
    Trigger.SELF_HEAL_FAILING: Severity.CRITICAL,
    Trigger.AUTO_SYNC_REFUSED: Severity.WARNING,
    Trigger.HISTORY_REWRITTEN: Severity.CRITICAL,
    Trigger.BREAK_GLASS: Severity.CRITICAL,
    Trigger.REVERT: Severity.WARNING,
    Trigger.RECOVERED: Severity.INFO,
}


@dataclass(frozen=True)
class SecretRef:
    name: str


@dataclass(frozen=True)
class Provider:
    namespace: str
    name: str
    type: str
    address: str = ""  # without credentials; the Secret's `address` wins
    secret_ref: SecretRef | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    channel: str = ""  # slack: where to post, when the webhook allows choosing


@dataclass(frozen=True)
class ApplicationSelector:
    names: tuple[str, ...] = ("*",)  # "*": every Application of the Alert's namespace
    match_labels: Mapping[str, str] = field(default_factory=dict)

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        named = "*" in self.names or name in self.names
        return named and all(labels.get(k) == v for k, v in self.match_labels.items())


@dataclass(frozen=True)
class Alert:
    namespace: str
    name: str
    provider: str  # providerRef.name, same namespace
    applications: ApplicationSelector
    triggers: frozenset[Trigger]
    severity: Severity = Severity.INFO
    summary: str = ""
    exclusions: tuple[str, ...] = ()  # regexes over the message text
    suspend: bool = False
    rate_limit: int = 10  # messages per minute; past it one "N more suppressed" summary
    health_degraded_for: float = 180.0
    out_of_sync_for: float = 300.0

    def wants(self, trigger: Trigger, severity: Severity) -> bool:
        return not self.suspend and trigger in self.triggers and severity.rank >= self.severity.rank


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str, what: str) -> float:
    """Go-style `1h2m3s`, `90s`, `5m` (as Flux writes durations)."""
    match = _DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise InputError(f"{what}: {text!r} is not a duration (e.g. 30s, 5m, 1h)")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def _meta(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _spec(obj: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise InputError(f"{what}: spec must be a mapping")
    return spec


def _text(spec: Mapping[str, Any], key: str, what: str, default: str = "") -> str:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InputError(f"{what}: spec.{key} must be a string")
    return value


def parse_provider(obj: Mapping[str, Any]) -> Provider:
    namespace, name = _meta(obj)
    what = f"Provider {namespace}/{name}"
    spec = _spec(obj, what)
    kind = _text(spec, "type", what)
    if kind not in PROVIDER_TYPES:
        raise InputError(f"{what}: spec.type {kind!r} is not one of {', '.join(PROVIDER_TYPES)}")
    address = _text(spec, "address", what)
    if re.match(r"^[a-z][a-z0-9+.-]*://[^/?#]*@", address, re.IGNORECASE):
        raise InputError(
            f"{what}: spec.address holds credentials",
            hint="put the URL in the Secret named by spec.secretRef (key `address`)",
        )
    if address and not re.match(r"^https?://", address, re.IGNORECASE):
        raise InputError(f"{what}: spec.address must be an http(s) URL")
    ref = spec.get("secretRef")
    secret_ref = None
    if ref is not None:
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str) or not ref["name"]:
            raise InputError(f"{what}: spec.secretRef needs a name")
        secret_ref = SecretRef(ref["name"])
    if not address and secret_ref is None:
        raise InputError(f"{what}: give spec.secretRef (key `address`) or spec.address")
    if kind == "generic-hmac" and secret_ref is None:
        raise InputError(f"{what}: generic-hmac needs spec.secretRef with the key `token`")
    timeout = DEFAULT_TIMEOUT_SECONDS
    if spec.get("timeout") is not None:
        timeout = parse_duration(_text(spec, "timeout", what), f"{what}: spec.timeout")
        if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise InputError(f"{what}: spec.timeout must be above 0 and at most 60s")
    if spec.get("proxy"):
        raise InputError(f"{what}: spec.proxy is not supported (notifications go direct)")
    return Provider(
        namespace=namespace,
        name=name,
        type=kind,
        address=address,
        secret_ref=secret_ref,
        timeout=timeout,
        channel=_text(spec, "channel", what),
    )


def _selector(raw: Any, what: str) -> ApplicationSelector:
    if raw is None:
        return ApplicationSelector()
    if not isinstance(raw, Mapping):
        raise InputError(f"{what}: spec.applications must be a mapping (names, matchLabels)")
    names = raw.get("names", ["*"])
    labels = raw.get("matchLabels") or {}
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{what}: spec.applications.names must be a list of names or '*'")
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise InputError(f"{what}: spec.applications.matchLabels must map strings to strings")
    return ApplicationSelector(tuple(names) or ("*",), dict(labels))


def parse_alert(obj: Mapping[str, Any]) -> Alert:
    namespace, name = _meta(obj)
    what = f"Alert {namespace}/{name}"
    spec = _spec(obj, what)
    ref = spec.get("providerRef")
    if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str) or not ref["name"]:
        raise InputError(f"{what}: spec.providerRef.name is required")
    raw_triggers = spec.get("triggers")
    if not isinstance(raw_triggers, list) or not raw_triggers:
        names = ", ".join(t.value for t in Trigger)
        raise InputError(f"{what}: spec.triggers must list at least one of {names}")
    triggers: set[Trigger] = set()
    for raw in raw_triggers:
        try:
            triggers.add(Trigger(raw))
        except ValueError:
            raise InputError(f"{what}: unknown trigger {raw!r}") from None
    try:
        severity = Severity(_text(spec, "severity", what, "info"))
    except ValueError:
        raise InputError(f"{what}: spec.severity must be info, warning or critical") from None
    exclusions = spec.get("exclusionList") or []
    if (
        not isinstance(exclusions, list)
        or len(exclusions) > MAX_EXCLUSIONS
        or not all(isinstance(x, str) and len(x) <= MAX_EXCLUSION_PATTERN for x in exclusions)
    ):
        raise InputError(
            f"{what}: spec.exclusionList must be at most {MAX_EXCLUSIONS} regexes of at most"
            f" {MAX_EXCLUSION_PATTERN} characters"
        )
    rate = spec.get("rateLimit", 10)
    if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 1000:
        raise InputError(f"{what}: spec.rateLimit must be 1..1000 messages per minute")
    waits = spec.get("for") or {}
    if not isinstance(waits, Mapping):
        raise InputError(f"{what}: spec.for must map health-degraded/out-of-sync to durations")
    return Alert(
        namespace=namespace,
        name=name,
        provider=ref["name"],
        applications=_selector(spec.get("applications"), what),
        triggers=frozenset(triggers),
        severity=severity,
        summary=_text(spec, "summary", what)[:500],
        exclusions=tuple(exclusions),
        suspend=spec.get("suspend") is True,
        rate_limit=rate,
        health_degraded_for=_wait(waits, "health-degraded", 180.0, what),
        out_of_sync_for=_wait(waits, "out-of-sync", 300.0, what),
    )


def _wait(waits: Mapping[str, Any], trigger: str, default: float, what: str) -> float:
    raw = waits.get(trigger)
    if raw is None:
        return default
    if not isinstance(raw, str):
        raise InputError(f"{what}: spec.for.{trigger} must be a duration such as 3m")
    return parse_duration(raw, f"{what}: spec.for.{trigger}")


__all__ = [
    "ALERT_KIND",
    "NOTIFICATION_VERSION",
    "PROVIDER_KIND",
    "PROVIDER_TYPES",
    "TRIGGER_SEVERITY",
    "Alert",
    "ApplicationSelector",
    "Provider",
    "SecretRef",
    "Severity",
    "Trigger",
    "parse_alert",
    "parse_duration",
    "parse_provider",
]
