"""bench/dashboard.py — server-side render time of the dashboard's pages.

The fleet page for 500 Applications and the app page of an app with 200 objects (its
resource tree with a ReplicaSet and 2 Pods under each of its 50 Deployments), each
rendered through the ASGI app (routing, template, escaping, headers) with the
Applications in memory — what the dashboard does per request once the watch cache has
them. Baseline in the same run: the JSON API of the same data (`orjson` of
`Application.to_dict()`, what `tether app list -o json` prints). Targets: each page
under 300 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.asgi import asgi_get

from bench.common import machine
from tether.core.drift_view import AppDriftView
from tether.core.fleet import CommitView, EventRow
from tether.core.resource_tree import TreeNode, owned_by, resource_tree
from tether.model.application import Application
from tether.model.status import ResourceStatus
from tether.server.dashboard import dashboard_app

APPS = 500
OBJECTS = 200
RUNS = 15
SHA = "4985dc9c0123456789abcdef0123456789abcdef"


def application(i: int, objects: int) -> Application:
    resources = [
        {
            "group": "apps" if j % 4 == 0 else "",
            "kind": "Deployment" if j % 4 == 0 else "ConfigMap",
            "namespace": f"team-{i % 20}",
            "name": f"obj-{j}",
            "status": "OutOfSync" if j % 25 == 0 else "Synced",
            "health": {"status": "Healthy"} if j % 4 == 0 else None,
            "drift": ["/spec/replicas"] if j % 25 == 0 else [],
            "driftCause": "manual-edit" if j % 25 == 0 else None,
            "driftWriter": "kubectl-edit" if j % 25 == 0 else None,
        }
        for j in range(objects)
    ]
    return Application.from_dict(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": f"app-{i:04d}",
                "namespace": "tether-system",
                "labels": {"team": f"team-{i % 20}"},
                "resourceVersion": str(1000 + i),
            },
            "spec": {
                "source": {"repoURL": "https://git.example/gitops.git", "path": f"apps/{i}"},
                "destination": {"namespace": f"team-{i % 20}"},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": i % 2 == 0}},
            },
            "status": {
                "sync": {"status": "OutOfSync" if i % 7 == 0 else "Synced", "revision": SHA},
                "health": {"status": "Healthy"},
                "resources": [{k: v for k, v in r.items() if v is not None} for r in resources],
                "history": [
                    {"id": h, "revision": SHA, "deployedAt": "2026-12-01T10:00:00Z"}
                    for h in range(1, 11)
                ],
            },
        }
    )


class Source:
    def __init__(self, apps: list[Application]) -> None:
        self._apps = apps
        self._by_key = {(a.namespace, a.name): a for a in apps}

    def apps(self) -> list[Application]:
        return self._apps

    def app(self, namespace: str, name: str) -> Application | None:
        return self._by_key.get((namespace, name))

    async def changes(self) -> AsyncIterator[tuple[str, str]]:
        await asyncio.Event().wait()
        yield ("", "")

    async def drift(self, namespace: str, name: str) -> AppDriftView | None:
        return None

    async def history_diff(self, namespace: str, name: str, entry: int) -> AppDriftView | None:
        return None

    async def events(self, namespace: str, name: str) -> list[EventRow]:
        return []

    async def commits(self, wanted: list[tuple[Application, str]]) -> dict[str, CommitView]:
        return {SHA: CommitView("shop: raise the api replicas to 3", "Ada Lovelace", "now")}

    async def tree(self, namespace: str, name: str) -> list[TreeNode]:
        """As the watch cache gives it: each Deployment with a ReplicaSet of 2 Pods."""
        app = self._by_key[(namespace, name)]
        resources = list(app.status.resources) if app.status else []
        live = {r.key: live_object(r) for r in resources}
        made = [
            child for r in resources if r.kind == "Deployment" for child in made_by(live[r.key])
        ]
        return resource_tree(resources, live, owned_by(made))


def live_object(resource: ResourceStatus) -> dict[str, Any]:
    meta = {"name": resource.name, "namespace": resource.namespace, "uid": f"uid-{resource.name}"}
    version = "apps/v1" if resource.group == "apps" else "v1"
    return {"apiVersion": version, "kind": resource.kind, "metadata": meta}


def made_by(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    name = deployment["metadata"]["name"]
    owner = {"uid": deployment["metadata"]["uid"]}
    replicas = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-7d4b9", "uid": f"rs-{name}", "ownerReferences": [owner]},
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{name}-7d4b9-{p}", "ownerReferences": [{"uid": f"rs-{name}"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
        }
        for p in ("a", "b")
    ]
    return [replicas, *pods]


async def get(app: Any, path: str) -> tuple[int, int]:
    """One GET through the ASGI app; (status, body bytes)."""
    status, body, _ = await asgi_get(app, path)
    return status, len(body)


def timed(app: Any, path: str) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        status, size = asyncio.run(get(app, path))
        times.append(time.perf_counter() - start)
        assert status == 200, (path, status)
    return statistics.median(times), size


def main() -> None:
    fleet_apps = [application(i, 4) for i in range(APPS)]
    big = application(APPS, OBJECTS)
    app = dashboard_app(Source([*fleet_apps, big]))
    print(
        f"bench dashboard: fleet page of {APPS + 1} apps, app page of {OBJECTS} objects"
        f" ({machine()})"
    )
    fleet, fleet_size = timed(app, "/ui/")
    api, api_size = timed(app, "/api/v1/apps")
    page, page_size = timed(app, f"/ui/apps/{big.namespace}/{big.name}")
    one_api, _ = timed(app, f"/api/v1/apps/{big.namespace}/{big.name}")
    print(
        f"  fleet page /ui/                 : {fleet * 1000:7.1f} ms median of {RUNS}"
        f" ({fleet_size // 1024} KiB)"
    )
    print(f"  baseline: JSON of the same apps : {api * 1000:7.1f} ms ({api_size // 1024} KiB)")
    print(
        f"  app page, {OBJECTS} objects          : {page * 1000:7.1f} ms ({page_size // 1024} KiB)"
    )
    print(f"  baseline: JSON of that app      : {one_api * 1000:7.1f} ms")
    print(f"  ratio page / JSON: fleet {fleet / api:.2f}x, app {page / one_api:.2f}x")
    met = fleet < 0.3 and page < 0.3
    print(f"  target (each page < 300 ms): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
