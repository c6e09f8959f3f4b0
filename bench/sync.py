"""Sync 100 apps x 20 objects into an empty cluster: tether against `kubectl apply
--server-side -R` on the same manifests, in one run.

tether does the whole job: compare, claim the operation, preflight dry-run of every
object, apply wave by wave, wait for health (Deployments Available), record status.
kubectl only applies. Each side gets its own set of empty namespaces.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from tests.support.repos import GitopsRepo

from bench.common import bench_cluster, machine
from bench.compare import app_manifests
from tether.engine.apps import create_app, install_crd
from tether.engine.compare import Engine
from tether.engine.sync import SyncRequest, sync_app
from tether.git import GitRepos
from tether.kube import KubeClient, LiveCache
from tether.localcluster import binaries
from tether.model.application import API_VERSION, Application
from tether.render import RenderTools

APPS = int(os.environ.get("BENCH_SYNC_APPS", "100"))
NAMESPACES = 10
CONCURRENCY = 32  # syncs mostly wait on health; the API server is the real limit


def with_namespace(manifests: str, namespace: str) -> str:
    docs = list(yaml.safe_load_all(manifests))
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return yaml.safe_dump_all(docs)


async def tether_side(kubeconfig: str, work: Path) -> float:
    repo = GitopsRepo(work, "sync-bench")
    repo.write(
        {
            f"apps/app-{i:03d}/all.yaml": with_namespace(app_manifests(i), f"t-{i % NAMESPACES}")
            for i in range(APPS)
        }
    )
    repo.commit("bench apps")
    kube = KubeClient.from_kubeconfig(kubeconfig)
    engine = Engine(
        kube, GitRepos(work / "cache"), RenderTools.from_dir(binaries.bin_dir()), LiveCache(kube)
    )
    apps = [
        Application.from_dict(
            {
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {"name": f"app-{i:03d}", "namespace": "tether-system"},
                "spec": {
                    "source": {
                        "repoURL": repo.url,
                        "path": f"apps/app-{i:03d}",
                        "targetRevision": "main",
                    }
                },
            }
        )
        for i in range(APPS)
    ]
    try:
        await install_crd(kube)
        for n in range(NAMESPACES):
            await kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"t-{n}"}}
            )
        for app in apps:
            await create_app(kube, app)
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(app: Application) -> None:
            async with limit:
                result = await sync_app(engine, app, SyncRequest(timeout=300, initiated_by="bench"))
            assert result.succeeded, result.message

        start = time.perf_counter()
        await asyncio.gather(*(one(a) for a in apps))
        return time.perf_counter() - start
    finally:
        await engine.cache.close()
        kube.close()


def kubectl_side(kubeconfig: str, work: Path) -> tuple[float, float]:
    tree = work / "kubectl"
    for i in range(APPS):
        path = tree / f"app-{i:03d}" / "all.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(with_namespace(app_manifests(i), f"k-{i % NAMESPACES}"))
    kubectl = [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}"]
    for n in range(NAMESPACES):
        subprocess.run([*kubectl, "create", "namespace", f"k-{n}"], check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run(
        [*kubectl, "apply", "--server-side", "-R", "-f", str(tree)], check=True, capture_output=True
    )
    applied = time.perf_counter() - start
    # The same end state tether's health gates wait for: every Deployment Available.
    for n in range(NAMESPACES):
        subprocess.run(
            [
                *kubectl,
                "wait",
                "--for=condition=Available",
                "deployment",
                "--all",
                "-n",
                f"k-{n}",
                "--timeout=600s",
            ],
            check=True,
            capture_output=True,
        )
    return applied, time.perf_counter() - start


def main() -> dict[str, float]:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = str(cluster.kubeconfig)
        applied, available = kubectl_side(kubeconfig, Path(tmp))
        ours = asyncio.run(tether_side(kubeconfig, Path(tmp)))
    n = APPS * 20
    print(f"bench sync: {APPS} apps x 20 objects = {n} objects into empty namespaces ({machine()})")
    print(f"  kubectl apply --server-side -R (apply only)        : {applied:8.2f} s")
    print(f"  kubectl apply + wait until Deployments Available   : {available:8.2f} s")
    print(f"  tether sync (preflight, waves, health, status)     : {ours:8.2f} s")
    print(f"  ratio tether / kubectl apply only : {ours / applied:8.2f}x (target 1.5x)")
    print(f"  ratio tether / kubectl apply + wait Available : {ours / available:8.2f}x")
    return {"kubectl_apply": applied, "kubectl_available": available, "tether": ours}


if __name__ == "__main__":
    main()
