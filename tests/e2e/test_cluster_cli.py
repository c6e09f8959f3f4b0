"""`tether cluster up|down|status|kubeconfig` end to end, on a control plane of its own.

This test starts a second control plane (not the session one) because it stops and
restarts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.localcluster import LocalCluster, binaries
from tether.localcluster.processes import ProcessRecord, is_alive, port_in_use


def tether(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binaries.binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def recorded(state_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state_dir / "cluster.json").read_text())
    return data


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "cluster"
    try:
        yield path
    finally:
        asyncio.run(LocalCluster(path).down())  # teardown even when the test failed


def test_up_down_restart_keeps_objects(state_dir: Path) -> None:
    up = tether("cluster", "up", "--state-dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    kubeconfig = up.stdout.strip()
    assert Path(kubeconfig).is_file()
    assert (
        tether("cluster", "kubeconfig", "--state-dir", str(state_dir)).stdout.strip() == kubeconfig
    )
    for component in (
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ):
        assert (state_dir / "logs" / f"{component}.log").is_file()

    status = tether("cluster", "status", "--state-dir", str(state_dir), "-o", "json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["running"] and doc["api_ready"] and doc["node_ready"]

    # `up` twice is idempotent: same processes.
    before = recorded(state_dir)["processes"]
    again = tether("cluster", "up", "--state-dir", str(state_dir))
    assert again.returncode == 0, again.stderr
    assert recorded(state_dir)["processes"] == before

    made = kubectl(
        kubeconfig, "create", "configmap", "keep-me", "-n", "default", "--from-literal=k=v"
    )
    assert made.returncode == 0, made.stderr

    ports = recorded(state_dir)["ports"]
    down = tether("cluster", "down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    for rec in before.values():
        assert not is_alive(ProcessRecord(rec["pid"], rec["start_ticks"]))
    for port in ports.values():
        assert not port_in_use(port), f"port {port} still bound after down"
    stopped = tether("cluster", "status", "--state-dir", str(state_dir))
    assert stopped.returncode == 1

    # Restart with the same state directory: etcd data persists.
    up2 = tether("cluster", "up", "--state-dir", str(state_dir))
    assert up2.returncode == 0, up2.stderr
    got = kubectl(
        kubeconfig, "get", "configmap", "keep-me", "-n", "default", "-o", "jsonpath={.data.k}"
    )
    assert got.returncode == 0 and got.stdout == "v", got.stderr

    # A port clash names the component and starts nothing.
    assert tether("cluster", "down", "--state-dir", str(state_dir)).returncode == 0
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", ports["kube-apiserver"]))
        squatter.listen()
        clash = tether("cluster", "up", "--state-dir", str(state_dir))
    assert clash.returncode == 3
    assert "kube-apiserver: port" in clash.stderr and "in use" in clash.stderr
    assert "Traceback" not in clash.stderr
    assert not any(
        is_alive(ProcessRecord(r["pid"], r["start_ticks"]))
        for r in recorded(state_dir)["processes"].values()
    )


def test_missing_binary_names_the_component(tmp_path: Path) -> None:
    empty = tmp_path / "no-bins"
    empty.mkdir()
    result = tether(
        "cluster", "up", "--state-dir", str(tmp_path / "c"), env={"TETHER_BIN_DIR": str(empty)}
    )
    assert result.returncode == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: etcd: binary not found"), result.stderr
    assert "make cluster-bins" in result.stderr
    assert "Traceback" not in result.stderr


def test_named_clusters_live_beside_the_default_one(tmp_path: Path) -> None:
    env = {"TETHER_CLUSTER_DIR": str(tmp_path / "cluster")}
    missing = tether("cluster", "kubeconfig", "--name", "spoke", env=env)
    assert missing.returncode == 2
    assert f"no kubeconfig in {tmp_path / 'cluster-spoke'}" in missing.stderr
    default = tether("cluster", "kubeconfig", env=env)
    assert f"no kubeconfig in {tmp_path / 'cluster'}" in default.stderr
    bad = tether("cluster", "kubeconfig", "--name", "../../etc", env=env)
    assert bad.returncode == 2 and "letters, digits and '-'" in bad.stderr
    both = tether("cluster", "status", "--name", "hub", "--state-dir", str(tmp_path), env=env)
    assert both.returncode == 2 and "not both" in both.stderr
