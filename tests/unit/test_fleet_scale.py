"""The pieces that keep a fleet's first pass linear and its API use bounded: the
dependency index (dependents found without a scan of every app), the client-side token
bucket, and the `/metrics` families for destinations and API requests."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest

from tether.controller.dependencies import DependencyIndex
from tether.core.metrics import ClusterSample, ControllerCounters, snapshot
from tether.kube.client import TokenBucket
from tether.server.metrics import metrics_registry


def test_the_dependency_index_follows_changes_and_forgets() -> None:
    index = DependencyIndex()
    web, api, base, cache = ("ns", "web"), ("ns", "api"), ("ns", "base"), ("ns", "cache")
    index.depend(web, [base])
    index.depend(api, [base, cache])
    assert index.dependents(base) == {web, api}
    assert index.dependents(cache) == {api}
    index.depend(api, [cache])  # api no longer waits for base
    assert index.dependents(base) == {web}
    index.depend(web, ())  # forgotten (deleted)
    assert index.dependents(base) == set()
    assert index.dependents(web) == set()  # nobody depends on web


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    async def run() -> float:
        bucket = TokenBucket(rate=100.0, burst=5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(15):  # 5 at once, 10 more at 100/s: about 0.1 s
            await bucket.take()
        return loop.time() - started

    elapsed = asyncio.run(run())
    assert 0.07 < elapsed < 0.5, elapsed

    async def burst_only() -> float:
        bucket = TokenBucket(rate=1.0, burst=5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(5):
            await bucket.take()
        return loop.time() - started

    assert asyncio.run(burst_only()) < 0.05  # within the burst nothing waits


def test_cluster_and_request_families_in_metrics() -> None:
    clusters = [ClusterSample("spoke", "https://10.0.0.2:6443", False, 12, 3.5)]
    requests = {("in-cluster", "PATCH"): 7, ("spoke", "GET"): 2}
    snap = snapshot([], ControllerCounters(), clusters=clusters, kube_requests=requests)
    text = generate_latest(metrics_registry(lambda: snap)).decode()
    assert (
        'tether_cluster_info{name="spoke",reachable="false",server="https://10.0.0.2:6443"} 1.0'
        in text
    )
    assert 'tether_cluster_watched_objects{name="spoke"} 12.0' in text
    assert 'tether_cluster_recovery_seconds{name="spoke"} 3.5' in text
    assert 'tether_kube_requests_total{cluster="in-cluster",verb="PATCH"} 7.0' in text
    # Without a destination cluster there is no cluster series at all.
    empty = snapshot([], ControllerCounters())
    assert "tether_cluster_info{" not in generate_latest(metrics_registry(lambda: empty)).decode()
