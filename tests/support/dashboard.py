"""A real `tether dashboard` process for tests (loopback port, stopped by PID), and a
headless Debian chromium driven by Playwright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

from playwright.async_api import Browser, async_playwright

from tests.support.controller import free_port

CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium keeps dialling out, and this machine's
# closed network refuses it (the environment notes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class DashboardProcess:
    def __init__(self, kubeconfig: str, namespace: str, work_dir: Path, *args: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.port = free_port()
        self.log_path = work_dir / "dashboard.log"
        self.cache = work_dir / "dashboard-cache"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DashboardProcess:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "TETHER_CACHE_DIR": str(self.cache)}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tether", "-n", self.namespace, "dashboard",
             "--addr", f"127.0.0.1:{self.port}", *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dashboard exited {self.proc.returncode}:\n{self.logs()}")
            if self.get("/ui/")[0] == 200:
                return self
            time.sleep(0.2)
        raise AssertionError(f"dashboard not up in {timeout}s:\n{self.logs()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        return self._send(request)

    def post(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        return self._send(request, timeout=60)

    def _send(self, request: urllib.request.Request, timeout: float = 5) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def headers(self, path: str) -> dict[str, str]:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return dict(response.headers.items())

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> DashboardProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
