"""`tether app set|suspend|resume|history` end to end: real CLI process, real cluster."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.support.apps import application
from tests.support.cli import assert_one_error_line, tether
from tether.engine.apps import create_app, get_app
from tether.engine.history import record_history
from tether.kube import KubeClient
from tether.model.application import Application

REPO = "file:///srv/gitops.git"


async def make_app(kube: KubeClient, namespace: str, name: str = "web") -> Application:
    return await create_app(kube, application(name, namespace, REPO, "apps/web"))


def automated(app: Application) -> dict[str, Any] | None:
    policy = app.spec.sync_policy.automated
    return None if policy is None else {"selfHeal": policy.self_heal, "prune": policy.prune}


async def test_set_sync_policy(kubeconfig: str, kube: KubeClient, namespace: str) -> None:
    await make_app(kube, namespace)
    ns = ["-n", namespace]

    on = tether(
        kubeconfig,
        *ns,
        "app",
        "set",
        "web",
        "--sync-policy",
        "automated",
        "--self-heal",
        "--auto-prune",
    )
    assert on.returncode == 0, on.stderr
    assert on.stderr.strip() == (
        f"application {namespace}/web: sync policy automated (self-heal, prune)"
    )
    assert on.stdout == ""
    assert automated(await get_app(kube, namespace, "web")) == {"selfHeal": True, "prune": True}

    # Flags not given keep their value; a flag alone changes an automated app.
    off_heal = tether(kubeconfig, *ns, "app", "set", "web", "--no-self-heal")
    assert off_heal.returncode == 0, off_heal.stderr
    assert "sync policy automated (prune)" in off_heal.stderr
    assert automated(await get_app(kube, namespace, "web")) == {"selfHeal": False, "prune": True}

    none = tether(kubeconfig, *ns, "app", "set", "web", "--sync-policy", "none")
    assert none.returncode == 0, none.stderr
    assert none.stderr.strip() == f"application {namespace}/web: sync policy none"
    app = await get_app(kube, namespace, "web")
    assert automated(app) is None and not app.auto_sync_enabled
    # The rest of the spec is untouched by the merge patch.
    assert app.spec.source.repo_url == REPO and app.spec.source.path == "apps/web"

    # Options without auto-sync are refused: one line, exit 2.
    assert_one_error_line(
        tether(kubeconfig, *ns, "app", "set", "web", "--self-heal"), 2, "auto-sync is off"
    )
    assert_one_error_line(
        tether(kubeconfig, *ns, "app", "set", "web", "--sync-policy", "none", "--auto-prune"),
        2,
        "need auto-sync",
    )
    assert_one_error_line(tether(kubeconfig, *ns, "app", "set", "web"), 2, "nothing to change")

    # automated with no option flags: auto-sync on, options off.
    plain = tether(kubeconfig, *ns, "app", "set", "web", "--sync-policy", "automated")
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.strip().endswith("sync policy automated")
    assert automated(await get_app(kube, namespace, "web")) == {"selfHeal": False, "prune": False}


async def test_suspend_and_resume(kubeconfig: str, kube: KubeClient, namespace: str) -> None:
    await make_app(kube, namespace)
    ns = ["-n", namespace]

    suspended = tether(kubeconfig, *ns, "app", "suspend", "web")
    assert suspended.returncode == 0, suspended.stderr
    assert suspended.stderr.strip() == f"application {namespace}/web suspended"
    assert (await get_app(kube, namespace, "web")).spec.suspend is True
    listed = tether(kubeconfig, *ns, "app", "list", "-o", "wide")
    assert "yes" in listed.stdout.splitlines()[1].split()

    resumed = tether(kubeconfig, *ns, "app", "resume", "web")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.strip() == f"application {namespace}/web resumed"
    assert (await get_app(kube, namespace, "web")).spec.suspend is False


async def test_history(kubeconfig: str, kube: KubeClient, namespace: str) -> None:
    app = await make_app(kube, namespace)
    ns = ["-n", namespace]

    empty = tether(kubeconfig, *ns, "app", "history", "web")
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.split() == ["ID", "DATE", "REVISION", "INITIATED-BY", "HEALTH"]
    assert "no history yet" in empty.stderr

    revisions = ["1a2b3c4d" + "0" * 32, "5e6f7a8b" + "1" * 32, "9c0d1e2f" + "2" * 32]
    healths = ["Healthy", "Degraded", None]
    for n, (revision, health) in enumerate(zip(revisions, healths, strict=True), start=1):
        await record_history(
            kube,
            app,
            revision=revision,
            # The manifests hold a Secret: its value must never reach the output.
            manifests=[
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "db"},
                    "stringData": {"password": "s3cr3t-value"},
                }
            ],
            deployed_at=f"2024-05-0{n}T12:00:00Z",
            deploy_started_at=f"2024-05-0{n}T11:59:00Z",
            initiated_by=f"cli:user{n}",
            health=health,
        )

    table = tether(kubeconfig, *ns, "app", "history", "web")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()]
    assert rows == [
        ["ID", "DATE", "REVISION", "INITIATED-BY", "HEALTH"],
        ["1", "2024-05-01T12:00:00Z", "1a2b3c4d", "cli:user1", "Healthy"],
        ["2", "2024-05-02T12:00:00Z", "5e6f7a8b", "cli:user2", "Degraded"],
        ["3", "2024-05-03T12:00:00Z", "9c0d1e2f", "cli:user3"],
    ]

    as_json = tether(kubeconfig, *ns, "app", "history", "web", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    entries = json.loads(as_json.stdout)
    assert [e["revision"] for e in entries] == revisions
    assert entries[0] == {
        "id": 1,
        "revision": revisions[0],
        "deployedAt": "2024-05-01T12:00:00Z",
        "deployStartedAt": "2024-05-01T11:59:00Z",
        "initiatedBy": "cli:user1",
        "manifestsRef": "web-history-1",
        "manifestsDigest": entries[0]["manifestsDigest"],
        "health": "Healthy",
    }
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", entries[0]["manifestsDigest"])

    as_yaml = tether(kubeconfig, *ns, "app", "history", "web", "-o", "yaml")
    assert yaml.safe_load(as_yaml.stdout) == entries

    # The global -o works too, and wide shows the full revision and the Secret.
    wide = tether(kubeconfig, *ns, "-o", "wide", "app", "history", "web")
    assert wide.returncode == 0, wide.stderr
    assert revisions[2] in wide.stdout and "web-history-3" in wide.stdout

    for result in (table, as_json, as_yaml, wide):
        assert "s3cr3t-value" not in result.stdout + result.stderr


def test_unknown_app_is_one_error_line(kubeconfig: str, namespace: str) -> None:
    ns = ["-n", namespace]
    for args in (
        ["set", "nope", "--sync-policy", "automated"],
        ["suspend", "nope"],
        ["resume", "nope"],
        ["history", "nope"],
    ):
        result = tether(kubeconfig, *ns, "app", *args)
        assert_one_error_line(result, 2, f"Application {namespace}/nope not found")
        assert result.stdout == ""


def test_bad_flag_is_a_usage_error(kubeconfig: str, namespace: str) -> None:
    result = tether(kubeconfig, "-n", namespace, "app", "set", "web", "--sync-policy", "sometimes")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "sometimes" in result.stderr
