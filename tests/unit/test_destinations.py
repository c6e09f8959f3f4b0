"""Destinations' engine bookkeeping under concurrent workers, with stand-ins for the
clients (the real-cluster paths are in tests/e2e/test_multicluster.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.apps import application
from tether.controller import destinations as module
from tether.controller.destinations import Destinations
from tether.model.cluster import ClusterAccess


class _Cache:
    def __init__(self, connected: bool) -> None:
        self.connected = connected

    def add_listener(self, listener: Any) -> None:
        pass

    def contact_problem(self) -> str:
        return "gone"


class _Kube:
    server = "https://hub.example"

    def limit_rate(self, qps: float, burst: int) -> None:
        pass

    def close(self) -> None:
        pass


def test_two_apps_of_a_replaced_cluster_open_one_new_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[object] = []

    def for_destination(kube: Any, cache: Any) -> Any:
        engine = SimpleNamespace(kube=kube, cache=cache)
        opened.append(engine)
        return engine

    hub = SimpleNamespace(kube=_Kube(), home_kube=_Kube(), for_destination=for_destination)
    destinations = Destinations(hub, "tether-system", lambda *_: None)  # type: ignore[arg-type]
    old = ClusterAccess("spoke", "https://spoke.example", bearer_token="old")
    new = ClusterAccess("spoke", "https://spoke.example", bearer_token="new")
    destinations._engines["spoke"] = (old, SimpleNamespace(cache=_Cache(False)))  # type: ignore[assignment]

    async def access_for(app: Any) -> ClusterAccess:
        await asyncio.sleep(0)
        return new  # registered again with new credentials

    async def identity_of(kube: Any) -> str:
        await asyncio.sleep(0.01)  # the new cluster answers while the other worker runs
        return "uid"

    async def record_identity(*_: Any) -> None:
        pass

    monkeypatch.setattr(destinations, "_access_for", access_for)
    monkeypatch.setattr(module, "identity_of", identity_of)
    monkeypatch.setattr(module, "record_identity", record_identity)
    monkeypatch.setattr(module.KubeClient, "from_access", staticmethod(lambda a: _Kube()))
    monkeypatch.setattr(module, "LiveCache", lambda kube, namespaces: _Cache(True))

    apps = [
        application(name, "team", "https://git.example/r.git", ".", destination={"name": "spoke"})
        for name in ("base", "web")
    ]

    async def both() -> list[Any]:
        return await asyncio.gather(*(destinations.engine_for(a) for a in apps))

    engines = asyncio.run(both())

    assert len(opened) == 1, opened
    assert engines[0] is engines[1] is opened[0]
    assert len(destinations._retired) == 1  # the old engine, once
