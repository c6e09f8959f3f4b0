"""Undeclared manual edits on the real control plane, with a running controller: a
`kubectl patch` of a field a CRD defaults and Git omits is reported (status, event,
metric, `tether drift`, `app diff`) with writer kubectl-patch while the app stays Synced;
with StrictManualEdits the app is OutOfSync and self-heal puts the default back."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_controller import (
    auto,
    controller,
    sample_lines,
    scrape,
    status_of,
    wait_synced_healthy,
)
from tests.support.apps import application
from tests.support.cli import tether
from tests.support.manifests import crd
from tests.support.repos import GitopsRepo
from tests.support.schemas import assert_drift_output
from tests.support.waiting import eventually
from tether.engine.apps import create_app
from tether.kube import KubeClient


def gadget_crd(group: str) -> dict[str, Any]:
    """A CRD whose schema defaults spec.size to 1 (the API server fills it in)."""
    spec = {
        "type": "object",
        "properties": {"colour": {"type": "string"}, "size": {"type": "integer", "default": 1}},
    }
    schema = {"type": "object", "properties": {"spec": spec}}
    return crd(group, "Gadget", "gadgets", schema=schema)


@pytest.fixture
async def gadget_group(kube: KubeClient) -> AsyncIterator[str]:
    group = f"g{uuid.uuid4().hex[:8]}.edits.tether.dev"
    await kube.apply(gadget_crd(group), field_manager="platform-team")

    async def served() -> bool:
        crd = await kube.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}"
        )
        conditions = ((crd or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    await eventually(served, timeout=30, what="the Gadget CRD established")
    try:
        yield group
    finally:
        await kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"gadgets.{group}")


async def test_a_patch_of_a_defaulted_field_is_reported_and_healed_only_when_strict(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
    gadget_group: str,
) -> None:
    api = f"{gadget_group}/v1"
    repo.write(
        {
            "app/gadget.yaml": (
                f"apiVersion: {api}\nkind: Gadget\nmetadata: {{name: g}}\nspec: {{colour: blue}}\n"
            )
        }
    )
    head = repo.commit("a gadget; its size is the CRD's default")
    await create_app(kube, application("gadgets", namespace, repo.url, "app", syncPolicy=auto()))
    with controller(kubeconfig, namespace, tmp_path) as proc:
        await wait_synced_healthy(kube, namespace, "gadgets", head)
        live = await kube.get(api, "Gadget", "g", namespace)
        assert live is not None and live["spec"] == {"colour": "blue", "size": 1}
        kubectl(
            "patch", f"gadgets.{gadget_group}", "g", "-n", namespace,
            "--type", "merge", "-p", '{"spec":{"size":5}}',
        )  # fmt: skip

        async def reported() -> Any:
            s = await status_of(kube, namespace, "gadgets")
            found = [r for r in s.resources if r.kind == "Gadget" and r.drift]
            return (s, found[0]) if found else None

        status, gadget = await eventually(reported, timeout=30, what="the edit in status")
        assert gadget.drift == ("/spec/size",)
        assert (gadget.drift_cause, gadget.drift_writer) == (
            "undeclared-manual-edit",
            "kubectl-patch",
        )
        assert status.sync.status.value == "Synced" and gadget.status.value == "Synced"
        live = await kube.get(api, "Gadget", "g", namespace)
        assert live is not None and live["spec"]["size"] == 5  # no self-heal without the option

        async def counted() -> list[str] | None:
            lines = sample_lines(scrape(proc), "tether_drift_events_total")
            return [x for x in lines if 'cause="undeclared-manual-edit"' in x] or None

        await eventually(counted, timeout=15, what="the drift metric")
        events = await kube.list("v1", "Event", namespace)
        drift = [e["message"] for e in events if e.get("reason") == "DriftDetected"]
        assert any("undeclared-manual-edit" in m and "kubectl-patch" in m for m in drift), drift

        explained = tether(kubeconfig, "-n", namespace, "drift", "gadgets", "--explain")
        assert explained.returncode == 0, explained.stderr
        assert "undeclared-manual-edit" in explained.stdout and "kubectl-patch" in explained.stdout
        as_json = tether(kubeconfig, "-n", namespace, "drift", "gadgets", "-o", "json")
        assert as_json.returncode == 0, as_json.stderr
        assert_drift_output(json.loads(as_json.stdout))
        [finding] = json.loads(as_json.stdout)
        assert (finding["path"], finding["cause"]) == ("/spec/size", "undeclared-manual-edit")
        diff = tether(kubeconfig, "-n", namespace, "app", "diff", "gadgets", "--exit-code")
        assert diff.returncode == 0, diff.stdout + diff.stderr  # Synced: no noise by default
        assert "===== undeclared manual edits =====" in diff.stdout
        assert f"Gadget.{gadget_group} {namespace}/g: /spec/size (kubectl-patch, " in diff.stdout
        assert "1 undeclared manual edit(s)" in diff.stderr

        # The app opts in: the edit is drift, and self-heal takes the field back (the
        # API server then defaults it again).
        kubectl(
            "annotate", "applications.tether.dev", "gadgets", "-n", namespace,
            "tether.dev/compare-options=StrictManualEdits=true",
        )  # fmt: skip

        async def healed() -> bool:
            obj = await kube.get(api, "Gadget", "g", namespace)
            return obj is not None and obj["spec"].get("size") == 1

        await eventually(healed, timeout=60, what="self-heal to put the default back")
        settled = await wait_synced_healthy(kube, namespace, "gadgets", head)
        assert settled.status is not None
        assert not [r for r in settled.status.resources if r.drift]
