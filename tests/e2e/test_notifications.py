"""Notifications from a running controller to a real receiver on 127.0.0.1: a sync of a
new commit says the commit's subject and author and only the objects it changed; a real
`kubectl edit` is one drift-detected message naming the object, the path, kubectl-edit
and manual-edit; a force push is history-rewritten; a break-glass rollback is
break-glass; no token in any payload or in the controller's log."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.apps import application
from tests.support.cli import tether
from tests.support.controller import ControllerProcess
from tests.support.githttp import git
from tests.support.manifests import as_yaml, configmap
from tests.support.receivers import Receiver, register_receiver
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app
from tether.kube import KubeClient
from tether.model.notification import NOTIFICATION_VERSION

TOKEN = "bearer-never-in-a-payload-2718"


async def receive(kube: KubeClient, namespace: str, url: str) -> None:
    triggers = ["sync-succeeded", "drift-detected", "history-rewritten", "break-glass"]
    await register_receiver(kube, namespace, "generic", url, TOKEN, triggers=triggers)


async def message(receiver: Receiver, trigger: str, after: int = 0) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        bodies = receiver.bodies()[after:]
        return next((b for b in bodies if b["trigger"] == trigger), None)

    return await eventually(found, timeout=30, what=f"a {trigger} notification")


async def test_controller_notifications_say_what_changed_who_and_why(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
    kubectl: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    repo.write(
        {
            "web/settings.yaml": as_yaml(configmap("settings", {"mode": "blue"})),
            "web/extra.yaml": as_yaml(configmap("extra", {"level": "1"})),
        }
    )
    repo.commit("web settings")
    auto = {"automated": {}}
    await create_app(
        kube, application("web", namespace, repo.url, "web", syncPolicy=auto, interval="2s")
    )
    with Receiver() as receiver:
        await receive(kube, namespace, receiver.url)
        with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:
            first = await message(receiver, "sync-succeeded")
            assert {o["name"] for o in first["objects"]} == {"settings", "extra"}

            # A new commit that changes one object: its subject and author, only that object.
            repo.write({"web/extra.yaml": as_yaml(configmap("extra", {"level": "2"}))})
            v2 = repo.commit("raise the extra level")
            seen = len(receiver.received)
            synced = await message(receiver, "sync-succeeded", after=seen)
            assert synced["revision"] == {
                "sha": v2,
                "subject": "raise the extra level",
                "author": "Test Author",
            }
            assert synced["objects"] == [
                {
                    "action": "configured",
                    "kind": "ConfigMap",
                    "namespace": namespace,
                    "name": "extra",
                }
            ]
            assert synced["initiatedBy"] == "controller/auto-sync"

            # A real kubectl edit: one message, with the object, path, writer and cause.
            editor = tmp_path / "edit.sh"
            editor.write_text("#!/bin/sh\nsed -i 's#mode: blue#mode: green#' \"$1\"\n")
            editor.chmod(0o755)
            seen = len(receiver.received)
            kubectl("edit", "-n", namespace, "configmap/settings", env={"KUBE_EDITOR": str(editor)})
            drift = await message(receiver, "drift-detected", after=seen)
            assert [(d["kind"], d["name"], d["paths"]) for d in drift["drift"]] == [
                ("ConfigMap", "settings", ["/data/mode"])
            ]
            assert drift["drift"][0]["writer"] == "kubectl-edit"
            assert drift["drift"][0]["cause"] == "manual-edit"
            await asyncio.sleep(3)  # more reconciles: still one message for one edit
            assert [b["trigger"] for b in receiver.bodies()[seen:]] == ["drift-detected"]
            # `tether app get` says what was sent last (an Event on the Application).
            shown = tether(kubeconfig, "-n", namespace, "app", "get", "web", cache=tmp_path)
            assert shown.returncode == 0, shown.stderr
            notified = next(x for x in shown.stdout.splitlines() if x.startswith("Notified:"))
            assert "drift-detected sent through Alert ops (generic)" in notified

            # Someone rewrites main: history-rewritten.
            git("reset", "-q", "--hard", "HEAD~1", cwd=repo.work)
            repo.write({"web/extra.yaml": as_yaml(configmap("extra", {"level": "3"}))})
            git("add", "-A", cwd=repo.work)
            git("commit", "-q", "-m", "level 3 on a rewritten main", cwd=repo.work)
            git("push", "-q", "--force", "origin", "main", cwd=repo.work)
            rewritten = await message(receiver, "history-rewritten")
            assert (
                rewritten["severity"] == "critical" and "rewritten" in rewritten["message"].lower()
            )

            # Break-glass back to the first deployment: break-glass, from the status the CLI
            # wrote (the controller did not run it).
            result = tether(
                kubeconfig,
                "-n",
                namespace,
                "app",
                "rollback",
                "web",
                "1",
                "--disable-auto-sync",
                cache=tmp_path / "cli",
            )
            assert result.returncode == 0, result.stderr
            glass = await message(receiver, "break-glass")
            assert glass["application"] == {"namespace": namespace, "name": "web"}

            for got in receiver.received:
                assert TOKEN not in got.body.decode()
                assert got.headers.get("authorization") == f"Bearer {TOKEN}"
            assert TOKEN not in proc.logs() and "hooks/secret-path" not in proc.logs()
            triggers = [b["trigger"] for b in receiver.bodies()]
            print(f"{len(receiver.received)} notifications: {triggers}")


async def test_a_bad_commit_is_health_degraded_after_for_then_recovered_by_a_revert(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "good"}))})
    repo.commit("good settings")
    # The app's own health rule: a ConfigMap whose mode is "bad" is Degraded.
    rule = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "failed": "data.mode == 'bad'",
        "current": "data.mode != 'bad'",
    }
    app = application(
        "web",
        namespace,
        repo.url,
        "web",
        syncPolicy={"automated": {}},
        interval="2s",
        healthChecks=[rule],
    )
    await create_app(kube, app)
    with Receiver() as receiver:
        await receive(kube, namespace, receiver.url)
        await kube.apply(
            {
                "apiVersion": NOTIFICATION_VERSION,
                "kind": "Alert",
                "metadata": {"name": "ops", "namespace": namespace},
                "spec": {
                    "providerRef": {"name": "hook"},
                    "triggers": ["health-degraded", "recovered", "revert"],
                    "for": {"health-degraded": "3s"},
                },
            }
        )
        with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:
            await eventually(
                lambda: _health(kube, namespace, "Healthy"), timeout=60, what="web Healthy"
            )
            repo.write({"web/settings.yaml": as_yaml(configmap("settings", {"mode": "bad"}))})
            bad = repo.commit("a bad mode")
            await eventually(
                lambda: _health(kube, namespace, "Degraded"), timeout=60, what="web Degraded"
            )
            degraded_at = asyncio.get_running_loop().time()
            degraded = await message(receiver, "health-degraded")
            held = asyncio.get_running_loop().time() - degraded_at
            assert held >= 2.0, f"sent {held:.1f}s after Degraded: before `for` (3s) ran out"
            assert degraded["revision"]["subject"] == "a bad mode"
            result = tether(
                kubeconfig,
                "-n",
                namespace,
                "revert",
                "web",
                "--commit",
                bad,
                cache=tmp_path / "cli",
            )
            assert result.returncode == 0, result.stderr
            recovered = await message(receiver, "recovered")
            assert "health-degraded no longer applies" in recovered["message"]
            reverted = await message(receiver, "revert")
            assert reverted["revision"]["subject"].startswith("Revert 1 commit(s) for web")
            assert [b["trigger"] for b in receiver.bodies()].count("health-degraded") == 1
            assert TOKEN not in proc.logs()


async def _health(kube: KubeClient, namespace: str, wanted: str) -> bool:
    raw = await kube.get("tether.dev/v1alpha1", "Application", "web", namespace)
    status = (raw or {}).get("status") or {}
    return bool(status.get("health", {}).get("status") == wanted)


async def test_notify_test_sends_a_sample_and_says_when_it_cannot(
    kubeconfig: str, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    with Receiver(answers=[403]) as receiver:
        await receive(kube, namespace, receiver.url)
        refused = tether(kubeconfig, "-n", namespace, "notify", "test", "ops", cache=tmp_path)
        assert refused.returncode == 1, refused.stderr
        assert "not delivered: HTTP 403" in refused.stderr
        sent = tether(kubeconfig, "-n", namespace, "notify", "test", "ops", cache=tmp_path)
        assert sent.returncode == 0, sent.stderr
        assert "test message delivered" in sent.stdout + sent.stderr
        assert "delivery works" in receiver.bodies()[-1]["message"]
    missing = tether(kubeconfig, "-n", namespace, "notify", "test", "nope", cache=tmp_path)
    assert missing.returncode == 2 and "Alert" in missing.stderr and "not found" in missing.stderr
    for result in (refused, sent, missing):
        assert TOKEN not in result.stdout + result.stderr
        assert "secret-path-4711" not in result.stdout + result.stderr
