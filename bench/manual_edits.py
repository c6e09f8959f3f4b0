"""What finding undeclared manual edits costs a compare (pure, no cluster).

2,000 Deployments as a server-side apply leaves them (tether's Apply entry, the
controller's status entry) and, in a tenth of them, a person's `kubectl edit` of a field
Git does not set. Timed: `compare_app` as it runs in every compare, against the same
call with the manual-edit search switched off (the baseline, in the same process).
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from typing import Any
from unittest import mock

from bench.common import machine
from tether.core import diff as diff_module
from tether.core.diff import compare_app
from tether.model.keys import ResourceKey

OBJECTS = 2000
ROUNDS = 9


def deployment(index: int) -> dict[str, Any]:
    name = f"web-{index}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "env": []}]},
            },
        },
    }


def live_of(desired: dict[str, Any], edited: bool) -> dict[str, Any]:
    live = copy.deepcopy(desired)
    container = {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}
    entries: list[dict[str, Any]] = [
        {
            "manager": "tether",
            "operation": "Apply",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {"f:spec": {"f:containers": container}},
                },
            },
        },
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "fieldsV1": {"f:status": {"f:replicas": {}}},
        },
    ]
    if edited:
        live["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "DEBUG", "value": "1"}]
        debug = {'k:{"name":"DEBUG"}': {".": {}, "f:name": {}, "f:value": {}}}
        entries.append(
            {
                "manager": "kubectl-edit",
                "operation": "Update",
                "time": "2026-12-02T02:00:00Z",
                "fieldsV1": {
                    "f:spec": {
                        "f:template": {
                            "f:spec": {"f:containers": {'k:{"name":"web"}': {"f:env": debug}}}
                        }
                    }
                },
            }
        )
    live["metadata"]["managedFields"] = entries
    return live


def interleaved(run: Any, rounds: int) -> tuple[float, float]:
    """Median seconds with and without the search, rounds alternating (the machine's
    drift affects both sides alike)."""
    with_search, without = [], []
    for _ in range(rounds):
        for times, enabled in ((with_search, True), (without, False)):
            patch = (
                mock.patch.object(diff_module, "manual_edit_paths", lambda *_: [])
                if not enabled
                else contextlib.nullcontext()
            )
            with patch:
                started = time.perf_counter()
                run()
                times.append(time.perf_counter() - started)
    return statistics.median(with_search), statistics.median(without)


def main() -> None:
    desired = [deployment(i) for i in range(OBJECTS)]
    live = {ResourceKey.of(d): live_of(d, edited=i % 10 == 0) for i, d in enumerate(desired)}
    predicted = {k: {key: v for key, v in o.items()} for k, o in live.items()}
    result = compare_app(desired, live, predicted)
    found = sum(len(d.manual_edits) for d in result.objects)
    with_search, without = interleaved(lambda: compare_app(desired, live, predicted), ROUNDS)
    print(f"bench manual edits: compare_app of {OBJECTS} Deployments, {found} edits ({machine()})")
    print(f"  without the manual-edit search (baseline): {without * 1000:8.1f} ms")
    print(f"  with it                                  : {with_search * 1000:8.1f} ms")
    print(f"  cost                                     : {with_search / without - 1:8.1%}")


if __name__ == "__main__":
    main()
