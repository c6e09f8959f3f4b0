"""Detached component processes, identified by PID and kernel start time.

A PID alone can be reused after a process exits; the start time from /proc makes sure
`down` only ever signals a process this tool started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    start_ticks: int

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start_ticks": self.start_ticks}


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are space separated.
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(record: ProcessRecord) -> bool:
    fields = _stat_fields(record.pid)
    if fields is None or fields[0] in ("Z", "X"):
        _reap(record.pid)
        return False
    return int(fields[19]) == record.start_ticks


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(argv: list[str], log_path: Path, cwd: Path) -> ProcessRecord:
    """Start a component in its own session so it outlives the CLI that started it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    ticks = start_ticks(proc.pid)
    # Popen would otherwise keep the child for reaping; we reap by PID ourselves.
    proc.returncode = 0
    return ProcessRecord(proc.pid, ticks or 0)


async def stop(record: ProcessRecord, grace: float = 10.0) -> None:
    """SIGTERM the component's process group, then SIGKILL after `grace` seconds
    (grace 0: SIGKILL at once, a crash)."""
    if not is_alive(record):
        return
    steps = ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)) if grace > 0 else ()
    for sig, wait in steps or ((signal.SIGKILL, 5.0),):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_alive(record):
                return
            await asyncio.sleep(0.05)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so none is handed out twice)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
