"""A real `tether dashboard` process for tests (loopback port, stopped by PID), and a
headless Debian chromium driven by Playwright."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from tests.support.controller import free_port
from tests.support.processes import TetherProcess, http

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


class DashboardProcess(TetherProcess):
    def __init__(self, kubeconfig: str, namespace: str, work_dir: Path, *args: str) -> None:
        super().__init__("dashboard", work_dir)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.port = free_port()
        self.cache = work_dir / "dashboard-cache"
        self.args = args

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DashboardProcess:
        self._launch(
            ["-n", self.namespace, "dashboard", "--addr", f"127.0.0.1:{self.port}", *self.args],
            {"KUBECONFIG": self.kubeconfig, "TETHER_CACHE_DIR": str(self.cache)},
            lambda: self.get("/ui/")[0] == 200,
            timeout,
        )
        return self

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return http(urllib.request.Request(self.url + path, headers=headers or {}))

    def post(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url + path,
            data=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        return http(request, timeout=60)

    def headers(self, path: str) -> dict[str, str]:
        with urllib.request.urlopen(self.url + path, timeout=5) as response:
            return dict(response.headers.items())


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
