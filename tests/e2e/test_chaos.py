"""`tether controller` under failures: an API server outage (honest readiness, drift
after the restart seen at once), SIGTERM while a reconcile cannot finish (exit within
the grace period, Leases released), and /healthz when every worker is stuck.

The outage tests break a private control plane of their own (tests/support/chaos.py),
never the session's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_controller import auto, configmap, deployment, status_of, wait_synced_healthy
from tests.support.apps import application
from tests.support.chaos import SilentServer, private_cluster, wait_until
from tests.support.controller import ControllerProcess
from tests.support.repos import GitopsRepo
from tether.controller.leases import LEASE_API
from tether.core.sharding import lease_name
from tether.engine.apps import create_app
from tether.kube import KubeClient
from tether.localcluster import LocalCluster, binaries

OUTAGE = 20.0  # seconds the API server stays down


@pytest.fixture(scope="module")
async def private(local_cluster: LocalCluster) -> AsyncIterator[LocalCluster]:
    async with private_cluster("chaos") as cluster:
        yield cluster


@pytest.fixture
async def private_kube(private: LocalCluster) -> AsyncIterator[KubeClient]:
    client = KubeClient.from_kubeconfig(str(private.kubeconfig))
    try:
        yield client
    finally:
        client.close()


async def fresh_namespace(kube: KubeClient, name: str) -> str:
    await kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def kubectl_of(cluster: LocalCluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    exe = str(binaries.binary("kubectl"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, f"--kubeconfig={cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    return run


async def api_pid(cluster: LocalCluster) -> int:
    status = await cluster.status()
    found = [c.pid for c in status.components if c.name == "kube-apiserver" and c.pid]
    assert found, status
    return found[0]


def silent_app(name: str, namespace: str, server: SilentServer, **spec: Any) -> Any:
    """An app whose git remote accepts the connection and never answers: its first
    reconcile blocks in `git fetch` until the git timeout (60 s)."""
    return application(
        name, namespace, f"http://127.0.0.1:{server.port}/stalled.git", "app", **spec
    )


async def test_api_server_outage_readiness_and_drift_right_after_it(
    private: LocalCluster, private_kube: KubeClient, repo: GitopsRepo, tmp_path: Path
) -> None:
    kube = private_kube
    namespace = await fresh_namespace(kube, "chaos-outage")
    repo.write({"app/web.yaml": deployment("web"), "app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("web")
    await create_app(
        kube, application("web", namespace, repo.url, "app", syncPolicy=auto(self_heal=False))
    )
    kubeconfig = str(private.kubeconfig)
    with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "web", head)
        assert proc.get("/readyz")[0] == 200

        await private.stop_component("kube-apiserver", grace=0)  # a crash
        down_at = time.monotonic()
        unready = await wait_until(lambda: proc.get("/readyz")[0] == 503, 5, "/readyz 503")
        print(f"\n/readyz 503 {unready:.2f}s after the API server was killed")
        while time.monotonic() - down_at < OUTAGE:
            assert proc.get("/readyz")[0] == 503, "ready while the API server is down"
            assert proc.get("/healthz")[0] == 200, "an outage is not a stuck controller"
            await asyncio.sleep(0.5)

        await private.start_component("kube-apiserver")
        back_at = time.monotonic()
        # A kubectl edit the moment the API server answers again.
        kubectl_of(private)(
            "patch", "-n", namespace, "deployment/web", "-p", '{"spec":{"replicas":5}}'
        )
        edited_at = time.monotonic()

        async def out_of_sync() -> bool:
            status = await status_of(kube, namespace, "web")
            return status is not None and status.sync.status.value == "OutOfSync"

        deadline = edited_at + 30
        while not await out_of_sync():
            assert time.monotonic() < deadline, f"drift not seen in 30s:\n{proc.logs()[-3000:]}"
            await asyncio.sleep(0.05)
        detected = time.monotonic() - edited_at
        ready = await wait_until(lambda: proc.get("/readyz")[0] == 200, 10, "/readyz 200")
        print(
            f"API server down {back_at - down_at:.1f}s; edit {edited_at - back_at:.2f}s after it"
            f" answered; OutOfSync {detected:.2f}s after the edit; /readyz 200"
            f" {time.monotonic() - back_at:.2f}s after it answered (waited {ready:.2f}s more)"
        )
        assert detected < 2.0, f"drift seen after {detected:.2f}s:\n{proc.logs()[-3000:]}"
        status = await status_of(kube, namespace, "web")
        drifted = [r.name for r in status.resources if r.drift]
        assert drifted == ["web"], status.resources


async def test_sigterm_ends_a_controller_stuck_in_a_reconcile_within_the_grace_period(
    kubeconfig: str, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    grace = 10.0
    with SilentServer() as server:
        await create_app(kube, silent_app("stalled", namespace, server))
        proc = ControllerProcess(
            kubeconfig, namespace, tmp_path, "--workers", "1", "--grace-period", str(grace)
        ).start()
        try:
            await wait_until(lambda: server.accepted > 0, 30, "git to connect to the silent remote")
            await asyncio.sleep(1.0)  # the reconcile is inside `git fetch`, which will not return
            assert proc.proc is not None
            started = time.monotonic()
            proc.proc.send_signal(signal.SIGTERM)
            code = proc.proc.wait(timeout=grace + 10)
            took = time.monotonic() - started
        finally:
            proc.kill()
    print(f"\nSIGTERM to exit: {took:.2f}s (grace period {grace:g}s), exit code {code}")
    assert code == 0, proc.logs()[-3000:]
    assert took < grace, proc.logs()[-3000:]
    lease = await kube.get(LEASE_API, "Lease", lease_name(0, 1), namespace)
    assert lease is not None and not lease["spec"].get("holderIdentity"), lease  # released


async def test_sigterm_while_the_api_server_hangs_exits_hard_at_the_deadline(
    private: LocalCluster, private_kube: KubeClient, repo: GitopsRepo, tmp_path: Path
) -> None:
    """Every request blocks in a thread (the API server is frozen, SIGSTOP): the Lease
    release cannot finish, and the grace period still holds."""
    kube = private_kube
    namespace = await fresh_namespace(kube, "chaos-frozen")
    repo.write({"app/cm.yaml": configmap("settings", "1")})
    head = repo.commit("cm")
    await create_app(kube, application("frozen", namespace, repo.url, "app", syncPolicy=auto()))
    grace = 5.0
    proc = ControllerProcess(
        str(private.kubeconfig), namespace, tmp_path, "--grace-period", str(grace)
    ).start()
    pid = await api_pid(private)
    try:
        await wait_synced_healthy(kube, namespace, "frozen", head)
        os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(1.0)
        assert proc.proc is not None
        started = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(timeout=grace + 10)
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
        proc.kill()
    print(f"\nSIGTERM to exit with the API server frozen: {took:.2f}s (grace {grace:g}s)")
    assert code == 0, proc.logs()[-3000:]
    assert took < grace + 0.5, proc.logs()[-3000:]
    assert "exiting now" in proc.logs(), proc.logs()[-3000:]


async def test_healthz_fails_when_every_worker_is_stuck(
    kubeconfig: str, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    with SilentServer() as server:
        await create_app(kube, silent_app("stalled", namespace, server))
        with ControllerProcess(
            kubeconfig, namespace, tmp_path, "--workers", "1", "--reconcile-stuck-after", "2"
        ) as proc:
            assert proc.get("/healthz")[0] == 200
            await wait_until(lambda: server.accepted > 0, 30, "git to connect to the silent remote")
            took = await wait_until(lambda: proc.get("/healthz")[0] == 503, 10, "/healthz 503")
            print(f"\n/healthz 503 {took:.2f}s after the reconcile got stuck (limit 2s)")
            assert proc.get("/readyz")[0] == 200  # the API is fine: ready, but not alive
            assert "not alive: every reconcile worker (1) stuck" in proc.logs()


async def test_controller_log_never_shows_repo_credentials(
    kubeconfig: str, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    closed = SilentServer()  # bound, then closed: a port nobody listens on
    closed.stop()
    url = f"http://tether-bot:hunter2-secret@127.0.0.1:{closed.port}/private.git"
    await create_app(kube, application("secret", namespace, url, "app"))
    with ControllerProcess(kubeconfig, namespace, tmp_path) as proc:
        await wait_until(
            lambda: f"http://***@127.0.0.1:{closed.port}/private.git" in proc.logs(),
            30,
            "a log line about the failing fetch",
        )
    assert "hunter2" not in proc.logs(), proc.logs()[-3000:]


BLOCKED_LOOP = """
import asyncio, logging, sys, time
from tether.controller.main import Shutdown, run_until_stopped
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
shutdown = Shutdown(1.5)

async def main():
    stop = asyncio.Event()
    shutdown.install(lambda: asyncio.get_running_loop().call_soon_threadsafe(stop.set))
    print("blocking", flush=True)
    time.sleep(60)  # a callback that never yields: the loop cannot run the shutdown

run_until_stopped(main(), shutdown)
"""


def test_the_grace_period_holds_even_when_the_event_loop_is_blocked() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BLOCKED_LOOP], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "blocking"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        took = time.monotonic() - started
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"\nSIGTERM to exit with the event loop blocked: {took:.2f}s (grace 1.5s)")
    assert code == 0
    assert 1.4 < took < 3.0, took
    assert "shutdown not finished within the 1.5s grace period: exiting now" in out, out
