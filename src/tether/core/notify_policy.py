"""When a notification is sent (pure; the caller passes the time): the same event is
sent once within a window (dedupe), and an Alert sends at most its rate per minute, the
rest counted and said in one summary once there is room again. Flux floods channels
during outages and Argo CD sends duplicates; these two rules are why tether does not."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass, field

DEDUPE_SECONDS = 600.0
MAX_REMEMBERED = 10_000
RATE_WINDOW_SECONDS = 60.0


class Dedupe:
    """Keys seen within `window` seconds (oldest forgotten past MAX_REMEMBERED)."""

    def __init__(self, window: float = DEDUPE_SECONDS) -> None:
        self.window = window
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first(self, key: Hashable, now: float) -> bool:
        """True the first time `key` comes within the window (then it is remembered)."""
        at = self._seen.get(key)
        if at is not None and now - at < self.window:
            return False
        self._seen.pop(key, None)
        self._seen[key] = now
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return True

    def forget(self, prefix: tuple[Hashable, ...]) -> None:
        """Forget every key that starts with `prefix` (a recovery re-arms a trigger)."""
        size = len(prefix)
        for key in [k for k in self._seen if isinstance(k, tuple) and k[:size] == prefix]:
            del self._seen[key]


@dataclass
class RateLimit:
    """At most `limit` messages in any RATE_WINDOW_SECONDS; `suppressed` counts the rest."""

    limit: int
    window: float = RATE_WINDOW_SECONDS
    sent: deque[float] = field(default_factory=deque)
    suppressed: int = 0

    def _room(self, now: float) -> bool:
        while self.sent and now - self.sent[0] >= self.window:
            self.sent.popleft()
        return len(self.sent) < self.limit

    def take(self, now: float) -> bool:
        if self._room(now) and not self.suppressed:
            self.sent.append(now)
            return True
        self.suppressed += 1
        return False

    def summary_due(self, now: float) -> int:
        """How many were suppressed, once a summary may go out (0: nothing to say yet);
        the summary takes a message's place in the window."""
        if not self.suppressed or not self._room(now):
            return 0
        count, self.suppressed = self.suppressed, 0
        self.sent.append(now)
        return count


__all__ = ["DEDUPE_SECONDS", "Dedupe", "RateLimit"]
