"""`tether drift`: each drifted field with its writer and cause, from real managedFields."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import create_app, tether
from tests.support.repos import GitopsRepo
from tests.support.schemas import assert_drift_output
from tether.kube import KubeClient

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27"}]
"""


async def test_drift_names_writer_cause_and_a_working_ignore_rule(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    repo.write({"apps/web/web.yaml": WEB})
    repo.commit("web")
    ns = ["-n", namespace]
    assert (
        create_app(kubeconfig, namespace, "web", repo.url, "apps/web", cache=tmp_path).returncode
        == 0
    )
    assert tether(kubeconfig, *ns, "app", "sync", "web", cache=tmp_path).returncode == 0

    editor = tmp_path / "edit.sh"
    editor.write_text("#!/bin/sh\nsed -i 's#nginx:1.27#nginx:1.27-debug#' \"$1\"\n")
    editor.chmod(0o755)
    kubectl("edit", "-n", namespace, "deployment/web", env={"KUBE_EDITOR": str(editor)})
    await kube.patch(
        "apps/v1",
        "Deployment",
        "web",
        {"spec": {"replicas": 5}},
        namespace=namespace,
        field_manager="horizontal-pod-autoscaler",
        subresource="scale",
    )

    result = tether(kubeconfig, *ns, "drift", "web", "-o", "json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_drift_output(json.loads(result.stdout))
    findings = {f["path"]: f for f in json.loads(result.stdout)}
    image = findings["/spec/template/spec/containers/0/image"]
    assert (image["cause"], image["writer"], image["operation"]) == (
        "manual-edit",
        "kubectl-edit",
        "Update",
    )
    replicas = findings["/spec/replicas"]
    assert (replicas["cause"], replicas["writer"], replicas["subresource"]) == (
        "autoscaler",
        "horizontal-pod-autoscaler",
        "scale",
    )
    assert replicas["evidence"]  # (writes through /scale carry no time in managedFields)
    assert image["suggestion"] is None  # a person's edit is not silenced, it is fixed
    rule = replicas["suggestion"]
    assert rule["managedFieldsManagers"] == ["horizontal-pod-autoscaler"]

    table = tether(kubeconfig, *ns, "drift", "web", cache=tmp_path)
    assert table.stdout.split()[:5] == ["OBJECT", "PATH", "CAUSE", "WRITER", "WHEN"]
    assert "ignoreDifferences:" in table.stderr

    # Paste the suggested rule into the Application: replicas no longer drift.
    app = yaml.safe_load(
        tether(kubeconfig, *ns, "app", "get", "web", "-o", "yaml", cache=tmp_path).stdout
    )
    app["spec"]["ignoreDifferences"] = [rule]
    app.pop("status", None)
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(app))
    assert (
        tether(
            kubeconfig, *ns, "app", "create", "-f", str(path), "--upsert", cache=tmp_path
        ).returncode
        == 0
    )
    again = json.loads(tether(kubeconfig, *ns, "drift", "web", "-o", "json", cache=tmp_path).stdout)
    assert [f["path"] for f in again] == ["/spec/template/spec/containers/0/image"]
