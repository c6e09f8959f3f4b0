"""Sharding, webhook verification and parsing, metric samples, and the work queue."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest

from tether.controller.queue import WorkQueue
from tether.core.metrics import ControllerCounters, DurationHistogram, app_sample
from tether.core.sharding import lease_name, shard_of
from tether.core.webhook import (
    WebhookRejected,
    parse_push,
    push_matches,
    repo_identity,
    verify,
)
from tether.model.application import API_VERSION, Application

SECRET = "topsecret"
BODY = json.dumps(
    {
        "ref": "refs/heads/main",
        "repository": {
            "clone_url": "https://git.example.com/org/app.git",
            "ssh_url": "git@git.example.com:org/app.git",
        },
    }
).encode()


def test_shards_are_stable_balanced_and_move_little() -> None:
    apps = [("ns", f"app-{i}") for i in range(400)]
    two = [shard_of(ns, n, 2) for ns, n in apps]
    assert two == [shard_of(ns, n, 2) for ns, n in apps]
    assert 150 < two.count(0) < 250
    three = [shard_of(ns, n, 3) for ns, n in apps]
    moved = sum(1 for a, b in zip(two, three, strict=True) if b not in (2, a))
    assert moved == 0  # adding shard 2 only takes apps; none move between 0 and 1
    assert shard_of("ns", "x", 1) == 0
    assert lease_name(0, 1) == "tether-controller"
    assert lease_name(1, 2) == "tether-controller-shard-1"


def test_one_clusters_apps_spread_over_shards_and_in_cluster_apps_do_not_move() -> None:
    apps = [("ns", f"app-{i}") for i in range(300)]
    on_spoke = [shard_of(ns, n, 3, "spoke") for ns, n in apps]
    assert all(80 < on_spoke.count(shard) < 120 for shard in range(3))
    # The destination is part of the key: the same app names on another cluster land
    # elsewhere, and an in-cluster app ("") keeps the shard it had without a cluster.
    assert on_spoke != [shard_of(ns, n, 3, "edge") for ns, n in apps]
    assert [shard_of(ns, n, 3, "") for ns, n in apps] == [shard_of(ns, n, 3) for ns, n in apps]


def test_github_gitea_and_gitlab_signatures() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert verify({"X-Hub-Signature-256": f"sha256={digest}"}, BODY, SECRET) == "github"
    assert verify({"X-Gitea-Signature": digest, "X-Gitea-Event": "push"}, BODY, SECRET) == "gitea"
    assert verify({"X-Gitlab-Token": SECRET}, BODY, SECRET) == "gitlab"
    for headers in (
        {"X-GitHub-Event": "push"},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": f"sha256={digest}"},  # right signature, other body below
        {"X-Gitlab-Token": "wrong"},
        {},
    ):
        body = BODY + b" " if "sha256=" + digest in headers.values() else BODY
        with pytest.raises(WebhookRejected) as caught:
            verify(headers, body, SECRET)
        assert caught.value.status == 401
    with pytest.raises(WebhookRejected, match="not configured"):
        verify({"X-Gitlab-Token": ""}, BODY, "")


def test_push_payloads_name_the_repository_in_any_spelling() -> None:
    event = parse_push("github", BODY)
    assert event.ref == "refs/heads/main"
    assert push_matches(event, "https://git.example.com/org/app")
    assert push_matches(event, "ssh://git@git.example.com:22/org/app.git")
    assert push_matches(event, "https://user:token@git.example.com/org/app.git/")
    assert not push_matches(event, "https://git.example.com/org/other.git")
    assert repo_identity("file:///srv/git/app.git") == "/srv/git/app"
    gitlab = parse_push(
        "gitlab", json.dumps({"project": {"git_http_url": "http://h/x.git"}}).encode()
    )
    assert push_matches(gitlab, "http://h/x")
    with pytest.raises(WebhookRejected) as caught:
        parse_push("github", b"not json")
    assert caught.value.status == 400
    with pytest.raises(WebhookRejected):
        parse_push("github", b"{}")


def test_app_sample_and_histogram() -> None:
    app = Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "source": {"repoURL": "file:///r.git"},
                "destination": {"namespace": "prod"},
                "syncPolicy": {"automated": {}},
            },
            "status": {
                "sync": {"status": "OutOfSync"},
                "health": {"status": "Healthy"},
                "outOfSyncSince": "2026-01-01T00:00:00Z",
                "resources": [
                    {"kind": "ConfigMap", "name": "a", "status": "Synced"},
                    {"kind": "ConfigMap", "name": "b", "status": "OutOfSync"},
                ],
                "breakGlass": {"active": True},
                "conditions": [{"type": "HistoryRewritten", "status": "True"}],
            },
        }
    )
    sample = app_sample(app)
    assert sample.out_of_sync_since == 1767225600.0
    assert sample.resources == {("Synced", ""): 1, ("OutOfSync", ""): 1}
    assert sample.autosync_enabled and not sample.suspended
    assert sample.break_glass_active and sample.history_rewritten
    assert sample.dest_namespace == "prod"
    assert sample.cluster == "in-cluster"  # no destination name or server

    histogram = DurationHistogram(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 5.0):
        histogram.observe(seconds)
    assert histogram.cumulative() == [("0.1", 1), ("1.0", 2), ("+Inf", 3)]
    counters = ControllerCounters()
    counters.syncs[("apps", "web", "Succeeded")] += 1
    counters.drift_events[("apps", "other", "manual-edit")] += 1
    counters.forget_app("apps", "web")
    assert not counters.syncs and counters.drift_events


async def test_work_queue_never_hands_one_key_to_two_workers() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert queue.pending() == 2
    first = await queue.get()
    queue.add(first)  # while processing: marked dirty, not queued twice
    second = await queue.get()
    assert {first, second} == {"a", "b"}
    assert queue.pending() == 0
    queue.done(first)
    assert await asyncio.wait_for(queue.get(), 1) == first  # re-queued after done
    assert queue.add_rate_limited("c") == 0.01
    assert queue.add_rate_limited("c") == 0.02
    queue.forget("c")
    assert queue.failures("c") == 0
    assert await asyncio.wait_for(queue.get(), 1) == "c"
    queue.close()


async def test_an_urgent_key_goes_before_every_ordinary_one_and_only_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ("new-1", "new-2", "synced", "new-3"):
        queue.add(key)
    queue.add("synced", urgent=True)  # its sync ended: it moves to the front
    queue.add("synced")  # an ordinary add does not move it back
    assert queue.pending() == 4
    got = [await asyncio.wait_for(queue.get(), 1) for _ in range(4)]
    assert got == ["synced", "new-1", "new-2", "new-3"]  # its old place is skipped
    assert queue.pending() == 0
    # Without urgency the same adds keep first-in, first-out.
    for key in ("new-1", "new-2", "synced", "new-3"):
        queue.done(key)
        queue.add(key)
    assert [await asyncio.wait_for(queue.get(), 1) for _ in range(4)] == [
        "new-1",
        "new-2",
        "synced",
        "new-3",
    ]
    queue.close()
