"""`make demo` stays green: the whole story runs against a control plane of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.cluster
def test_the_demo_tells_the_whole_story(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    env = {**os.environ, "TETHER_DEMO_DIR": str(demo)}
    env.pop("KUBECONFIG", None)
    try:
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "demo.sh")],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            check=False,
            cwd=ROOT,
        )
    finally:
        # The demo leaves its control plane running for the reader; the test does not
        # (nor the spoke, which the demo stops itself unless it failed half-way).
        for name in ((), ("--name", "spoke")):
            subprocess.run(
                [sys.executable, "-m", "tether", "cluster", "down", *name],
                env={**env, "TETHER_CLUSTER_DIR": str(demo / "cluster")},
                capture_output=True,
                timeout=120,
                check=False,
            )
    assert proc.returncode == 0, proc.stderr[-4000:]
    story = proc.stderr
    for line in (
        "the controller marked api-service OutOfSync",
        "DriftDetected",
        "SelfHeal",
        "Synced despite replicas=6",
        "Degraded, sync Failed",
        "Healthy again at the revert commit",
        "tether_break_glass_active",
        "ClusterRebuilt",
        "tether_cluster_recovery_seconds",
        "spoke rebuilt from Git by the hub",
        "rebuilt: every app Synced + Healthy",
        "== Summary",
    ):
        assert line in story, line
