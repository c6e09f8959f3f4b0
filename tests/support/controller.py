"""A real `tether controller` process for tests: started on loopback ports, stopped by PID."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPConnection
from pathlib import Path

from tests.support.processes import TetherProcess, http


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControllerProcess(TetherProcess):
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
        super().__init__(name, work_dir)
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.metrics_port = free_port()
        self.webhook_port = free_port()
        self.cache = work_dir / f"{name}-cache"
        self.args = args
        self.webhook_secret = webhook_secret
        self.verbose = verbose

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.webhook_port}/api/webhook"

    def start(self, timeout: float = 60.0) -> ControllerProcess:
        self._launch(
            [
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
            {
                "KUBECONFIG": self.kubeconfig,
                "TETHER_CACHE_DIR": str(self.cache),
                "TETHER_WEBHOOK_SECRET": self.webhook_secret,
            },
            lambda: self.get("/readyz")[0] == 200,
            timeout,
        )
        return self

    def get(self, path: str) -> tuple[int, str]:
        return http(urllib.request.Request(self.metrics_url + path))

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.webhook_url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post_webhook_declaring(self, size: int, headers: dict[str, str]) -> int:
        """Announce a body of `size` bytes and send none of it: the answer must come from
        the declared length alone. (Sending the body too races the server's early 413:
        once it has answered and closed, the rest of the upload meets a broken pipe.)"""
        url = urllib.parse.urlsplit(self.webhook_url)
        connection = HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        try:
            connection.putrequest("POST", url.path)
            for name, value in {**headers, "Content-Length": str(size)}.items():
                connection.putheader(name, value)
            connection.endheaders()
            return connection.getresponse().status
        finally:
            connection.close()
