"""A sync that times out says what it waited for, why, and what to do about it."""

from __future__ import annotations

from tether.engine.waiting import WaitedFor, timeout_report
from tether.model.keys import ResourceKey

WEB = ResourceKey("apps", "Deployment", "shop", "web")
INGRESS = ResourceKey("networking.k8s.io", "Ingress", "shop", "web")
LB = ResourceKey("", "Service", "shop", "edge")


def test_nothing_awaited_is_the_bare_timeout() -> None:
    assert timeout_report(300, {}) == ("sync timed out after 300s", None)


def test_the_objects_and_their_health_are_named() -> None:
    waiting = {WEB: WaitedFor({}, "Progressing: 0 of 2 updated replicas are available")}
    message, hint = timeout_report(300, waiting)
    assert message == (
        "sync timed out after 300s waiting for Deployment.apps shop/web"
        " (Progressing: 0 of 2 updated replicas are available)"
    )
    assert hint is not None and "spec.timeout" in hint


def test_an_ingress_or_a_load_balancer_points_at_health_rules() -> None:
    message, hint = timeout_report(60, {INGRESS: WaitedFor({}, "Progressing: no address")})
    assert "Ingress.networking.k8s.io shop/web" in message
    assert hint is not None and "tether-health-rules" in hint
    lb = {"spec": {"type": "LoadBalancer"}}
    _, hint = timeout_report(60, {LB: WaitedFor(lb, "Progressing: pending")})
    assert hint is not None and "tether-health-rules" in hint
    # A ClusterIP Service is not waiting for anybody's address: no such hint.
    _, hint = timeout_report(60, {LB: WaitedFor({"spec": {}}, "Progressing: x")})
    assert hint is not None and "tether-health-rules" not in hint


def test_many_objects_are_counted() -> None:
    waiting = {
        ResourceKey("apps", "Deployment", "shop", f"w{i}"): WaitedFor({}, "Progressing")
        for i in range(5)
    }
    message, _ = timeout_report(30, waiting)
    assert message.endswith("(and 2 more)")
