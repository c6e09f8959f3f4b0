"""Liveness of the controller process: is its work loop still moving?

`/healthz` turns 503 (and a kubelet restarts the Pod) when every reconcile worker has
been inside one reconcile for longer than any legitimate one takes, or when the event
loop itself lags: a heartbeat task that should tick every second did not, by more than
the limit. Readiness (can the watches reach the API server?) is a separate question.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0
LAG_MEMORY = 60.0  # a loop stall past the limit keeps /healthz failing this long


@dataclass(frozen=True)
class LivenessLimits:
    reconcile_stuck_after: float = 300.0  # seconds one reconcile may run
    loop_lag_limit: float = 30.0  # seconds the event loop may fall behind its heartbeat


def liveness_problem(
    now: float,
    *,
    reconcile_started: Sequence[float | None],
    last_beat: float,
    worst_recent_lag: float,
    limits: LivenessLimits,
) -> str | None:
    """Why the process is not alive, or None. `reconcile_started` holds, per worker,
    when its current reconcile started (None: idle); times are monotonic seconds."""
    lag = max(now - last_beat - HEARTBEAT_INTERVAL, worst_recent_lag)
    if lag > limits.loop_lag_limit:
        return f"event loop lagging {lag:.1f}s behind its heartbeat"
    if reconcile_started and all(
        started is not None and now - started > limits.reconcile_stuck_after
        for started in reconcile_started
    ):
        oldest = min(s for s in reconcile_started if s is not None)
        return (
            f"every reconcile worker ({len(reconcile_started)}) stuck in one reconcile,"
            f" the oldest for {now - oldest:.0f}s"
            f" (limit {limits.reconcile_stuck_after:g}s)"
        )
    return None


class Liveness:
    """The heartbeat task and the `/healthz` answer built on it."""

    def __init__(
        self,
        limits: LivenessLimits,
        reconcile_started: Callable[[], Sequence[float | None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self._reconcile_started = reconcile_started
        self._clock = clock
        self._last_beat = clock()
        self._lags: list[tuple[float, float]] = []  # (when, lag) of stalls worth keeping
        self._reported: str | None = None

    async def heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            now = self._clock()
            lag = now - self._last_beat - HEARTBEAT_INTERVAL
            self._last_beat = now
            self._lags = [(t, v) for t, v in self._lags if now - t < LAG_MEMORY]
            if lag > 1.0:
                self._lags.append((now, lag))

    def problem(self) -> str | None:
        now = self._clock()
        return liveness_problem(
            now,
            reconcile_started=self._reconcile_started(),
            last_beat=self._last_beat,
            worst_recent_lag=max((v for t, v in self._lags if now - t < LAG_MEMORY), default=0.0),
            limits=self.limits,
        )

    def alive(self) -> bool:
        problem = self.problem()
        if problem != self._reported:  # log each change once, not every probe
            if problem:
                log.error("not alive: %s", problem)
            else:
                log.info("alive again")
            self._reported = problem
        return problem is None
