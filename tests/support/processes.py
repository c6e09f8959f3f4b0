"""A `tether` subprocess for tests (controller, dashboard): started with its log in the
test's directory, ready when its own probe says so, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self


class TetherProcess:
    def __init__(self, name: str, work_dir: Path) -> None:
        self.log_path = work_dir / f"{name}.log"
        self.work_dir = work_dir
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def _launch(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        ready: Callable[[], bool],
        timeout: float,
    ) -> None:
        """Run `python -m tether ARGV` and wait until `ready()`; its exit or a timeout
        fails the test with the process's log."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether", *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its temporary files (a SIGKILLed process's credential files among them) stay
            # in the test's directory, never in the machine's.
            env={**os.environ, "TMPDIR": str(self.work_dir), **env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready in {timeout}s:\n{self.logs()}")

    def start(self) -> Self:
        raise NotImplementedError

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def http(request: urllib.request.Request, timeout: float = 5) -> tuple[int, str]:
    """(status, body) of one request; (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""
