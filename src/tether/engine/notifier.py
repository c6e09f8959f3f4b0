"""Delivering notifications: the controller publishes what happened, this sends it to
the Providers of the Alerts that want it, in a task of its own behind a bounded queue, so
a receiver that is slow or down never slows a reconcile.

For each event and each Alert that selects the app and the trigger at its severity:
exclusion regexes (run with a hard time limit: they are user input), then dedupe (the
same app, trigger, revision and objects within 10 minutes is sent once), then drift of
one incident is grouped (drift-detected events of an app within GROUP_SECONDS become one
message), then the Alert's rate limit (past it, one "N more suppressed" summary once
there is room). A delivery is retried with backoff on a 5xx, a timeout or a refused
connection, never on a 4xx; one that still fails is logged (without the URL), counted in
`tether_notifications_total{provider,result}` and set as the Alert's `Delivering`
condition.

The Provider's URL and token are read from its Secret for each delivery (a rotated token
is used at once) and appear nowhere: not in logs, Events, conditions or metrics.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import regex
import urllib3

from tether.core.metrics import ControllerCounters
from tether.core.notify_event import NotificationEvent, merge_drift
from tether.core.notify_formats import payload
from tether.core.notify_policy import Dedupe, RateLimit
from tether.errors import InputError, TetherError
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.notification import (
    ALERT_KIND,
    NOTIFICATION_VERSION,
    PROVIDER_KIND,
    Alert,
    Provider,
    Trigger,
    parse_alert,
    parse_provider,
)

from .compare import now_rfc3339
from .events import NORMAL, NOTIFICATION_SENT, record_event

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
HELD = (Trigger.HEALTH_DEGRADED, Trigger.OUT_OF_SYNC)
REVERT_SUBJECT = (
    "Revert "  # the subject of every commit `tether revert` makes  # sent only once they last `for`
)
GROUP_SECONDS = 2.0
CONFIG_SECONDS = 10.0  # how often Providers and Alerts are re-read
REGEX_SECONDS = 0.05  # per exclusion pattern and message
USER_AGENT = "tether-notifier"


@dataclass(frozen=True)
class Published:
    event: NotificationEvent
    labels: Mapping[str, str]  # the Application's labels (Alert selectors)
    app: Application | None = None  # where the NotificationSent Event goes


@dataclass(frozen=True)
class Delivery:
    ok: bool
    attempts: int
    detail: str  # one line, no URL: "HTTP 500", "timed out", "delivered"


@dataclass
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.5  # seconds before the 2nd attempt, doubled each time


@dataclass
class _Pending:
    events: list[NotificationEvent] = field(default_factory=list)
    due: float = 0.0


CommitLookup = Callable[[NotificationEvent], Awaitable[tuple[str, str]]]


class Notifier:
    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        counters: ControllerCounters,
        *,
        commit_of: CommitLookup | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.namespace = namespace  # Providers, Alerts and their Secrets live here
        self.counters = counters
        self.commit_of = commit_of
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.queue: asyncio.Queue[Published] = asyncio.Queue(QUEUE_SIZE)
        self.alerts: list[Alert] = []
        self.providers: dict[str, Provider] = {}
        self._loaded_at = -CONFIG_SECONDS
        self._dedupe = Dedupe()
        self._rates: dict[str, RateLimit] = {}
        self._grouped: dict[tuple[str, str, str], _Pending] = {}
        # (alert, namespace, app, trigger): a held state and when it is due; the states
        # whose message went out (only those get a `recovered`)
        self._held: dict[tuple[str, str, str, Trigger], tuple[float, NotificationEvent]] = {}
        self._announced: set[tuple[str, str, str, Trigger]] = set()
        self._last_suppressed: dict[str, NotificationEvent] = {}
        self._apps: dict[tuple[str, str], Application] = {}  # the last seen of each app
        self._written: dict[tuple[str, str], tuple[bool, str]] = {}  # Alert -> condition
        self._pool = urllib3.PoolManager(num_pools=8, retries=False)

    # -- the controller's side ----------------------------------------------------

    def publish(
        self,
        event: NotificationEvent,
        labels: Mapping[str, str] | None = None,
        app: Application | None = None,
    ) -> None:
        """Queue an event; never waits (a full queue drops it, counted)."""
        if not event.at:
            event = replace(event, at=now_rfc3339())
        try:
            self.queue.put_nowait(Published(event, dict(labels or {}), app))
        except asyncio.QueueFull:
            self.counters.notifications[("", "dropped")] += 1

    # -- the worker -----------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await self._reload()
            try:
                published = await asyncio.wait_for(self.queue.get(), timeout=0.5)
            except TimeoutError:
                published = None
            if published is not None:
                await self._route(published)
            await self._flush_due()

    async def _reload(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._loaded_at < CONFIG_SECONDS:
            return
        self._loaded_at = now
        try:
            raw_alerts = await self.kube.list(NOTIFICATION_VERSION, ALERT_KIND, self.namespace)
            raw_providers = await self.kube.list(
                NOTIFICATION_VERSION, PROVIDER_KIND, self.namespace
            )
        except TetherError as exc:
            log.debug("notifications: cannot read Alerts/Providers: %s", exc.message)
            return
        alerts = []
        for raw in raw_alerts:
            try:
                alerts.append(parse_alert(raw))
            except TetherError as exc:
                log.warning("notifications: %s", exc.message)
                await self._condition(raw, False, "InvalidSpec", exc.message)
        providers = {}
        for raw in raw_providers:
            try:
                provider = parse_provider(raw)
            except TetherError as exc:
                log.warning("notifications: %s", exc.message)
                continue
            providers[provider.name] = provider
        self.alerts, self.providers = alerts, providers

    async def _route(self, published: Published) -> None:
        if published.app is not None:
            self._apps[(published.event.namespace, published.event.app)] = published.app
        if not self.alerts:
            return  # nobody to tell: not even the commit is looked up
        event = await self._with_commit(published.event)
        await self._route_as(event, published.labels)
        if event.trigger is Trigger.SYNC_SUCCEEDED and event.commit_subject.startswith(
            REVERT_SUBJECT
        ):
            # A sync of the commit `tether revert` made is a revert too (the Alerts that
            # want `revert` hear of it, whoever ran the revert).
            await self._route_as(replace(event, trigger=Trigger.REVERT), published.labels)

    async def _with_commit(self, event: NotificationEvent) -> NotificationEvent:
        if self.commit_of is None or not event.revision or event.commit_subject:
            return event
        subject, author = await self.commit_of(event)
        return replace(event, commit_subject=subject, commit_author=author)

    async def _route_as(self, event: NotificationEvent, labels: Mapping[str, str]) -> None:
        for alert in self.alerts:
            if not alert.applications.selects(event.app, labels):
                continue
            if not alert.wants(event.trigger, event.level) or self._excluded(alert, event):
                continue
            if event.trigger is Trigger.DRIFT_DETECTED:
                key = (alert.name, event.namespace, event.app)
                pending = self._grouped.setdefault(key, _Pending(due=self.clock() + GROUP_SECONDS))
                pending.events.append(event)
                continue
            state = (alert.name, event.namespace, event.app)
            if event.trigger in HELD:
                wait = alert.health_degraded_for
                if event.trigger is Trigger.OUT_OF_SYNC:
                    wait = alert.out_of_sync_for
                self._held[(*state, event.trigger)] = (self.clock() + wait, event)
                continue
            if event.trigger is Trigger.RECOVERED and event.recovers is not None:
                ended = (*state, event.recovers)
                if self._held.pop(ended, None) is not None or ended not in self._announced:
                    continue  # it ended before it was worth a message: nothing to clear
                self._announced.discard(ended)
            elif event.trigger is not Trigger.RECOVERED:
                self._announced.add((*state, event.trigger))
            await self._admit(alert, event)

    async def _flush_due(self) -> None:
        now = self.clock()
        for held in [k for k, (due, _) in self._held.items() if due <= now]:
            _, event = self._held.pop(held)
            alert = self._alert(held[0])
            if alert is not None:
                self._announced.add(held)
                await self._admit(alert, event)
        for grouped in [k for k, p in self._grouped.items() if p.due <= now]:
            pending = self._grouped.pop(grouped)
            alert = self._alert(grouped[0])
            if alert is not None:
                await self._admit(alert, merge_drift(pending.events))
        for alert in self.alerts:
            rate = self._rates.get(alert.name)
            count = rate.summary_due(now) if rate is not None else 0
            last = self._last_suppressed.pop(alert.name, None) if count else None
            if last is not None:
                summary = replace(
                    last,
                    message=f"{count} more events of Alert {alert.name} were not sent (rate"
                    f" limit {alert.rate_limit}/min); the last: {last.message}",
                    suppressed=count,
                    changed=(),
                    drift=(),
                    at=now_rfc3339(),
                )
                await self._send(alert, summary)

    def _alert(self, name: str) -> Alert | None:
        return next((a for a in self.alerts if a.name == name), None)

    async def _admit(self, alert: Alert, event: NotificationEvent) -> None:
        now = self.clock()
        if event.trigger is Trigger.RECOVERED and event.recovers is not None:
            self._dedupe.forget((alert.name, event.namespace, event.app, event.recovers))
        key = (alert.name, event.namespace, event.app, event.trigger, event.revision)
        if not self._dedupe.first((*key, event.object_keys()), now):
            self.counters.notifications[("", "deduplicated")] += 1
            return
        rate = self._rates.setdefault(alert.name, RateLimit(alert.rate_limit))
        rate.limit = alert.rate_limit
        if not rate.take(now):
            self.counters.notifications[("", "suppressed")] += 1
            self._last_suppressed[alert.name] = event
            return
        await self._send(alert, replace(event, summary=alert.summary))

    def _excluded(self, alert: Alert, event: NotificationEvent) -> bool:
        text = f"{event.title} {event.message}"[:4096]
        for pattern in alert.exclusions:
            try:
                if regex.search(pattern, text, timeout=REGEX_SECONDS):
                    self.counters.notifications[("", "excluded")] += 1
                    return True
            except (regex.error, TimeoutError):
                # A pattern that does not compile or runs away excludes nothing.
                log.warning("notifications: Alert %s: exclusion %r skipped", alert.name, pattern)
        return False

    async def _send(self, alert: Alert, event: NotificationEvent) -> Delivery:
        provider = self.providers.get(alert.provider)
        if provider is None:
            delivery = Delivery(False, 0, f"Provider {alert.provider} not found")
            await self._record(alert, "", event, delivery)
            return delivery
        event = await self._with_commit(event)
        try:
            address, token = await self._secret_of(provider)
        except TetherError as exc:
            delivery = Delivery(False, 0, exc.message.splitlines()[0])
        else:
            body = orjson.dumps(payload(provider.type, event, provider.channel))
            delivery = await self._post(provider, address, token, body)
        await self._record(alert, provider.type, event, delivery)
        return delivery

    async def _secret_of(self, provider: Provider) -> tuple[str, str]:
        address, token = provider.address, ""
        if provider.secret_ref is not None:
            name = provider.secret_ref.name
            secret = await self.kube.get("v1", "Secret", name, provider.namespace)
            if secret is None:
                raise InputError(f"Provider {provider.name}: Secret {name} not found")
            address = _secret_value(secret, "address", provider) or address
            token = _secret_value(secret, "token", provider)
        if not address.lower().startswith(("http://", "https://")):
            raise InputError(f"Provider {provider.name}: no http(s) address")
        return address, token

    async def _post(self, provider: Provider, address: str, token: str, body: bytes) -> Delivery:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if provider.type == "generic-hmac":
            digest = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Signature"] = f"sha256={digest}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        detail = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                status = await asyncio.to_thread(
                    self._request, address, body, headers, provider.timeout
                )
            except urllib3.exceptions.NewConnectionError:  # (a ConnectTimeoutError subclass)
                detail = "not reachable (connection refused)"
            except urllib3.exceptions.TimeoutError:
                detail = f"timed out after {provider.timeout:g}s"
            except urllib3.exceptions.HTTPError as exc:
                detail = f"not reachable ({type(exc).__name__})"
            else:
                if status < 300:
                    return Delivery(True, attempt, "delivered")
                detail = f"HTTP {status}"
                if status < 500:
                    return Delivery(False, attempt, detail)  # the receiver refused it
            if attempt < self.retry.attempts:
                await asyncio.sleep(self.retry.backoff * 2 ** (attempt - 1))
        return Delivery(False, self.retry.attempts, detail)

    def _request(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        response = self._pool.request(
            "POST",
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            redirect=False,  # a redirect could send the body (and signature) elsewhere
            preload_content=False,
        )
        try:
            response.read(64 * 1024)  # the receiver's answer is not needed: bounded
        finally:
            response.release_conn()
        return int(response.status)

    async def _record(
        self, alert: Alert, kind: str, event: NotificationEvent, delivery: Delivery
    ) -> None:
        result = "success" if delivery.ok else "failed"
        app = self._apps.get((event.namespace, event.app))
        if delivery.ok and app is not None:
            # What `tether app get` shows as the app's last notification.
            text = f"{event.trigger.value} sent through Alert {alert.name} ({kind})"
            await record_event(self.kube, app, NORMAL, NOTIFICATION_SENT, text)
        if not delivery.ok:
            log.warning(
                "notifications: Alert %s: %s for %s/%s not delivered: %s",
                alert.name,
                event.trigger.value,
                event.namespace,
                event.app,
                delivery.detail,
            )
        message = (
            f"{event.trigger.value} for {event.namespace}/{event.app} delivered"
            if delivery.ok
            else f"{event.trigger.value} for {event.namespace}/{event.app}: {delivery.detail}"
            f" after {delivery.attempts} attempt(s)"
        )
        raw = {"metadata": {"namespace": alert.namespace, "name": alert.name}}
        reason = "Delivered" if delivery.ok else "DeliveryFailed"
        await self._condition(raw, delivery.ok, reason, message)
        # Counted last: a count means the delivery's Event and condition are written too.
        self.counters.notifications[(kind, result)] += 1

    async def _condition(self, raw: Mapping[str, Any], ok: bool, reason: str, text: str) -> None:
        """Set the Alert's Delivering condition when it changes (not on every message)."""
        meta = raw.get("metadata") or {}
        alert_key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if self._written.get(alert_key) == (ok, reason):
            return
        self._written[alert_key] = (ok, reason)
        condition = {
            "type": "Delivering",
            "status": "True" if ok else "False",
            "reason": reason,
            "message": text[:1000],
            "lastTransitionTime": now_rfc3339(),
        }
        with contextlib.suppress(TetherError):
            await self.kube.patch(
                NOTIFICATION_VERSION,
                ALERT_KIND,
                str(meta.get("name", "")),
                {"status": {"conditions": [condition]}},
                namespace=str(meta.get("namespace", "")),
                field_manager="tether",
                subresource="status",
            )

    async def send_test(self, alert_name: str) -> Delivery:
        """`tether notify test ALERT`: a sample message through the Alert's Provider."""
        await self._reload(force=True)
        alert = next((a for a in self.alerts if a.name == alert_name), None)
        if alert is None:
            raise InputError(f"Alert {self.namespace}/{alert_name} not found or invalid")
        sample = NotificationEvent(
            trigger=Trigger.SYNC_SUCCEEDED,
            namespace=self.namespace,
            app="tether-notify-test",
            message=f"a test message of Alert {alert_name}: delivery works",
            initiated_by="tether notify test",
            at=now_rfc3339(),
        )
        return await self._send(alert, sample)

    def close(self) -> None:
        self._pool.clear()


def _secret_value(secret: Mapping[str, Any], key: str, provider: Provider) -> str:
    """One key of a Secret as text; a malformed value is named, never echoed."""
    text = (secret.get("stringData") or {}).get(key)
    if text is not None:
        return str(text).strip()
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        return ""
    try:
        return base64.b64decode(str(encoded), validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        what = f"Provider {provider.name}: Secret key {key!r}"
        raise InputError(f"{what} is not base64 UTF-8") from None


__all__ = ["Delivery", "Notifier", "Published", "RetryPolicy"]
