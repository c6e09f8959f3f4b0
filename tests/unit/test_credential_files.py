"""The kubeconfig's credential files (kube/credential_files) go with the process, even
when it ends with the controller's hard exit, which runs no atexit handler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import sys
from pathlib import Path
from tether.kube import credential_files
made = Path(credential_files.directory())
(made / "client-key").write_text("-----BEGIN PRIVATE KEY-----")
print(made, flush=True)
if sys.argv[1] == "hard":
    from tether.controller.main import exit_hard
    exit_hard("test", 20)
if sys.argv[1] == "skip-cleanup":
    import os
    os._exit(0)
"""


def run_child(mode: str, tmp_path: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        check=False,
    )
    made = Path(done.stdout.strip())
    assert made.parent == tmp_path, (done.stdout, done.stderr)
    return made


@pytest.mark.parametrize("mode", ["normal", "hard"])
def test_the_credential_files_go_with_the_process(mode: str, tmp_path: Path) -> None:
    assert not run_child(mode, tmp_path).exists()


def test_an_exit_that_skips_cleanup_leaves_them(tmp_path: Path) -> None:
    # What the hard exit did before it removed them itself (and what SIGKILL still does).
    assert (run_child("skip-cleanup", tmp_path) / "client-key").exists()
