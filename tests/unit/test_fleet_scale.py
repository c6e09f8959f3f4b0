"""The pieces that keep a fleet's first pass linear and its API use bounded: the
dependency index (dependents found without a scan of every app), the client-side token
bucket, the `/metrics` families for destinations and API requests; and the CLI's
listing of a large fleet (summary parse, plain aligned table)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import generate_latest
from rich.cells import cell_len

from tests.support.apps import application, condition
from tests.support.manifests import configmap
from tether.cli.output import emit_table, terminal_safe
from tether.controller.dependencies import DependencyIndex
from tether.core.fleet import list_line, list_line_from_cells, status_message
from tether.core.metrics import ClusterSample, ControllerCounters, snapshot
from tether.engine import revert, wait
from tether.engine.apps import InvalidApplication, list_apps, stored_status
from tether.engine.operation import SyncInProgress
from tether.engine.runtime import PredictionCache, holds
from tether.kube.rate import TokenBucket
from tether.model.application import CONDITION_EMPTY_RENDER, Application, ApplicationStatus
from tether.model.names import (
    COLUMN_EMPTY_RENDER,
    COLUMN_HEALTH,
    COLUMN_MESSAGE,
    COLUMN_OUT_OF_SYNC_SINCE,
    COLUMN_REVISION,
    COLUMN_SYNC,
)
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


# -- the CLI on a large fleet -----------------------------------------------------------


def _app_item(name: str, resources: int) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "tether-system",
            "managedFields": [{"manager": "tether", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {
            "source": {"repoURL": "https://git.example/r.git", "path": name},
            "destination": {"namespace": "web"},
        },
        "status": {
            "sync": {"status": "OutOfSync", "revision": "a" * 40},
            "health": {"status": "Degraded", "message": "rollout stuck"},
            "resources": [
                {"version": "v1", "kind": "ConfigMap", "namespace": "web", "name": f"c{i}"}
                for i in range(resources)
            ],
            "history": [{"id": 1, "revision": "a" * 40, "deployedAt": "2026-01-01T00:00:00Z"}],
        },
    }


class _Listing:
    """What list_apps reads from a KubeClient: one list call."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    async def list(self, *_args: Any, **_kwargs: Any) -> list[dict[str, Any]]:
        return self.items


def test_a_summary_listing_keeps_what_a_row_shows_and_drops_the_bulk() -> None:
    items = [_app_item("b", 3), _app_item("a", 3)]
    full = asyncio.run(list_apps(_Listing(items), None))  # type: ignore[arg-type]
    brief = asyncio.run(list_apps(_Listing(items), None, summary=True))  # type: ignore[arg-type]
    assert [a.name for a in brief] == ["a", "b"]
    for whole, summary in zip(full, brief, strict=True):
        assert summary.spec == whole.spec
        assert summary.status is not None and whole.status is not None
        assert summary.status.sync == whole.status.sync
        assert summary.status.health == whole.status.health
        assert status_message(summary.status) == status_message(whole.status) != ""
        # Without summary, the bulk is there; with it, it is not.
        assert len(whole.status.resources) == 3 and whole.status.history
        assert not summary.status.resources and not summary.status.history
        assert "managedFields" in whole.extra_metadata
        assert "managedFields" not in summary.extra_metadata
    assert "managedFields" in items[0]["metadata"]  # the caller's data is not changed


def test_a_summary_listing_still_reports_an_invalid_spec() -> None:
    bad = _app_item("bad", 1)
    bad["spec"]["destination"] = {"namespace": "Not A Namespace"}
    invalid: list[InvalidApplication] = []
    apps = asyncio.run(
        list_apps(_Listing([bad, _app_item("ok", 1)]), None, invalid=invalid, summary=True)  # type: ignore[arg-type]
    )
    assert [a.name for a in apps] == ["ok"]
    assert [i.name for i in invalid] == ["bad"] and "namespace" in invalid[0].problem


def test_the_table_aligns_on_display_width_one_line_per_row(
    capsys: pytest.CaptureFixture[str],
) -> None:
    emit_table(
        ["NAME", "SYNC", "MESSAGE"],
        [["日本", "Synced", "two\nlines"], ["b", None], ["https://u:tok@h/r.git", "x", ""]],
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [  # a row is a line, whatever its cells hold; credentials masked
        "NAME                 SYNC    MESSAGE",
        "日本                 Synced  two lines",
        "b",
        "https://***@h/r.git  x",
    ]
    # Columns start at the same display column in every row (CJK cells are 2 wide).
    assert lines[0].index("SYNC") == cell_len(lines[1].split("Synced")[0])


def test_app_wait_compares_an_app_until_it_was_ready_and_fetches_once_per_repo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`app wait --all` on a fleet: a round costs the apps still moving, not the fleet."""
    compares: list[tuple[str, bool]] = []
    ready_after = {"fast": 1, "slow": 3, "other-repo": 1}  # compares until ready

    async def fake_refresh(_engine: Any, app: Application, *, fetch: bool) -> Any:
        compares.append((app.name, fetch))
        done = sum(1 for name, _ in compares if name == app.name) >= ready_after[app.name]
        health = SimpleNamespace(status="Healthy" if done else "Progressing", message="rolling")
        diff = SimpleNamespace(in_sync=True, out_of_sync=[])
        return SimpleNamespace(error=None, diff=diff, app_health=health, status=None)

    monkeypatch.setattr(wait, "refresh", fake_refresh)
    apps = [
        application("fast", "web", "https://git.example/a.git", "fast"),
        application("slow", "web", "https://git.example/a.git", "slow"),
        application("other-repo", "web", "https://git.example/b.git", "x"),
    ]
    waiting = asyncio.run(
        wait.wait_for_apps(
            None,  # type: ignore[arg-type]
            apps,
            want_sync=True,
            want_health=True,
            timeout=30,
            interval=0,
        )
    )
    assert waiting == []
    assert [name for name, _ in compares].count("fast") == 1  # ready: not compared again
    assert [name for name, _ in compares].count("slow") == 3
    # One fetch per repository, on the first round only.
    assert sorted(name for name, fetch in compares if fetch) == ["fast", "other-repo"]


def test_app_wait_reports_each_app_still_moving_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never_ready(_engine: Any, app: Application, *, fetch: bool) -> Any:
        health = SimpleNamespace(status="Progressing", message="rolling")
        diff = SimpleNamespace(in_sync=app.name != "b", out_of_sync=["x"])
        return SimpleNamespace(error=None, diff=diff, app_health=health, status=None)

    monkeypatch.setattr(wait, "refresh", never_ready)
    apps = [application(n, "web", "https://git.example/a.git", n) for n in ("b", "a")]
    waiting = asyncio.run(
        wait.wait_for_apps(None, apps, want_sync=True, want_health=False, timeout=0)  # type: ignore[arg-type]
    )
    assert waiting == ["b: 1 objects OutOfSync"]  # a is Synced: only health was missing


def test_a_revert_waits_for_the_controllers_sync_of_its_push_then_syncs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The controller may see the pushed revert first: its running sync is waited for,
    not reported as the revert's failure; a sync still running at the timeout is."""
    attempts: list[str] = []

    async def busy_then_free(_engine: Any, app: Application, *_args: Any) -> Any:
        attempts.append(app.name)
        if len(attempts) < 3:
            raise SyncInProgress("a sync started by controller/auto-sync is still running")
        return "synced"

    monkeypatch.setattr(revert, "sync_app", busy_then_free)
    web = application("web", "web", "https://git.example/a.git", "web")
    done = asyncio.run(revert.sync_after_push(None, web, "me", lambda _m: None, poll=0))  # type: ignore[arg-type]
    assert done == "synced" and attempts == ["web"] * 3

    async def always_busy(_engine: Any, _app: Application, *_args: Any) -> Any:
        raise SyncInProgress("still running")

    monkeypatch.setattr(revert, "sync_app", always_busy)
    quick = application("web", "web", "https://git.example/a.git", "web", timeout="1ms")
    with pytest.raises(SyncInProgress):
        asyncio.run(revert.sync_after_push(None, quick, "me", lambda _m: None, poll=0))  # type: ignore[arg-type]


def test_the_prediction_cache_keeps_one_answer_per_object() -> None:
    cache = PredictionCache()
    desired = configmap("cfg", {"a": "1"}, namespace="team")
    first_live = configmap("cfg", {"a": "0"}, namespace="team")
    second_live = configmap("cfg", {"a": "1"}, namespace="team")
    first = PredictionCache.cache_key(desired, first_live)
    cache.put(first, {"answer": 1})
    assert cache.get(first, first_live, desired) == {"answer": 1}
    # Another manifest for the same live object: no answer for it.
    other = PredictionCache.cache_key(configmap("cfg", namespace="team"), first_live)
    assert cache.get(other, first_live, configmap("cfg", namespace="team")) is None
    second = PredictionCache.cache_key(desired, second_live)
    cache.put(second, {"answer": 2})
    assert cache.get(second, second_live, desired) == {"answer": 2}
    assert (
        cache.get(first, first_live, desired) is None and len(cache) == 1
    )  # the older one is gone


def test_an_answer_that_is_the_live_copy_is_kept_as_a_mark_not_a_copy() -> None:
    cache = PredictionCache()
    desired = configmap("cfg", {"a": "1"}, namespace="team")
    live = configmap("cfg", {"a": "1"}, namespace="team")
    live["metadata"]["resourceVersion"] = "7"
    key = PredictionCache.cache_key(desired, live)
    # The dry-run of an object in sync answers with the live copy (a newer status too).
    answer = {**live, "metadata": {**live["metadata"]}, "status": {"seen": 1}}
    cache.put(key, answer)
    assert cache.copies() == 0 and len(cache) == 1
    # A status write since (same fingerprint): the live copy at hand is the answer.
    newer = {**live, "metadata": {**live["metadata"], "resourceVersion": "8"}}
    assert cache.get(key, newer, desired) == newer
    # Without the match (the apply would change data), the answer itself is kept.
    changed = PredictionCache.cache_key(desired, configmap("cfg", {"a": "0"}, namespace="team"))
    cache.put(changed, {**live, "data": {"a": "1"}})
    assert cache.copies() == 1


def owned(obj: dict[str, Any], manager: str, fields: dict[str, Any], time: str) -> dict[str, Any]:
    """`obj` with one more managedFields entry (an Apply by tether, else an Update)."""
    entry = {
        "manager": manager,
        "operation": "Apply" if manager == "tether" else "Update",
        "apiVersion": "v1",
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    meta = obj["metadata"]
    return {**obj, "metadata": {**meta, "managedFields": [*meta.get("managedFields", []), entry]}}


def test_a_mark_outlives_other_writers_fields_but_not_a_change_to_tethers() -> None:
    cache = PredictionCache()
    desired = configmap("cfg", {"a": "1"}, namespace="team")
    stored = owned(desired, "tether", {"f:data": {"f:a": {}}}, "2026-12-03T10:00:00Z")
    cache.put(PredictionCache.cache_key(desired, stored), stored)  # what an apply stored
    # Another writer adds a label (its own field): the same manifest still changes nothing.
    labelled = owned(
        {**stored, "metadata": {**stored["metadata"], "labels": {"team": "x"}}},
        "kube-controller-manager",
        {"f:metadata": {"f:labels": {"f:team": {}}}},
        "2026-12-03T10:01:00Z",
    )
    key = PredictionCache.cache_key(desired, labelled)
    assert key[2] != PredictionCache.cache_key(desired, stored)[2]  # the live copy moved
    assert cache.get(key, labelled, desired) == labelled
    # Someone changed a field tether applied (it is theirs now): ask the server again.
    edited = {**labelled, "data": {"a": "2"}}
    edited = owned(edited, "kubectl-edit", {"f:data": {"f:a": {}}}, "2026-12-03T10:02:00Z")
    edited["metadata"]["managedFields"] = [
        e if e["manager"] != "tether" else {**e, "fieldsV1": {}}
        for e in edited["metadata"]["managedFields"]
    ]
    assert cache.get(PredictionCache.cache_key(desired, edited), edited, desired) is None
    # tether itself wrote other values since (another process, same fields, later time).
    rewritten = {**labelled, "data": {"a": "2"}}
    rewritten["metadata"] = {
        **labelled["metadata"],
        "managedFields": [
            {**e, "time": "2026-12-03T10:03:00Z"} if e["manager"] == "tether" else e
            for e in labelled["metadata"]["managedFields"]
        ],
    }
    assert cache.get(PredictionCache.cache_key(desired, rewritten), rewritten, desired) is None
    # Same entry, time too, yet a value differs from the manifest: no answer either.
    same_entry = {**labelled, "data": {"a": "2"}}
    assert cache.get(PredictionCache.cache_key(desired, same_entry), same_entry, desired) is None


def test_an_answer_that_differs_from_live_does_not_outlive_any_live_change() -> None:
    cache = PredictionCache()
    desired = configmap("cfg", {"a": "1"}, namespace="team")
    live = owned(
        configmap("cfg", {"a": "0"}, namespace="team"), "tether", {"f:data": {"f:a": {}}}, "t1"
    )
    cache.put(PredictionCache.cache_key(desired, live), {**live, "data": {"a": "1"}})
    labelled = {**live, "metadata": {**live["metadata"], "labels": {"x": "1"}}}
    assert cache.get(PredictionCache.cache_key(desired, labelled), labelled, desired) is None


@pytest.mark.parametrize(
    ("desired", "live", "expected"),
    [
        ({"a": [{"b": 1}]}, {"a": [{"b": 1, "c": 2}], "x": 1}, True),  # defaults around it
        ({"a": "1"}, {"a": 1}, False),  # re-spelled by the server: not the same
        ({"a": 1}, {"a": True}, False),
        ({"a": [1, 2]}, {"a": [1]}, False),
        ({"a": {}}, {}, False),  # an empty map the server drops
        ({"a": None}, {"a": None}, True),
    ],
)
def test_holds_compares_only_what_the_manifest_sets(
    desired: dict[str, Any], live: dict[str, Any], expected: bool
) -> None:
    assert holds(desired, live) is expected


def _table_cells(name: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The cells the API server puts in a table row for an Application whose status is
    `stored` (the CRD's JSONPaths, checked in test_application_model.py; the real server
    in tests/integration/test_app_list.py)."""
    status = stored or {}
    empty = [c for c in status.get("conditions", []) if c["type"] == CONDITION_EMPTY_RENDER]
    return {
        "Name": name,
        COLUMN_SYNC: (status.get("sync") or {}).get("status"),
        COLUMN_HEALTH: (status.get("health") or {}).get("status"),
        COLUMN_REVISION: (status.get("sync") or {}).get("revision"),
        "Age": "5m",
        COLUMN_MESSAGE: status.get("message"),
        COLUMN_OUT_OF_SYNC_SINCE: status.get("outOfSyncSince"),
        COLUMN_EMPTY_RENDER: empty[0]["status"] if empty else None,
    }


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            {"sync": {"status": "Synced", "revision": "b" * 40}, "health": {"status": "Healthy"}},
            "",
        ),
        (
            {
                "sync": {"status": "OutOfSync", "revision": "a" * 40},
                "health": {"status": "Degraded", "message": "rollout   stuck\non web"},
                "outOfSyncSince": "2026-12-03T10:00:00Z",
                "conditions": [condition("SyncError", "apply failed: " + "x" * 2000)],
            },
            "apply failed: " + "x" * 1009 + "…",  # whole, up to the stored width
        ),
        (
            {
                "sync": {"status": "Synced", "revision": "c" * 40},
                "health": {"status": "Healthy"},
                "conditions": [condition(CONDITION_EMPTY_RENDER, "the path rendered nothing")],
            },
            "the path rendered nothing",
        ),
    ],
    ids=["healthy", "failing", "empty-render"],
)
def test_a_table_row_says_what_the_whole_application_says(
    status: dict[str, Any], message: str
) -> None:
    app = Application.from_dict(
        {**_app_item("web", 0), "status": stored_status(ApplicationStatus.from_dict(status))}
    )
    assert app.status is not None
    cells = _table_cells("web", stored_status(app.status))
    row = list_line_from_cells(app.namespace, "web", cells)
    assert row == list_line(app)
    # The cases differ in what a person sees, so the table is shown to carry each trait.
    assert row is not None and row.message == message
    conditions = status.get("conditions", [])
    assert row.empty_render == any(c["type"] == CONDITION_EMPTY_RENDER for c in conditions)
    assert row.out_of_sync_since == status.get("outOfSyncSince")


def test_a_table_row_without_what_a_line_needs_sends_the_reader_to_the_objects() -> None:
    written = stored_status(ApplicationStatus.from_dict({"sync": {"status": "Synced"}}))
    assert list_line_from_cells("ns", "a", _table_cells("a", written)) is not None
    # No status yet: only the spec can tell whether the app is valid.
    assert list_line_from_cells("ns", "a", _table_cells("a", None)) is None
    # A status written without status.message (a tether before it existed).
    older = {k: v for k, v in written.items() if k != "message"}
    assert list_line_from_cells("ns", "a", _table_cells("a", older)) is None
    # A CRD in the cluster without the Message column.
    cells = {k: v for k, v in _table_cells("a", written).items() if k != COLUMN_MESSAGE}
    assert list_line_from_cells("ns", "a", cells) is None


def test_a_table_cell_outside_the_crds_enum_reads_unknown() -> None:
    written = stored_status(ApplicationStatus.from_dict({"sync": {"status": "Synced"}}))
    cells = {**_table_cells("a", written), COLUMN_SYNC: "\x1b[31mOwned", COLUMN_HEALTH: 3}
    line = list_line_from_cells("ns", "a", cells)
    assert line is not None and (line.sync, line.health) == ("Unknown", "Unknown")
    line = list_line_from_cells("ns", "a", _table_cells("a", written))
    assert line is not None and (line.sync, line.health) == ("Synced", "Unknown")


def test_terminal_safe_escapes_control_characters_and_keeps_the_rest() -> None:
    assert terminal_safe("日本 ok\tline\nnext") == "日本 ok\tline\nnext"
    assert terminal_safe("a\x1b[2Jb\x07c\u202ed\x9b") == "a\\x1b[2Jb\\x07c\\u202ed\\x9b"


def test_a_table_cell_shows_escape_sequences_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    emit_table(["NAME", "MESSAGE"], [["web", "\x1b]0;owned\x07 failed"]])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b]0;owned\\x07 failed" in out
