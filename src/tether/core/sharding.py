"""Which controller shard owns an application: rendezvous (highest random weight) hashing.

Every app goes to the shard with the highest hash of (shard, app), so changing the
number of shards moves only the apps of the shards added or removed, and every replica
computes the same answer without talking to the others.
"""

from __future__ import annotations

import hashlib


def shard_of(namespace: str, name: str, shards: int, cluster: str = "") -> int:
    """The shard of an app; `cluster` is its destination ("" in-cluster, which keeps the
    in-cluster apps where they were before destinations were part of the key)."""
    if shards <= 1:
        return 0
    app = f"{namespace}/{name}" if not cluster else f"{cluster}\x00{namespace}/{name}"

    def weight(shard: int) -> bytes:
        return hashlib.sha256(f"{shard}\x00{app}".encode()).digest()

    return max(range(shards), key=weight)


def lease_name(shard: int, shards: int, base: str = "tether-controller") -> str:
    """The Lease a shard's owner holds; a single-shard controller holds `base` itself."""
    return base if shards <= 1 else f"{base}-shard-{shard}"
