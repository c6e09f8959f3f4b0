"""Drift latency: from a live edit to OutOfSync in the Application's status.

One run, one local control plane:
- baseline (the previous approach, before the controller): a detector that re-compares
  every app in a loop with tether's warm compare (`tether app diff` in a loop) — the
  fastest polling can be. 20 edits.
- tether controller (a real `tether controller` process, watches + work queue): 200
  random live edits on 100 apps x 20 objects; p50/p99 latency, controller CPU and RSS.
- second size: 500 apps x 20 objects (10,000 tracked objects): controller RSS and the
  latency of 50 edits.

Each edit is a write by another field manager (as `kubectl edit` makes it) to a managed
object; the time runs from just before the write is sent until the bench's own watch on
Applications sees `status.sync.status: OutOfSync`. The edit is then undone and the app
seen Synced again before the next one.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from tests.support.controller import ControllerProcess
from tests.support.repos import GitopsRepo

from bench.common import bench_cluster, cpu_seconds, machine, rss_mib
from tether.engine.apps import create_app, ensure_namespace
from tether.engine.compare import Engine, compare
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.model.application import API_VERSION, Application
from tether.render import RenderTools

APPS = int(os.environ.get("BENCH_DRIFT_APPS", "100"))
LARGE_APPS = int(os.environ.get("BENCH_DRIFT_LARGE_APPS", "500"))
EDITS = int(os.environ.get("BENCH_DRIFT_EDITS", "200"))
LARGE_EDITS = int(os.environ.get("BENCH_DRIFT_LARGE_EDITS", "50"))
BASELINE_EDITS = int(os.environ.get("BENCH_DRIFT_BASELINE_EDITS", "20"))
APP_NAMESPACE = "tether-system"
NAMESPACES = 10


def app_manifests(prefix: str, deployments: int) -> str:
    """20 objects: `deployments` Deployments, the rest ConfigMaps."""
    docs: list[dict[str, Any]] = []
    for d in range(deployments):
        name = f"{prefix}-d{d}"
        labels = {"app": name}
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                    },
                },
            }
        )
    for c in range(20 - deployments):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{prefix}-c{c}"},
                "data": {"key": f"value-{c}", "mode": "prod"},
            }
        )
    return yaml.safe_dump_all(docs)


def application(name: str, repo_url: str, dest: str) -> Application:
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": name, "namespace": APP_NAMESPACE},
            "spec": {
                "source": {"repoURL": repo_url, "path": f"apps/{name}", "targetRevision": "main"},
                "destination": {"namespace": dest},
                "interval": "1h",  # only live edits matter here
            },
        }
    )


class StatusWatch:
    """The bench's own watch on Applications: when did each app last turn OutOfSync/Synced."""

    def __init__(self, kube: KubeClient) -> None:
        self.cache = LiveCache(kube)
        self.changed = asyncio.Event()
        self.sync: dict[str, tuple[str, float]] = {}
        self.cache.add_listener(self._on_event)

    def _on_event(self, _event: str, obj: dict[str, Any]) -> None:
        if obj.get("kind") != "Application":
            return
        name = obj["metadata"]["name"]
        status = ((obj.get("status") or {}).get("sync") or {}).get("status", "Unknown")
        if self.sync.get(name, ("", 0.0))[0] != status:
            self.sync[name] = (status, time.monotonic())
            self.changed.set()

    async def start(self) -> None:
        await self.cache.watch_kind(API_VERSION, "Application")

    async def wait_for(self, name: str, status: str, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            current = self.sync.get(name)
            if current is not None and current[0] == status:
                return current[1]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{name} not {status} in {timeout}s (now {current})")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue

    async def wait_all(self, names: list[str], status: str, timeout: float) -> None:
        for name in names:
            await self.wait_for(name, status, timeout)


async def prepare(
    kube: KubeClient, work: Path, names: list[str], deployments: int
) -> list[dict[str, Any]]:
    """Apps created, their objects applied as tether would (tracking ids), no auto-sync."""
    repo = GitopsRepo(work, name=f"gitops-{len(names)}")
    repo.write({f"apps/{n}/all.yaml": app_manifests(n, deployments) for n in names})
    repo.commit("bench apps")
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    targets: list[dict[str, Any]] = []
    limit = asyncio.Semaphore(16)
    try:
        await ensure_namespace(kube, APP_NAMESPACE)
        for n in range(NAMESPACES):
            await ensure_namespace(kube, f"drift-{n}")

        async def one(i: int, name: str) -> None:
            app = application(name, repo.url, f"drift-{i % NAMESPACES}")
            async with limit:
                await create_app(kube, app)
                result = await compare(engine, app, fetch=False)
                assert result.error is None, result.error
                await asyncio.gather(*(kube.apply(o) for o in result.desired))
            targets.extend(
                {"app": name, "obj": o} for o in result.desired if o["kind"] == "ConfigMap"
            )

        await engine.repos.fetch(repo.url)
        await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
    finally:
        await engine.cache.close()
    return targets


async def edit(kube: KubeClient, target: dict[str, Any], value: str) -> None:
    meta = target["obj"]["metadata"]
    await kube.patch(
        "v1",
        "ConfigMap",
        meta["name"],
        {"data": {"mode": value}},
        namespace=meta["namespace"],
        field_manager="kubectl-edit",
    )


async def measure_edits(
    kube: KubeClient, watch: StatusWatch, targets: list[dict[str, Any]], edits: int, seed: int
) -> list[float]:
    rng = random.Random(seed)
    latencies = []
    for _ in range(edits):
        target = rng.choice(targets)
        name = target["app"]
        await watch.wait_for(name, "Synced")
        started = time.monotonic()
        await edit(kube, target, "debug")
        seen = await watch.wait_for(name, "OutOfSync")
        latencies.append(seen - started)
        await edit(kube, target, "prod")  # undo: Git's value again
        await watch.wait_for(name, "Synced")
    return latencies


async def baseline_polling(
    work: Path, kube: KubeClient, names: list[str], targets: list[dict[str, Any]]
) -> tuple[list[float], float]:
    """A polling detector: warm compares of every app in a loop (no controller running)."""
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    stored = {a.name: a for a in await _apps(kube)}
    apps = [stored[n] for n in names]
    found: dict[str, float] = {}
    passes: list[float] = []
    stop = asyncio.Event()
    pass_done = asyncio.Event()

    async def poller() -> None:
        limit = asyncio.Semaphore(8)

        async def one(app: Application) -> None:
            async with limit:
                result = await compare(engine, app, fetch=False)
            if result.diff is not None and not result.diff.in_sync:
                found.setdefault(app.name, time.monotonic())
            else:
                found.pop(app.name, None)

        while not stop.is_set():
            t0 = time.monotonic()
            await asyncio.gather(*(one(a) for a in apps))
            passes.append(time.monotonic() - t0)
            pass_done.set()

    task = asyncio.create_task(poller())
    rng = random.Random(7)
    latencies = []
    try:
        await asyncio.sleep(3)  # warm
        for _ in range(BASELINE_EDITS):
            target = rng.choice(targets)
            name = target["app"]
            started = time.monotonic()
            await edit(kube, target, "debug")
            while name not in found or found[name] < started:
                pass_done.clear()
                await pass_done.wait()
            latencies.append(found[name] - started)
            await edit(kube, target, "prod")
            while name in found:
                pass_done.clear()
                await pass_done.wait()
    finally:
        stop.set()
        await task
        await engine.cache.close()
    return latencies, statistics.median(passes)


async def _apps(kube: KubeClient) -> list[Application]:
    items = await kube.list(API_VERSION, "Application", APP_NAMESPACE)
    return [Application.from_dict(i) for i in items]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run_size(
    kubeconfig: str, work: Path, label: str, apps: int, deployments: int, edits: int, baseline: bool
) -> dict[str, float]:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    names = [f"{label}-{i:03d}" for i in range(apps)]
    out: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        targets = await prepare(kube, work, names, deployments)
        out["prepare"] = time.monotonic() - t0
        if baseline:
            polled, cycle = await baseline_polling(work, kube, names, targets)
            out["poll_p50"], out["poll_p99"] = pct(polled, 0.5), pct(polled, 0.99)
            out["poll_cycle"] = cycle
        watch = StatusWatch(kube)
        await watch.start()
        proc = ControllerProcess(
            kubeconfig, APP_NAMESPACE, work, name=f"controller-{label}", verbose=False
        )
        started = time.monotonic()
        proc.start(timeout=120)
        try:
            await watch.wait_all(names, "Synced", timeout=900)
            out["first_reconcile"] = time.monotonic() - started
            assert proc.proc is not None
            pid = proc.proc.pid
            await asyncio.sleep(2)
            # The bench's own pauses must not count as latency: its heap (the prepared
            # objects, the status watch) is long-lived, keep the GC off it.
            gc.collect()
            gc.freeze()
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            latencies = await measure_edits(kube, watch, targets, edits, seed=apps)
            cpu1, wall1 = cpu_seconds(pid), time.monotonic()
            out["p50"], out["p99"] = pct(latencies, 0.5), pct(latencies, 0.99)
            out["max"] = max(latencies)
            out["cpu"] = (cpu1 - cpu0) / (wall1 - wall0)
            out["rss"], out["hwm"] = rss_mib(pid)
            out["objects"] = apps * 20
        finally:
            proc.stop()
            await watch.cache.close()
        # The next size starts with only its own apps (the objects stay; untracked).
        await asyncio.gather(
            *(kube.delete(API_VERSION, "Application", n, APP_NAMESPACE) for n in names)
        )
    finally:
        kube.close()
    return out


def main() -> None:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kubeconfig = str(cluster.kubeconfig)
        small = asyncio.run(run_size(kubeconfig, work, "s", APPS, 2, EDITS, baseline=True))
        large = asyncio.run(
            run_size(kubeconfig, work, "l", LARGE_APPS, 0, LARGE_EDITS, baseline=False)
        )
    print(f"drift latency bench ({machine()})")
    print(
        f"  {APPS} apps x 20 objects, {EDITS} edits: p50 {small['p50'] * 1000:.0f} ms,"
        f" p99 {small['p99'] * 1000:.0f} ms, max {small['max'] * 1000:.0f} ms;"
        f" controller CPU {small['cpu'] * 100:.0f}% of a core during edits,"
        f" RSS {small['rss']:.0f} MiB (peak {small['hwm']:.0f} MiB);"
        f" first reconcile of all apps {small['first_reconcile']:.1f} s"
    )
    print(
        f"  baseline polling detector (warm compare of all apps in a loop, cycle"
        f" {small['poll_cycle']:.2f} s), {BASELINE_EDITS} edits: p50"
        f" {small['poll_p50'] * 1000:.0f} ms, p99 {small['poll_p99'] * 1000:.0f} ms"
        f" -> watch p99 is {small['poll_p99'] / small['p99']:.1f}x faster"
    )
    print(
        f"  {LARGE_APPS} apps x 20 = {int(large['objects'])} tracked objects, {LARGE_EDITS}"
        f" edits: p50 {large['p50'] * 1000:.0f} ms, p99 {large['p99'] * 1000:.0f} ms;"
        f" controller RSS {large['rss']:.0f} MiB (peak {large['hwm']:.0f} MiB),"
        f" CPU {large['cpu'] * 100:.0f}%; first reconcile {large['first_reconcile']:.1f} s"
    )
    targets_met = small["p99"] < 1.0 and large["hwm"] < 250
    verdict = "met" if targets_met else "NOT met"
    print(f"  targets (p99 < 1 s, RSS < 250 MB at 10,000 objects): {verdict}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
