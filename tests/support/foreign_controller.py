"""A stand-in for another controller in the cluster: a separate process that keeps fields of
one object at the values it wants, with GET + PUT (an `Update`, as client-go controllers
do), under its own user agent.

Like any client that sends no `fieldManager`, its field manager is what the API server
derives from the user agent: `image-updater/v0.9.0 (linux/amd64)` writes as
`image-updater`.

Run as `python -m tests.support.foreign_controller KUBECONFIG USER_AGENT API_PATH
POINTER=JSON...`; it prints `reconciled <resourceVersion>` after each write and runs until
terminated (`--once`: exit after the first write).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonpointer
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

ROOT = Path(__file__).resolve().parents[2]


class Conflict(Exception):
    """409: the object changed since it was read."""


def _api(kubeconfig: str, user_agent: str) -> Any:
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    api = k8s_client.ApiClient(configuration)
    api.user_agent = user_agent
    return api


def _call(api: Any, method: str, path: str, body: Any = None) -> dict[str, Any]:
    method, url, headers, payload, _ = api.param_serialize(
        method,
        path,
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(method, url, header_params=headers, body=payload, _request_timeout=10)
    response.read()
    if response.status == 409:
        raise Conflict(path)
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {response.data[:500]!r}")
    result: dict[str, Any] = json.loads(response.data)
    return result


def reconcile_once(api: Any, path: str, wanted: dict[str, Any]) -> str | None:
    """Write the wanted values when the object lacks them; the new resourceVersion, or None."""
    obj = _call(api, "GET", path)
    if all(jsonpointer.resolve_pointer(obj, p, None) == v for p, v in wanted.items()):
        return None
    for pointer, value in wanted.items():
        jsonpointer.set_pointer(obj, pointer, value)
    obj["metadata"].pop("managedFields", None)  # a PUT carries the resourceVersion it read
    written = _call(api, "PUT", path, obj)
    return str(written["metadata"]["resourceVersion"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kubeconfig")
    parser.add_argument("user_agent")
    parser.add_argument("path", help="API path of the object, e.g. /apis/apps/v1/...")
    parser.add_argument("set", nargs="+", help="POINTER=JSON value to keep")
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    wanted = {}
    for item in args.set:
        pointer, _, value = item.partition("=")
        wanted[pointer] = json.loads(value)
    api = _api(args.kubeconfig, args.user_agent)
    while True:
        try:
            version = reconcile_once(api, args.path, wanted)
        except Conflict:
            version = None  # read again, as a controller would
        if version is not None:
            print(f"reconciled {version}", flush=True)
            if args.once:
                return 0
        time.sleep(args.interval)


class ForeignController:
    """`main` in a subprocess, stopped by its PID."""

    def __init__(
        self,
        kubeconfig: str,
        user_agent: str,
        path: str,
        wanted: dict[str, Any],
        *,
        once: bool = False,
    ) -> None:
        self.argv = [
            sys.executable,
            "-m",
            "tests.support.foreign_controller",
            kubeconfig,
            user_agent,
            path,
            *(f"{pointer}={json.dumps(value)}" for pointer, value in wanted.items()),
            *(["--once"] if once else []),
        ]
        self.proc: subprocess.Popen[str] | None = None
        # The kubernetes client's loader writes the kubeconfig's client key and certs to
        # temp files, removed by an atexit handler that a terminated process never runs:
        # they go into a directory of this object's own, removed by stop().
        self.temp_dir = tempfile.mkdtemp(prefix="foreign-controller-")

    def start(self) -> ForeignController:
        pythonpath = (str(ROOT), os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p),
                "TMPDIR": self.temp_dir,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return self

    def wait_for_write(self, timeout: float = 30) -> str:
        """Block until the controller reports its first write; its output line."""
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""  # "" also when it exited
        if not line.startswith("reconciled"):
            self.stop()
            stderr = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"controller did not write: {line!r} {stderr[-2000:]}")
        return line.strip()

    def stop(self) -> None:
        if self.proc is None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> ForeignController:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
