"""Running the real `tether` CLI in a subprocess, as a user or a script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tether(
    kubeconfig: str, *args: str, cache: Path | None = None, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    """`python -m tether ARGS` against `kubeconfig`; git mirrors in `cache` when given."""
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    if cache is not None:
        env["TETHER_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "tether", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def assert_one_error_line(
    result: subprocess.CompletedProcess[str], code: int, *needles: str
) -> str:
    """The documented exit code, exactly one `error:` line containing `needles`, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def create_app(
    kubeconfig: str, namespace: str, name: str, repo_url: str, path: str, *, cache: Path
) -> subprocess.CompletedProcess[str]:
    """`tether -n NS app create --name NAME ...` tracking branch main, deploying into NS."""
    return tether(
        kubeconfig,
        "-n",
        namespace,
        "app",
        "create",
        "--name",
        name,
        "--repo",
        repo_url,
        "--path",
        path,
        "--revision",
        "main",
        "--dest-namespace",
        namespace,
        cache=cache,
    )
