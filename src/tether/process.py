"""Run an external program (git, helm, kustomize, sops) asynchronously with a timeout.

Shared by the adapters; model and core never import it (import-linter contract).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.errors import InputError


@dataclass(frozen=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def stderr_line(self, limit: int = 400) -> str:
        """The most telling line of stderr (the last non-empty one), for one-line errors."""
        lines = [ln.strip() for ln in self.stderr.decode("utf-8", "replace").splitlines()]
        lines = [ln for ln in lines if ln]
        return (lines[-1] if lines else f"exit code {self.returncode}")[:limit]


class ProcessTimeout(Exception):
    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{Path(argv[0]).name} did not finish within {timeout:.0f}s")
        self.argv = tuple(argv)
        self.timeout = timeout


async def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    inherit_env: bool = True,
) -> ProcessResult:
    """Run `argv`; kill it (and raise ProcessTimeout) after `timeout` seconds.

    `env` is added to (or with inherit_env=False replaces) the environment; pass secrets
    this way, never in argv, where any user could read them from /proc.
    """
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            # Its own process group, so a timeout also ends helpers it started (git's
            # remote helpers, ssh) that would otherwise hold the pipes open.
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise InputError(
            f"{argv[0]}: program not found", hint="run `make cluster-bins` or install it"
        ) from exc
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(input), timeout)
    except TimeoutError:
        await _kill_group(proc)
        raise ProcessTimeout(argv, timeout) from None
    except asyncio.CancelledError:
        await _kill_group(proc)  # a cancelled caller must not leave the tool running
        raise
    return ProcessResult(tuple(argv), proc.returncode or 0, stdout, stderr)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
