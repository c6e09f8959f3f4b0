"""Which verified webhook deliveries were seen before (pure: the clock is passed in).

A signed delivery stays valid forever: whoever captured one (a proxy log, a provider's
delivery page) could post it again and again, and each copy would trigger a fetch. The
receiver therefore remembers every delivery it acted on for a window (an hour by
default) and ignores a copy.

A delivery is known by two keys, and a copy matching either is a duplicate:
- the provider's delivery id (`X-GitHub-Delivery`, `X-Gitea-Delivery`,
  `X-Gitlab-Event-UUID`) when sent: a provider's own redelivery reuses it;
- the SHA-256 of the body, always: the id header is not covered by the signature, so a
  replay under a fresh id still has the signed body. The body key names no provider
  because GitHub and Gitea sign the same way (a body signed for one verifies as the
  other).
Two genuine pushes never share a body: each names its own `before`/`after` commits.

Only verified deliveries are recorded, so an unauthenticated sender cannot fill the
memory; it is bounded all the same (`capacity`, oldest forgotten first).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping

DELIVERY_ID_HEADERS = {
    "github": "x-github-delivery",
    "gitea": "x-gitea-delivery",
    "gitlab": "x-gitlab-event-uuid",
}
REPLAY_WINDOW_SECONDS = 3600.0
REPLAY_CAPACITY = 10_000
_MAX_ID_CHARS = 200  # ids are UUIDs; a longer header is cut, not stored whole


def delivery_keys(provider: str, headers: Mapping[str, str], body: bytes) -> tuple[str, ...]:
    """The keys one delivery is remembered under: its body digest, then its id if sent."""
    keys = ["body:sha256:" + hashlib.sha256(body).hexdigest()]
    wanted = DELIVERY_ID_HEADERS.get(provider)
    if wanted is not None:
        sent = next((v for k, v in headers.items() if k.lower() == wanted), "").strip()
        if sent:
            keys.append(f"{provider}:id:{sent[:_MAX_ID_CHARS]}")
    return tuple(keys)


class SeenDeliveries:
    """Keys of deliveries acted on, each kept `window` seconds from its first sight.

    Entries are ordered by first sight, so expiry and eviction both take from the front.
    A duplicate does not extend its entry: the window counts from the original delivery.
    """

    def __init__(
        self, *, window: float = REPLAY_WINDOW_SECONDS, capacity: int = REPLAY_CAPACITY
    ) -> None:
        if window <= 0 or capacity <= 0:
            raise ValueError("replay window and capacity must be positive")
        self.window = window
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            key, first = next(iter(self._seen.items()))
            if now - first < self.window:
                break
            del self._seen[key]

    def first_sight(self, keys: Iterable[str], now: float) -> bool:
        """True, and the keys recorded, if none of them was seen within the window;
        False (nothing recorded) for a duplicate."""
        wanted = tuple(keys)
        self._expire(now)
        if any(k in self._seen for k in wanted):
            return False
        for key in wanted:
            self._seen[key] = now
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys recorded for a delivery that was not acted on after all, so that the
        provider's retry is not mistaken for a replay."""
        for key in keys:
            self._seen.pop(key, None)
