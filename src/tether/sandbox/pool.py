"""A small pool of evaluation workers that can really be stopped.

A thread cannot be stopped: a jq program such as `.data | repeat(.)` that runs in one
keeps running (and allocating) after its caller gave up, fills the thread pool and, for
code that holds the GIL, stalls the event loop. Each worker here is a separate process
with a memory limit; a job past its deadline kills its worker, and the next job starts
a fresh one. Workers start lazily, so a process that never evaluates jq never pays for
one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import resource
import signal
import sys
from dataclasses import dataclass
from typing import Any

from tether.errors import InputError

from .worker import HEADER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationLimits:
    """Bounds of one evaluation of user-supplied expressions (jq ignore and health rules)."""

    timeout: float = 10.0  # seconds per job
    memory_bytes: int = 1 << 30  # RLIMIT_DATA of a worker
    workers: int = 2


class EvaluationTimeout(InputError):
    """A job ran past its deadline; its worker was killed."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    async def call(self, payload: bytes) -> bytes:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(HEADER.pack(len(payload)) + payload)
        await self.proc.stdin.drain()
        header = await self.proc.stdout.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        return await self.proc.stdout.readexactly(size)

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.proc.wait(), 5.0)


class WorkerPool:
    """Runs jobs of tether.sandbox.worker in at most `limits.workers` processes."""

    def __init__(self, limits: EvaluationLimits | None = None) -> None:
        self.limits = limits or EvaluationLimits()
        self._idle: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._all: set[_Worker] = set()
        self.started = 0  # workers started so far (a killed one is replaced)
        self.killed = 0

    async def run(self, job: tuple[Any, ...], *, what: str) -> Any:
        """The job's value; InputError with the worker's message when the job failed,
        EvaluationTimeout when it ran past the deadline (its worker is killed)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, self.limits.workers))
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start()
            reusable = False
            try:
                raw = await asyncio.wait_for(worker.call(payload), self.limits.timeout)
                reusable = True
            except TimeoutError:
                self.killed += 1
                raise EvaluationTimeout(
                    f"{what} did not finish within {self.limits.timeout:g}s and was stopped",
                    hint="simplify the jq expression (jqPathExpressions or health rules)",
                ) from None
            except (asyncio.IncompleteReadError, BrokenPipeError, ConnectionResetError):
                code = worker.proc.returncode
                raise InputError(
                    f"{what} stopped: "
                    + (
                        f"it exceeded its memory limit ({self.limits.memory_bytes >> 20} MiB)"
                        if code in (None, -signal.SIGABRT, -signal.SIGKILL, 1, 5)
                        else f"the evaluator exited with code {code}"
                    ),
                    hint="simplify the jq expression (jqPathExpressions or health rules)",
                ) from None
            finally:
                if reusable and worker.alive:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    await worker.kill()
        answer = pickle.loads(raw)
        if answer[0] == "ok":
            return answer[1]
        raise InputError(f"{what}: {answer[1]}", hint=answer[2])

    async def _start(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tether.sandbox.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            # No secrets of ours reach it: only what Python needs to start.
            env=_worker_env(),
            limit=1 << 26,
        )
        with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
            limit = self.limits.memory_bytes
            resource.prlimit(proc.pid, resource.RLIMIT_DATA, (limit, limit))
        worker = _Worker(proc)
        self._all.add(worker)
        self.started += 1
        return worker

    async def close(self) -> None:
        workers = list(self._all)
        self._all.clear()
        self._idle.clear()
        for worker in workers:
            await worker.kill()


def _worker_env() -> dict[str, str]:
    keep = ("PATH", "PYTHONPATH", "VIRTUAL_ENV", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
