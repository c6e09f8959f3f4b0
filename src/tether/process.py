"""Run an external program (git, helm, kustomize, sops) asynchronously, within limits.

Shared by the adapters; model and core never import it (import-linter contract). Every
run has a wall-clock timeout; a run may also bound what it reads back (`max_output`) and
the address space the program may use (`memory_limit`). A program past any limit is
killed with its whole process group, never left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import InputError

_READ_CHUNK = 1 << 16


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
        super().__init__(f"{Path(argv[0]).name} did not finish within {timeout:g}s")
        self.argv = tuple(argv)
        self.timeout = timeout


class ProcessOutputTooLarge(Exception):
    """The program wrote more than `max_output` bytes to stdout; it was killed."""

    def __init__(self, argv: Sequence[str], limit: int) -> None:
        super().__init__(f"{Path(argv[0]).name} wrote more than {limit} bytes")
        self.argv = tuple(argv)
        self.limit = limit


async def run_process(
    argv: Sequence[str],
    *,
    timeout: float,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    inherit_env: bool = True,
    max_output: int | None = None,
    max_stderr: int = 1 << 20,
    memory_limit: int | None = None,
) -> ProcessResult:
    """Run `argv`; kill it (and raise ProcessTimeout) after `timeout` seconds.

    `env` is added to (or with inherit_env=False replaces) the environment; pass secrets
    this way, never in argv, where any user could read them from /proc. `max_output`
    bounds stdout (ProcessOutputTooLarge, the program killed); stderr keeps only its last
    `max_stderr` bytes. `memory_limit` is the program's RLIMIT_DATA in bytes: an
    allocation past it fails inside the program, which then exits with an error.
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
    if memory_limit is not None:
        _limit_memory(proc.pid, memory_limit)
    try:
        stdout, stderr = await asyncio.wait_for(
            _communicate(proc, input, max_output, max_stderr), timeout
        )
    except TimeoutError:
        await _kill_group(proc)
        raise ProcessTimeout(argv, timeout) from None
    except _TooMuchOutput:
        await _kill_group(proc)
        raise ProcessOutputTooLarge(argv, max_output or 0) from None
    except BaseException:
        await _kill_group(proc)  # a cancelled caller must not leave the tool running
        raise
    return ProcessResult(tuple(argv), proc.returncode or 0, stdout, stderr)


class _TooMuchOutput(Exception):
    pass


async def _communicate(
    proc: asyncio.subprocess.Process,
    input: bytes | None,
    max_output: int | None,
    max_stderr: int,
) -> tuple[bytes, bytes]:
    assert proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        if proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if input:
                proc.stdin.write(input)
                await proc.stdin.drain()
            proc.stdin.close()

    async def read_stdout() -> bytes:
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        while chunk := await proc.stdout.read(_READ_CHUNK):
            size += len(chunk)
            if max_output is not None and size > max_output:
                raise _TooMuchOutput
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_stderr() -> bytes:
        assert proc.stderr is not None
        kept = bytearray()
        while chunk := await proc.stderr.read(_READ_CHUNK):
            kept += chunk
            if len(kept) > max_stderr:
                del kept[: len(kept) - max_stderr]
        return bytes(kept)

    feeder = asyncio.ensure_future(feed())
    out, err = asyncio.ensure_future(read_stdout()), asyncio.ensure_future(read_stderr())
    tasks: list[asyncio.Future[Any]] = [feeder, out, err]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await proc.wait()
    return out.result(), err.result()


def _limit_memory(pid: int, limit: int) -> None:
    """RLIMIT_DATA of the new process (Linux counts private writable mappings, which is
    where Go's and Python's heaps live). Set right after the start instead of in a
    preexec_fn, which is unsafe in a process with threads; what the program allocates in
    its first microseconds is far below any sensible limit."""
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        resource.prlimit(pid, resource.RLIMIT_DATA, (limit, limit))


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the program's process group and reap it. Its pipes are drained first: a
    reader that stopped early leaves asyncio's transport paused, and the exit is only
    reported once both pipes are closed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)

    async def drain(stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        with contextlib.suppress(Exception):
            while await stream.read(_READ_CHUNK):
                pass

    try:
        await asyncio.wait_for(asyncio.gather(drain(proc.stdout), drain(proc.stderr)), 5.0)
    except TimeoutError:
        # A helper that left the group holds a pipe open: stop listening to it.
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()
    await proc.wait()
