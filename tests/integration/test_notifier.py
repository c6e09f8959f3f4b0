"""The notifier against real receivers on 127.0.0.1 and real Provider/Alert/Secret objects
on the local control plane: the exact body each service accepts, Flux's HMAC signature,
retries on 5xx and none on 4xx, a receiver that is down (counted, the Alert's condition),
dedupe, drift of one incident grouped, the rate limit with one summary, and no URL or
token anywhere but the request itself."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.support.controller import free_port
from tests.support.receivers import Receiver, flux_signature_valid, register_receiver
from tether.core.metrics import ControllerCounters
from tether.core.notify_event import ChangedObject, DriftedObject, NotificationEvent
from tether.engine.notifier import Notifier, RetryPolicy
from tether.kube import KubeClient
from tether.model.notification import NOTIFICATION_VERSION, Trigger

pytestmark = pytest.mark.cluster

TOKEN = "hmac-token-never-shown-31337"


async def setup(kube: KubeClient, namespace: str, kind: str, address: str, **alert: Any) -> None:
    spec = {"triggers": ["sync-succeeded", "drift-detected"], "timeout": "2s"} | alert
    await register_receiver(kube, namespace, kind, address, TOKEN, **spec)


def synced(namespace: str, revision: str = "a" * 40) -> NotificationEvent:
    return NotificationEvent(
        trigger=Trigger.SYNC_SUCCEEDED,
        namespace=namespace,
        app="web",
        message="synced 2 objects",
        revision=revision,
        commit_subject="raise replicas",
        commit_author="Ada",
        initiated_by="controller/auto-sync",
        changed=(ChangedObject("configured", "Deployment", namespace, "web"),),
        at="2026-12-02T10:00:00Z",
    )


def drifted(namespace: str, name: str, path: str = "/data/mode") -> NotificationEvent:
    return NotificationEvent(
        trigger=Trigger.DRIFT_DETECTED,
        namespace=namespace,
        app="web",
        message=f"ConfigMap {namespace}/{name}: {path} changed by kubectl-edit (manual-edit)",
        drift=(
            DriftedObject("ConfigMap", namespace, name, (path,), "kubectl-edit", "manual-edit", ""),
        ),
        at="2026-12-02T10:00:00Z",
    )


async def run_until(notifier: Notifier, done: Any, timeout: float = 20.0) -> None:
    worker = asyncio.create_task(notifier.run())
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done():
            assert loop.time() < deadline, "the receiver did not get what was expected"
            await asyncio.sleep(0.1)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        notifier.close()


async def alert_condition(kube: KubeClient, namespace: str) -> dict[str, Any]:
    alert = await kube.get(NOTIFICATION_VERSION, "Alert", "ops", namespace)
    assert alert is not None
    return dict(alert["status"]["conditions"][0])


async def test_generic_hmac_is_signed_as_flux_signs_and_retried_past_two_500s(
    kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Receiver(answers=[500, 500]) as receiver:
        await setup(kube, namespace, "generic-hmac", receiver.url)
        counters = ControllerCounters()
        notifier = Notifier(kube, namespace, counters, retry=RetryPolicy(backoff=0.05))
        notifier.publish(synced(namespace), {})
        await run_until(notifier, lambda: counters.notifications[("generic-hmac", "success")])
        assert len(receiver.received) == 3  # two 500s, then delivered: one message
        got = receiver.received[-1]
        assert flux_signature_valid(got, TOKEN)
        assert not flux_signature_valid(got, "another-token")
        body = got.json()
        assert body["schema"] == "tether.dev/notification/v1"
        assert body["trigger"] == "sync-succeeded"
        assert body["revision"] == {"sha": "a" * 40, "subject": "raise replicas", "author": "Ada"}
        assert body["objects"] == [
            {"action": "configured", "kind": "Deployment", "namespace": namespace, "name": "web"}
        ]
        assert TOKEN not in got.body.decode()
        condition = await alert_condition(kube, namespace)
        assert (condition["status"], condition["reason"]) == ("True", "Delivered")
    assert TOKEN not in caplog.text and "secret-path-4711" not in caplog.text


async def test_a_4xx_is_not_retried_and_a_receiver_down_is_counted_and_on_the_alert(
    kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with Receiver(answers=[400]) as receiver:
        await setup(kube, namespace, "generic", receiver.url)
        counters = ControllerCounters()
        notifier = Notifier(kube, namespace, counters, retry=RetryPolicy(backoff=0.05))
        notifier.publish(synced(namespace), {})
        await run_until(notifier, lambda: counters.notifications[("generic", "failed")])
        assert len(receiver.received) == 1  # refused: not retried
        condition = await alert_condition(kube, namespace)
        assert condition["status"] == "False" and condition["reason"] == "DeliveryFailed"
        assert "HTTP 400 after 1 attempt" in condition["message"]

    # Nobody listens: three attempts, then a counted failure with the reason, no URL.
    down = f"http://127.0.0.1:{free_port()}/hooks/secret-path-4711"
    await setup(kube, namespace, "generic", down)
    counters = ControllerCounters()
    notifier = Notifier(kube, namespace, counters, retry=RetryPolicy(backoff=0.05))
    started = asyncio.get_running_loop().time()
    notifier.publish(synced(namespace, "b" * 40), {})  # publishing never waits
    assert asyncio.get_running_loop().time() - started < 0.01
    await run_until(notifier, lambda: counters.notifications[("generic", "failed")])
    condition = await alert_condition(kube, namespace)
    assert "not reachable" in condition["message"] and "after 3 attempt" in condition["message"]
    for text in (condition["message"], caplog.text):
        assert "secret-path-4711" not in text and TOKEN not in text


async def test_the_same_event_is_sent_once_and_one_incident_is_one_message(
    kube: KubeClient, namespace: str
) -> None:
    with Receiver() as receiver:
        await setup(kube, namespace, "generic", receiver.url)
        counters = ControllerCounters()
        notifier = Notifier(kube, namespace, counters)
        notifier.publish(synced(namespace), {})
        notifier.publish(synced(namespace), {})  # a duplicate: dropped
        for name in ("a", "b", "c"):  # one kubectl edit of three objects
            notifier.publish(drifted(namespace, name), {})
        await run_until(notifier, lambda: len(receiver.received) >= 2)
        await asyncio.sleep(0.3)
        bodies = receiver.bodies()
        assert [b["trigger"] for b in bodies] == ["sync-succeeded", "drift-detected"]
        assert [d["name"] for d in bodies[1]["drift"]] == ["a", "b", "c"]
        assert bodies[1]["message"].startswith("3 objects of")
        assert counters.notifications[("", "deduplicated")] == 1


async def test_fifty_drifts_in_ten_seconds_are_the_rate_limit_and_one_summary(
    kube: KubeClient, namespace: str
) -> None:
    with Receiver() as receiver:
        await setup(
            kube, namespace, "slack", receiver.url, rateLimit=5, triggers=["sync-succeeded"]
        )
        counters = ControllerCounters()
        now = [0.0]
        notifier = Notifier(kube, namespace, counters, clock=lambda: now[0])
        for n in range(50):
            notifier.publish(synced(namespace, f"{n:040x}"), {})
        worker = asyncio.create_task(notifier.run())
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                now[0] += 0.2  # 50 events over "10 s" of the notifier's clock
            now[0] += 61.0  # the window frees up: the summary goes out
            for _ in range(40):
                await asyncio.sleep(0.05)
                if len(receiver.received) >= 6:
                    break
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker
        bodies = receiver.bodies()
        assert len(bodies) == 6, [b["text"] for b in bodies]
        assert "45 more events of Alert ops were not sent" in bodies[-1]["text"]
        assert counters.notifications[("", "suppressed")] == 45
        # Slack's shape: a fallback text and Block Kit blocks.
        assert [b["type"] for b in bodies[0]["blocks"]] == ["header", "section", "section"]


@pytest.mark.parametrize("kind", ["msteams", "discord", "alertmanager"])
async def test_each_service_gets_the_body_it_accepts(
    kube: KubeClient, namespace: str, kind: str
) -> None:
    with Receiver() as receiver:
        await setup(kube, namespace, kind, receiver.url)
        counters = ControllerCounters()
        notifier = Notifier(kube, namespace, counters)
        notifier.publish(drifted(namespace, "settings"), {})
        await run_until(notifier, lambda: receiver.received)
        body = receiver.bodies()[0]
        if kind == "msteams":
            card = body["attachments"][0]
            assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
            assert card["content"]["type"] == "AdaptiveCard"
            assert "kubectl-edit" in card["content"]["body"][1]["text"]
        elif kind == "discord":
            embed = body["embeds"][0]
            assert embed["title"] == f"drift-detected: {namespace}/web"
            assert "/data/mode" in embed["description"] and isinstance(embed["color"], int)
        else:
            assert (
                isinstance(body, list) and body[0]["labels"]["alertname"] == "TetherDriftDetected"
            )
            assert body[0]["labels"]["application"] == "web" and "endsAt" not in body[0]
            # Alertmanager takes the token as a bearer header.
            assert receiver.received[0].headers["authorization"] == f"Bearer {TOKEN}"
