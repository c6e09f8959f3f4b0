"""A running controller with hostile applications beside a healthy canary: each hostile
app ends in its documented condition, nothing of it is applied, no credential appears in
any output, and the canary's drift is still seen at its normal latency meanwhile."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.test_controller import (
    auto,
    condition_of,
    configmap,
    controller,
    scrape,
    status_of,
    wait_synced_healthy,
)
from tests.support.apps import application
from tests.support.cli import tether
from tests.support.githttp import GitHttpServer, git
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app
from tether.kube import KubeClient

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def laughs_manifest() -> str:
    # The bomb inside a ConfigMap's data: valid-looking object, 10^9 nodes expanded.
    body = "".join("  " + line + "\n" for line in BILLION_LAUGHS.splitlines())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\ndata:\n{body}"


async def _canary_latency(
    kube: KubeClient, kubectl: Callable[..., Any], namespace: str, rounds: int
) -> list[float]:
    """Seconds from a kubectl edit of the canary to its app being OutOfSync, per round;
    each round then puts Git's value back by hand (the canary does not self-heal, so no
    backoff of repeated heals is measured here)."""

    def patch(value: str) -> None:
        kubectl(
            "patch", "-n", namespace, "configmap/canary", "--type=merge",
            "-p", f'{{"data":{{"v":"{value}"}}}}',
        )  # fmt: skip

    async def sync_is(wanted: str) -> Any:
        s = await status_of(kube, namespace, "canary")
        return s if s.sync.status.value == wanted else None

    latencies = []
    for round_ in range(rounds):
        await eventually(lambda: sync_is("Synced"), timeout=30, interval=0.05, what="Synced")
        started = time.monotonic()
        patch(f"edited-{round_}")
        await eventually(lambda: sync_is("OutOfSync"), timeout=20, interval=0.02, what="drift")
        latencies.append(time.monotonic() - started)
        patch("1")
    return latencies


async def test_hostile_apps_fail_alone_and_the_canary_keeps_its_latency(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    git_server: GitHttpServer,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    victim = f"t-victim-{uuid.uuid4().hex[:6]}"
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": victim}})
    repo.write(
        {
            "canary/cm.yaml": configmap("canary", "1"),
            "laughs/bomb.yaml": laughs_manifest(),
            "jqloop/cm.yaml": configmap("looped", "1"),
            "reach/cm.yaml": configmap("planted", "1").replace(
                "{name: planted}", f"{{name: planted, namespace: {victim}}}"
            ),
        }
    )
    head = repo.commit("a canary and three hostile apps")
    # A private repository whose URL carries its credentials (as people paste them).
    git_server.create_repo("secret-app")
    work = tmp_path / "secret-work"
    git("init", "--initial-branch=main", str(work))
    (work / "app").mkdir()
    (work / "app/cm.yaml").write_text(configmap("from-private", "1"))
    git("add", "-A", cwd=work)
    git("commit", "-m", "private", cwd=work)
    credentialed = git_server.url("secret-app", with_credentials=True)
    git("push", credentialed, "main", cwd=work)
    password = git_server.password

    await create_app(kube, application("canary", namespace, repo.url, "canary", syncPolicy=auto()))
    hostile = {
        "laughs": application("laughs", namespace, repo.url, "laughs", syncPolicy=auto()),
        "jqloop": application(
            "jqloop",
            namespace,
            repo.url,
            "jqloop",
            syncPolicy=auto(),
            ignoreDifferences=[{"kind": "ConfigMap", "jqPathExpressions": [".data | repeat(.)"]}],
        ),
        "reach": application("reach", namespace, repo.url, "reach", syncPolicy=auto()),
        "private": application("private", namespace, credentialed, "app", syncPolicy=auto()),
    }
    try:
        # A short jq deadline, so the looping rule is stopped many times during the test.
        with controller(kubeconfig, namespace, tmp_path, "--jq-timeout", "3") as proc:
            await wait_synced_healthy(kube, namespace, "canary", head)
            baseline = await _canary_latency(kube, kubectl, namespace, 3)
            for app in hostile.values():
                await create_app(kube, app)
            # An Application the API server accepts but tether cannot read (a typo).
            typo = application("typo", namespace, repo.url, "canary").to_dict()
            typo["spec"]["syncPolicy"] = {"syncOptions": ["CreateNamspace=true"]}
            await kube.apply(typo, field_manager="kubectl-client-side-apply")
            # While the hostile apps are compared (and retried with backoff), the canary
            # is edited again and again.
            under_attack = await _canary_latency(kube, kubectl, namespace, 6)

            laughs = await eventually(
                lambda: condition_of(kube, namespace, "laughs", "ComparisonError"),
                timeout=30,
                what="laughs ComparisonError",
            )
            assert "aliases expand" in laughs.message, laughs.message
            looped = await eventually(
                lambda: condition_of(kube, namespace, "jqloop", "ComparisonError"),
                timeout=60,
                what="jqloop ComparisonError",
            )
            assert "did not finish within 3s and was stopped" in looped.message, looped.message
            reach = await eventually(
                lambda: condition_of(kube, namespace, "reach", "ProjectViolation"),
                timeout=30,
                what="reach ProjectViolation",
            )
            assert f"ConfigMap {victim}/planted" in reach.message

            async def invalid_spec() -> Any:
                raw = await kube.get("tether.dev/v1alpha1", "Application", "typo", namespace)
                found = [
                    c
                    for c in ((raw or {}).get("status") or {}).get("conditions") or []
                    if c.get("type") == "InvalidSpec"
                ]
                return found[0] if found else None

            invalid = await eventually(invalid_spec, timeout=30, what="typo InvalidSpec")
            assert "did you mean CreateNamespace?" in invalid["message"], invalid
            # The credential-bearing app works (it is not hostile, only careless) ...
            await wait_synced_healthy(kube, namespace, "private", timeout=60)

            # Nothing of the hostile apps was applied.
            assert await kube.get("v1", "ConfigMap", "laughs", namespace) is None
            assert await kube.get("v1", "ConfigMap", "planted", victim) is None
            assert await kube.get("v1", "ConfigMap", "looped", namespace) is None

            # ... and its password is nowhere: metrics, events, statuses, CLI, the log.
            outputs = [scrape(proc), proc.logs()]
            outputs += [str(e) for e in await kube.list("v1", "Event", namespace)]
            for name in ("private", "canary", "typo", *hostile):
                for fmt in ("yaml", "json", "wide"):
                    shown = tether(kubeconfig, "-n", namespace, "app", "get", name, "-o", fmt)
                    outputs += [shown.stdout, shown.stderr]
            listed = tether(kubeconfig, "-n", namespace, "app", "list", "-o", "wide")
            outputs += [listed.stdout, listed.stderr]
            for text in outputs:
                assert password not in text
            metrics = scrape(proc)
            assert "http://***@127.0.0.1" in metrics
            assert 'tether_cache_bytes{cache="trees"}' in metrics

            # The canary kept its normal drift latency (measured, printed for the record).
            print(
                f"canary drift latency: baseline {[round(x, 3) for x in baseline]} s,"
                f" with hostile apps {[round(x, 3) for x in under_attack]} s"
            )
            assert max(under_attack) < 2.0, under_attack
            assert statistics.median(under_attack) < max(0.5, 3 * statistics.median(baseline))
            status, _ = proc.get("/healthz")
            assert status == 200

            # SIGTERM while the looping rule is being evaluated: exits in its grace period.
            started = time.monotonic()
            proc.stop()
            assert time.monotonic() - started < 30
    finally:
        await kube.delete("v1", "Namespace", victim)
        await asyncio.sleep(0)
