"""A real `tether controller` process for tests: started on loopback ports, stopped by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControllerProcess:
    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        work_dir: Path,
        *args: str,
        webhook_secret: str = "",
        name: str = "controller",
        verbose: bool = True,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.metrics_port = free_port()
        self.webhook_port = free_port()
        self.log_path = work_dir / f"{name}.log"
        self.cache = work_dir / f"{name}-cache"
        self.args = args
        self.webhook_secret = webhook_secret
        self.verbose = verbose
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/api/webhook"

    def start(self, timeout: float = 60.0) -> ControllerProcess:
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "TETHER_CACHE_DIR": str(self.cache),
            "TETHER_WEBHOOK_SECRET": self.webhook_secret,
        }
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tether",
                "-n",
                self.namespace,
                "controller",
                "--metrics-addr",
                f"127.0.0.1:{self.metrics_port}",
                "--webhook-addr",
                f"127.0.0.1:{self.webhook_port}",
                "--lease-duration",
                "4",
                *(["--verbose"] if self.verbose else []),
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"controller exited {self.proc.returncode}:\n{self.logs()}")
            if self.get("/readyz")[0] == 200:
                return self
            time.sleep(0.2)
        raise AssertionError(f"controller not ready in {timeout}s:\n{self.logs()}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.metrics_url + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.webhook_url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no Lease release (a crash)."""
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

    def __enter__(self) -> ControllerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
