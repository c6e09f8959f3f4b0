"""Server-side apply of N objects: tether's kube adapter against `kubectl apply --server-side`.

Both apply the same N ConfigMaps (fresh names each round, so both create) to the same
local control plane in the same process run. Prints absolute times and the ratio.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.common import bench_cluster, machine, timed
from tether.kube import KubeClient
from tether.localcluster import binaries

N = int(os.environ.get("BENCH_APPLY_OBJECTS", "100"))


def configmaps(prefix: str, namespace: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{prefix}-{i:04d}",
                "namespace": namespace,
                "labels": {"bench": prefix},
            },
            "data": {"index": str(i), "payload": "x" * 256},
        }
        for i in range(N)
    ]


async def tether_apply(kubeconfig: str, objects: list[dict[str, Any]]) -> None:
    client = KubeClient.from_kubeconfig(kubeconfig)
    try:
        await asyncio.gather(*(client.apply(obj, field_manager="tether") for obj in objects))
    finally:
        client.close()


def main() -> dict[str, float]:
    results: dict[str, float] = {}
    with bench_cluster() as cluster:
        kubeconfig = str(cluster.kubeconfig)
        kubectl = str(binaries.binary("kubectl"))
        ns = "default"
        # Warm both paths once (discovery caches, TLS) so the rounds measure apply itself.
        asyncio.run(tether_apply(kubeconfig, configmaps("warm-t", ns)[:5]))
        with tempfile.TemporaryDirectory() as tmp:
            warm = Path(tmp) / "warm.yaml"
            warm.write_text(yaml.safe_dump_all(configmaps("warm-k", ns)[:5]))
            subprocess.run(
                [kubectl, f"--kubeconfig={kubeconfig}", "apply", "--server-side", "-f", str(warm)],
                check=True,
                capture_output=True,
            )
            manifest = Path(tmp) / "objects.yaml"
            manifest.write_text(yaml.safe_dump_all(configmaps("kubectl", ns)))
            with timed(results, "kubectl apply --server-side"):
                subprocess.run(
                    [
                        kubectl,
                        f"--kubeconfig={kubeconfig}",
                        "apply",
                        "--server-side",
                        "--field-manager=kubectl-bench",
                        "-f",
                        str(manifest),
                    ],
                    check=True,
                    capture_output=True,
                )
        with timed(results, "tether KubeClient.apply"):
            asyncio.run(tether_apply(kubeconfig, configmaps("tether", ns)))
    base = results["kubectl apply --server-side"]
    ours = results["tether KubeClient.apply"]
    print(f"bench apply: {N} ConfigMaps, server-side apply ({machine()})")
    print(
        f"  kubectl apply --server-side : {base * 1000:8.1f} ms  ({base / N * 1000:.2f} ms/object)"
    )
    print(
        f"  tether KubeClient.apply     : {ours * 1000:8.1f} ms  ({ours / N * 1000:.2f} ms/object)"
    )
    print(f"  ratio (kubectl / tether)    : {base / ours:8.2f}x")
    return results


if __name__ == "__main__":
    main()
