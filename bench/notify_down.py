"""A notification receiver that is down must not slow reconciles: drift latency (a live
edit to OutOfSync in the status) of a real `tether controller` whose Alert sends every
drift to a receiver that answers at once (the baseline, same run), then to one that
accepts connections and never answers (every delivery waits for its timeout, 3 attempts).

20 apps x 20 objects, 40 edits per run, one local control plane. Prints p50/p99 of both
runs and the ratio, the notifications delivered in the first run, and the failures
counted in the second (from the controller's /metrics).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.controller import ControllerProcess
from tests.support.receivers import Receiver, register_receiver

from bench.common import bench_cluster, machine
from bench.drift_latency import APP_NAMESPACE, StatusWatch, measure_edits, pct, prepare
from tether.kube import KubeClient
from tether.model.application import API_VERSION

APPS = int(os.environ.get("BENCH_NOTIFY_APPS", "20"))
EDITS = int(os.environ.get("BENCH_NOTIFY_EDITS", "40"))
SENT = 'tether_notifications_total{provider="generic",result="success"}'
FAILED = 'tether_notifications_total{provider="generic",result="failed"}'


class Blackhole:
    """Accepts connections and never answers (a receiver that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def run(kubeconfig: str, work: Path, label: str, address: str) -> dict[str, float]:
    kube = KubeClient.from_kubeconfig(kubeconfig)
    names = [f"{label}-{i:03d}" for i in range(APPS)]
    work = work / label
    work.mkdir()
    try:
        targets = await prepare(kube, work, names, 2)
        await register_receiver(
            kube,
            APP_NAMESPACE,
            "generic",
            address,
            "t",
            triggers=["drift-detected"],
            rateLimit=1000,
        )
        watch = StatusWatch(kube)
        await watch.start()
        proc = ControllerProcess(
            kubeconfig, APP_NAMESPACE, work, name=f"controller-{label}", verbose=False
        )
        proc.start(timeout=120)
        try:
            await watch.wait_all(names, "Synced", timeout=600)
            await asyncio.sleep(2)
            latencies = await measure_edits(kube, watch, targets, EDITS, seed=7)
            await asyncio.sleep(3)  # the last grouped drift goes out
            for _ in range(60):  # a hanging receiver: until one delivery has given up
                failed = metric(proc.metrics_url, FAILED)
                if failed or label == "up":
                    break
                await asyncio.sleep(1)
            sent = metric(proc.metrics_url, SENT)
        finally:
            proc.stop()
            await watch.cache.close()
        await asyncio.gather(
            *(kube.delete(API_VERSION, "Application", n, APP_NAMESPACE) for n in names)
        )
    finally:
        kube.close()
    return {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "sent": sent, "failed": failed}


def main() -> None:
    with bench_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        kubeconfig = str(cluster.kubeconfig)
        started = time.monotonic()
        with Receiver() as receiver:
            up = asyncio.run(run(kubeconfig, work, "up", receiver.url))
            received = len(receiver.received)
        hole = Blackhole()
        try:
            down = asyncio.run(run(kubeconfig, work, "down", hole.url))
        finally:
            hole.close()
        took = time.monotonic() - started
    print(f"notify-down bench ({machine()}), {APPS} apps x 20 objects, {EDITS} edits per run")
    print(
        f"  receiver up (baseline): drift latency p50 {up['p50'] * 1000:.0f} ms,"
        f" p99 {up['p99'] * 1000:.0f} ms; {int(up['sent'])} notifications delivered"
        f" ({received} received)"
    )
    print(
        f"  receiver hanging:       drift latency p50 {down['p50'] * 1000:.0f} ms,"
        f" p99 {down['p99'] * 1000:.0f} ms; {int(down['failed'])} deliveries failed so far"
        f" (10 s timeout x 3 attempts each)"
    )
    print(
        f"  ratio hanging / up: p50 {down['p50'] / up['p50']:.2f}x,"
        f" p99 {down['p99'] / up['p99']:.2f}x  ({took:.0f} s in all)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
