"""A work queue keyed by application, in the spirit of client-go's workqueue.

A key is queued at most once and never handed to two workers at the same time: adding a
key that is being processed marks it dirty, and it is queued again when `done` is
called. `add_after` delays a key (backoff); `add_rate_limited` delays it by a per-key
exponential backoff that `forget` resets. An urgent key (`add(key, urgent=True)`: the
reconcile after a sync, which makes the app Synced) goes before every ordinary one, so
it does not wait behind the first reconcile of thousands of new apps; within a lane the
order is first in, first out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, *, base_delay: float = 0.5, max_delay: float = 300.0) -> None:
        # (lane, order, key): lane 0 is urgent. A key moved to the urgent lane leaves its
        # ordinary entry behind; `get` skips entries that no longer match `_queued`.
        self._queue: asyncio.PriorityQueue[tuple[int, int, K]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._queued: dict[K, int] = {}  # key -> its lane
        self._processing: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._failures: dict[K, int] = {}
        self._base = base_delay
        self._max = max_delay
        self._closed = False

    def add(self, key: K, *, urgent: bool = False) -> None:
        if self._closed:
            return
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._processing:
            self._dirty.add(key)
            return
        lane = 0 if urgent else 1
        if self._queued.get(key, 2) <= lane:
            return
        self._queued[key] = lane
        self._queue.put_nowait((lane, next(self._order), key))

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` in `delay` seconds (an earlier pending delay wins)."""
        if self._closed:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + delay
        if existing is not None:
            if existing.when() <= when:
                return
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = float(min(self._base * 2.0**failures, self._max))
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        while True:
            lane, _, key = await self._queue.get()
            if self._queued.get(key) == lane:
                break
        del self._queued[key]
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def pending(self) -> int:
        return len(self._queued)

    def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
