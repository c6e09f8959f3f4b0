"""Compare 100 apps x 20 objects: tether's warm compare against `kubectl diff --server-side`.

Both sides diff the same manifests (the objects tether would apply) against the same
live objects on the same local control plane, in one run:
- tether: `compare()` of every app from a warm cache (git tree extracted, watch cache
  synced), all apps concurrently; plus single-app compares (median of 20).
- baseline: `kubectl diff --server-side -f <app>.yaml`, once per app (what a person or a
  CI job runs per app), and once over all manifests in a single invocation.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from tests.support.repos import GitopsRepo

from bench.common import bench_cluster, machine
from tether.core.diff import ObjectDiff, Verdict
from tether.core.drift import explain_app
from tether.engine.apps import create_app
from tether.engine.compare import Engine, PredictionCache, compare
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.model.application import API_VERSION, Application
from tether.model.keys import ResourceKey
from tether.render import RenderTools

APPS = int(os.environ.get("BENCH_COMPARE_APPS", "100"))
NAMESPACES = 10
# The same request tether's dry-run makes: field manager tether, conflicts forced.
DIFF_FLAGS = ("--server-side", "--field-manager=tether", "--force-conflicts")


def app_manifests(i: int) -> str:
    """20 objects: 4 Deployments, 4 Services, 8 ConfigMaps, 2 Secrets, 2 ServiceAccounts."""
    docs: list[dict[str, Any]] = []
    for d in range(4):
        name = f"svc-{i:03d}-{d}"
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
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"ghcr.io/example/{name}:1.{d}.0",
                                    "ports": [{"containerPort": 8080}],
                                    "resources": {"requests": {"cpu": "0.1", "memory": "128Mi"}},
                                    "readinessProbe": {
                                        "httpGet": {"path": "/healthz", "port": 8080}
                                    },
                                }
                            ]
                        },
                    },
                },
            }
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    for c in range(8):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"cfg-{i:03d}-{c}"},
                "data": {"key": f"value-{c}", "mode": "prod"},
            }
        )
    for s in range(2):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"sec-{i:03d}-{s}"},
                "type": "Opaque",
                "stringData": {"password": f"not-real-{s}"},
            }
        )
        docs.append(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"sa-{i:03d}-{s}"}}
        )
    return yaml.safe_dump_all(docs)


def application(i: int, repo_url: str) -> Application:
    return Application.from_dict(
        {
            "apiVersion": API_VERSION,
            "kind": "Application",
            "metadata": {"name": f"app-{i:03d}", "namespace": "tether-system"},
            "spec": {
                "source": {
                    "repoURL": repo_url,
                    "path": f"apps/app-{i:03d}",
                    "targetRevision": "main",
                },
                "destination": {"namespace": f"bench-{i % NAMESPACES}"},
            },
        }
    )


async def prepare(kubeconfig: str, work: Path) -> tuple[list[Application], list[Path]]:
    repo = GitopsRepo(work)
    repo.write({f"apps/app-{i:03d}/all.yaml": app_manifests(i) for i in range(APPS)})
    repo.commit("bench apps")
    kube = KubeClient.from_kubeconfig(kubeconfig)
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    files = []
    try:
        for n in range(NAMESPACES):
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}
            )
        apps = [application(i, repo.url) for i in range(APPS)]
        for app in apps:
            await create_app(kube, app)
            result = await compare(engine, app)
            assert result.error is None, result.error
            # Put the cluster where Git says (sync does not exist yet): apply the desired objects.
            await asyncio.gather(*(kube.apply(o) for o in result.desired))
            path = work / f"{app.name}.yaml"
            path.write_text(yaml.safe_dump_all(result.desired))
            files.append(path)
    finally:
        await engine.cache.close()
        kube.close()
    return apps, files


async def tether_side(kubeconfig: str, work: Path, apps: list[Application]) -> dict[str, float]:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    limit = asyncio.Semaphore(8)

    async def one(app: Application) -> None:
        async with limit:
            result = await compare(engine, app, fetch=False)
        assert result.error is None and result.diff is not None and result.diff.in_sync, app.name

    try:
        await asyncio.gather(*(one(a) for a in apps))  # warm: watches synced, trees extracted
        engine.predictions = PredictionCache()  # every dry-run made again
        start = time.perf_counter()
        await asyncio.gather(*(one(a) for a in apps))
        no_prediction_cache = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.gather(*(one(a) for a in apps))
        whole = time.perf_counter() - start
        singles = []
        for app in apps[:20]:
            t0 = time.perf_counter()
            await one(app)
            singles.append(time.perf_counter() - t0)
        attribution = await attribution_time(engine, apps)
    finally:
        await engine.cache.close()
        kube.close()
    return {
        "whole": whole,
        "uncached": no_prediction_cache,
        "single_median": statistics.median(singles),
        "single_max": max(singles),
        "attribution": attribution,
    }


def _leaf_pointers(obj: Any, prefix: str = "") -> list[str]:
    if isinstance(obj, dict) and obj:
        return [
            p
            for k, v in obj.items()
            for p in _leaf_pointers(v, f"{prefix}/{str(k).replace('~', '~0').replace('/', '~1')}")
        ]
    if isinstance(obj, list) and obj:
        return [p for i, v in enumerate(obj) for p in _leaf_pointers(v, f"{prefix}/{i}")]
    return [prefix]


async def attribution_time(engine: Engine, apps: list[Application]) -> float:
    """Drift attribution (writer, cause, evidence) of every field tether owns, for all
    2,000 objects as if each had drifted, from the real live managedFields."""
    rows = []
    for app in apps:
        result = await compare(engine, app, fetch=False)
        for obj in result.desired:
            key = ResourceKey.of(obj)
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
            paths = _leaf_pointers(body)
            diff = ObjectDiff(key, Verdict.OUT_OF_SYNC, paths, obj, result.live.get(key))
            rows.append((diff, obj, result.live.get(key), result.predicted.get(key)))
    start = time.perf_counter()
    findings = explain_app(rows)
    elapsed = time.perf_counter() - start
    assert len(rows) == APPS * 20 and findings, (len(rows), len(findings))
    return elapsed


def kubectl_side(kubeconfig: str, files: list[Path], work: Path) -> dict[str, float]:
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    subprocess.run(
        [*kubectl, "diff", *DIFF_FLAGS, "-f", str(files[0])], capture_output=True, check=False
    )
    start = time.perf_counter()
    for path in files:
        proc = subprocess.run(
            [*kubectl, "diff", *DIFF_FLAGS, "-f", str(path)], capture_output=True, check=False
        )
        assert proc.returncode == 0, proc.stdout.decode()[:500] + proc.stderr.decode()[:500]
    per_app = time.perf_counter() - start
    everything = work / "all.yaml"
    everything.write_text("---\n".join(p.read_text() for p in files))
    start = time.perf_counter()
    proc = subprocess.run(
        [*kubectl, "diff", *DIFF_FLAGS, "-f", str(everything)], capture_output=True, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()[:500]
    return {"per_app": per_app, "one_call": time.perf_counter() - start}


def main() -> dict[str, float]:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kubeconfig = str(cluster.kubeconfig)
        apps, files = asyncio.run(prepare(kubeconfig, work))
        ours = asyncio.run(tether_side(kubeconfig, work, apps))
        base = kubectl_side(kubeconfig, files, work)
    n = APPS * 20
    print(f"bench compare: {APPS} apps x 20 objects = {n} objects, all in sync ({machine()})")
    print(f"  kubectl diff --server-side, per app   : {base['per_app']:8.2f} s")
    print(f"  kubectl diff --server-side, one call  : {base['one_call']:8.2f} s")
    print(f"  tether compare, all apps, dry-runs made: {ours['uncached']:8.2f} s")
    print(f"  tether compare, all apps (warm)       : {ours['whole']:8.2f} s")
    print(
        f"  tether compare, one app  (warm)       : {ours['single_median'] * 1000:8.1f} ms median,"
        f" {ours['single_max'] * 1000:.1f} ms max of 20"
    )
    print(f"  ratio vs per-app kubectl diff         : {base['per_app'] / ours['whole']:8.1f}x")
    print(f"  ratio vs one-call kubectl diff        : {base['one_call'] / ours['whole']:8.1f}x")
    print(f"  ratio, dry-runs made (no cache), per-app: {base['per_app'] / ours['uncached']:6.1f}x")
    print(
        f"  drift attribution of every owned field of all {n} objects: "
        f"{ours['attribution']:.2f} s = {ours['attribution'] / ours['whole'] * 100:.0f}% of a"
        f" warm full compare, {ours['attribution'] / ours['uncached'] * 100:.0f}% of a compare"
        " with every dry-run made (target < 20%)"
    )
    return ours | base


if __name__ == "__main__":
    main()
