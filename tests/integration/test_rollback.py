"""Break-glass rollback from stored history (Git down), its guard, and how it ends."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.apps import application
from tests.support.repos import GitopsRepo
from tether.engine.apps import ClusterApplicationStore, create_app, get_app, write_status
from tether.engine.compare import Engine, compare
from tether.engine.rollback import rollback_app
from tether.engine.settings import set_sync_policy
from tether.engine.sync import SyncRequest, sync_app
from tether.errors import InputError
from tether.git.revert import GitIdentity
from tether.kube import KubeClient

ID = GitIdentity("On-call", "oncall@example.test")


def config(version: str) -> str:
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n"
        f"data: {{version: '{version}'}}\n"
    )


async def live_version(kube: KubeClient, namespace: str) -> str:
    obj = await kube.get("v1", "ConfigMap", "settings", namespace)
    assert obj is not None
    return str(obj["data"]["version"])


async def test_rollback_works_with_git_down_and_is_guarded(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"app/cm.yaml": config("1")})
    repo.commit("v1")
    app = application("shop", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    repo.write({"app/cm.yaml": config("2")})
    repo.commit("v2 (bad)")
    assert (await sync_app(engine, await get_app(kube, namespace, "shop"), SyncRequest())).succeeded
    await set_sync_policy(kube, namespace, "shop", automated=True)
    stored = await get_app(kube, namespace, "shop")
    assert stored.status is not None and [e.id for e in stored.status.history] == [1, 2]

    with pytest.raises(InputError, match="auto-sync"):
        await rollback_app(
            engine,
            stored,
            None,
            disable_auto_sync=False,
            make_revert=False,
            identity=ID,
            initiated_by="t",
        )
    assert await live_version(kube, namespace) == "2"

    shutil.move(repo.bare, tmp_path / "git-is-down")  # the remote is gone
    report = await rollback_app(
        engine,
        stored,
        None,
        disable_auto_sync=True,
        make_revert=False,
        identity=ID,
        initiated_by="t",
    )
    assert report.entry.id == 1 and report.result.succeeded
    assert await live_version(kube, namespace) == "1"
    after = await get_app(kube, namespace, "shop")
    assert not after.auto_sync_enabled
    assert after.status is not None and after.status.break_glass is not None
    assert after.status.break_glass.active and after.status.break_glass.history_id == 1
    condition = next(c for c in after.status.conditions if c.type == "BreakGlass")
    assert condition.status.value == "True" and "tether revert shop --range" in condition.message
    assert report.follow_up.startswith("tether revert shop --range ")
    with pytest.raises(InputError, match="break-glass rollback active"):
        await set_sync_policy(kube, namespace, "shop", automated=True)


async def test_rollback_with_revert_makes_git_match_and_ends_break_glass(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"app/cm.yaml": config("1")})
    repo.commit("v1")
    app = application("shop", namespace, repo.url, "app")
    await create_app(kube, app)
    assert (await sync_app(engine, app, SyncRequest())).succeeded
    repo.write({"app/cm.yaml": config("2")})
    repo.commit("v2 (bad)")
    assert (await sync_app(engine, await get_app(kube, namespace, "shop"), SyncRequest())).succeeded

    report = await rollback_app(
        engine,
        await get_app(kube, namespace, "shop"),
        1,
        disable_auto_sync=False,
        make_revert=True,
        identity=ID,
        initiated_by="t",
    )
    assert report.revert is not None and report.revert.outcome.pushed
    assert await live_version(kube, namespace) == "1"
    # Git now renders what the cluster runs: the next compare ends the break-glass state.
    current = await get_app(kube, namespace, "shop")
    result = await compare(engine, current)
    assert result.diff is not None and result.diff.in_sync
    assert result.status is not None
    await write_status(ClusterApplicationStore(kube), current, result.status)
    final = await get_app(kube, namespace, "shop")
    assert final.status is not None and final.status.break_glass is not None
    assert not final.status.break_glass.active
    assert not [c for c in final.status.conditions if c.type == "BreakGlass"]
