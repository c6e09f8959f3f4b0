"""Leader election on `coordination.k8s.io/v1` Leases, one Lease per shard.

A replica started with `--shard I` holds shard I's Lease whenever it is free or expired.
It also stands in for other shards whose Lease expired (their replica died), and hands
such a shard back when its own replica asks for it (annotation on the Lease), so the
work always has exactly one owner and a dead replica's share is taken over within one
Lease duration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.core.sharding import lease_name
from tether.errors import ClusterError, TetherError
from tether.kube import KubeClient
from tether.model.keys import parse_rfc3339
from tether.model.names import HANDOFF_ANNOTATION

log = logging.getLogger(__name__)

LEASE_API = "coordination.k8s.io/v1"


def new_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _micro_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _ShardState:
    shard: int
    name: str
    held: bool = False
    last_renewed: float | None = None  # monotonic time of our last successful write
    missing_since: float | None = None  # loop time the Lease was first seen not to exist


class ShardLeases:
    """Acquire and renew the Leases of the shards this replica owns or stands in for."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        *,
        shards: int,
        own_shard: int,
        identity: str,
        duration: float = 15.0,
        on_change: Callable[[int, bool], None] = lambda _s, _h: None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.shards = max(shards, 1)
        self.own_shard = own_shard
        self.identity = identity
        self.duration = duration
        self.retry_period = max(duration / 3.0, 0.5)
        self.on_change = on_change
        self._states = [_ShardState(s, lease_name(s, self.shards)) for s in range(self.shards)]

    def held(self) -> set[int]:
        return {s.shard for s in self._states if s.held}

    async def run(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self.retry_period)

    async def round(self) -> None:
        loop = asyncio.get_running_loop()
        for state in self._states:
            try:
                held = await self._try(state)
            except TetherError as exc:
                log.warning("lease %s: %s", state.name, exc)
                held = state.held
                if state.last_renewed is None or loop.time() - state.last_renewed > self.duration:
                    held = False  # could not renew in time: someone else may own it now
            if held:
                state.last_renewed = loop.time()
            self._set(state, held)

    def _set(self, state: _ShardState, held: bool) -> None:
        if held != state.held:
            state.held = held
            log.info(
                "shard %d lease %s: %s", state.shard, state.name, "acquired" if held else "lost"
            )
            self.on_change(state.shard, held)

    async def _try(self, state: _ShardState) -> bool:
        now = dt.datetime.now(dt.UTC)
        lease = await self.kube.get(LEASE_API, "Lease", state.name, self.namespace)
        own = state.shard == self.own_shard
        if lease is None:
            # A shard nobody ever held: its own replica may be starting right now, so a
            # stand-in waits one Lease duration before taking it.
            loop_now = asyncio.get_running_loop().time()
            if state.missing_since is None:
                state.missing_since = loop_now
            if not own and loop_now - state.missing_since < self.duration:
                return False
            return await self._write(state, None, now, transitions=0)
        state.missing_since = None
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
        if holder == self.identity:
            handoff = annotations.get(HANDOFF_ANNOTATION)
            if not own and handoff and handoff != self.identity:
                await self._release(lease)
                return False
            return await self._write(state, lease, now, transitions=None)
        renewed = parse_rfc3339(spec.get("renewTime")) or parse_rfc3339(spec.get("acquireTime"))
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if own and (not holder or expired):
            return await self._write(state, lease, now, transitions=1)
        if not own and holder and expired:
            return await self._write(state, lease, now, transitions=1)
        if own and holder and annotations.get(HANDOFF_ANNOTATION) != self.identity:
            # Our shard is held by a stand-in: ask for it back.
            patch = {"metadata": {"annotations": {HANDOFF_ANNOTATION: self.identity}}}
            await self.kube.patch(
                LEASE_API,
                "Lease",
                state.name,
                patch,
                namespace=self.namespace,
                field_manager="tether-controller",
            )
        return False

    async def _write(
        self,
        state: _ShardState,
        lease: dict[str, Any] | None,
        now: dt.datetime,
        *,
        transitions: int | None,
    ) -> bool:
        stamp = _micro_time(now)
        spec: dict[str, Any] = dict((lease or {}).get("spec") or {})
        if transitions is not None:  # a new holder
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + transitions
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = max(round(self.duration), 1)
        spec["renewTime"] = stamp
        metadata: dict[str, Any] = {"name": state.name, "namespace": self.namespace}
        if lease is not None:
            metadata = dict(lease["metadata"])
            annotations = dict(metadata.get("annotations") or {})
            if annotations.get(HANDOFF_ANNOTATION) in (self.identity,) or transitions:
                annotations.pop(HANDOFF_ANNOTATION, None)
            metadata["annotations"] = annotations
        body = {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata, "spec": spec}
        try:
            if lease is None:
                await self.kube.create(body, field_manager="tether-controller")
            else:
                await self.kube.update(body, field_manager="tether-controller")
        except ClusterError as exc:
            if exc.status in (409, 422):  # someone else wrote it first
                return False
            raise
        return True

    async def _release(self, lease: dict[str, Any]) -> None:
        spec = dict(lease.get("spec") or {})
        spec["holderIdentity"] = ""
        metadata = dict(lease["metadata"])
        body = {"apiVersion": LEASE_API, "kind": "Lease", "metadata": metadata, "spec": spec}
        try:
            await self.kube.update(body, field_manager="tether-controller")
        except ClusterError as exc:
            if exc.status != 409:
                raise

    async def release_all(self) -> None:
        """Give up every held Lease (graceful shutdown), so a peer takes over at once."""
        for state in self._states:
            if not state.held:
                continue
            try:
                lease = await self.kube.get(LEASE_API, "Lease", state.name, self.namespace)
                if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                    await self._release(lease)
            except TetherError as exc:
                log.warning("lease %s not released: %s", state.name, exc)
            self._set(state, False)
