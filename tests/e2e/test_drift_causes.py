"""`tether drift` against the real control plane, one test per drift cause, each drift made
the way it happens in real life: a mutating webhook served over TLS, another controller
process, an edit through another apiVersion, a Secret rotated by a rotator. Each asserts
tether's cause, writer and path, and for intentional drift that the suggested
ignoreDifferences entry makes the app Synced. A Helm hook left behind is no drift at all
(hooks are not compared) and a pruning sync removes it.

(manual-edit and autoscaler are in test_drift_cli.py.)
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.support.apps import application
from tests.support.cli import create_app, tether
from tests.support.foreign_controller import ForeignController
from tests.support.repos import GitopsRepo
from tests.support.schemas import assert_drift_output
from tests.support.waiting import eventually
from tests.support.webhook import MutatingWebhook, Mutation
from tether.core.drift_findings import DriftCause
from tether.engine.apps import create_app as create_application
from tether.engine.compare import Engine, compare
from tether.engine.drift import explain_drift
from tether.kube import KubeClient
from tether.model.keys import ResourceKey

Kubectl = Callable[..., Any]


def deployment(name: str, *, labels: str = "", resources: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}{labels}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: {name}, image: "nginx:1.27"{resources}}}]
"""


class App:
    """One application driven through the `tether` CLI, as an on-call engineer would."""

    def __init__(self, kubeconfig: str, namespace: str, name: str, cache: Path) -> None:
        self.kubeconfig, self.namespace, self.name, self.cache = kubeconfig, namespace, name, cache

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return tether(self.kubeconfig, "-n", self.namespace, *args, cache=self.cache)

    def create(self, repo: GitopsRepo, path: str) -> None:
        created = create_app(
            self.kubeconfig, self.namespace, self.name, repo.url, path, cache=self.cache
        )
        assert created.returncode == 0, created.stderr

    def create_and_sync(self, repo: GitopsRepo, path: str) -> None:
        self.create(repo, path)
        self.sync()
        # No false positives: right after a sync there is nothing to explain.
        assert self.drift() == []

    def sync(self, *flags: str) -> None:
        result = self.run("app", "sync", self.name, *flags)
        assert result.returncode == 0, result.stderr

    def drift(self) -> list[dict[str, Any]]:
        result = self.run("drift", self.name, "-o", "json")
        assert result.returncode == 0, result.stderr
        findings: list[dict[str, Any]] = json.loads(result.stdout)
        assert_drift_output(findings)
        return findings

    def accept(self, *rules: dict[str, Any]) -> None:
        """Paste ignoreDifferences entries into the Application, as the drift output says."""
        app = yaml.safe_load(self.run("app", "get", self.name, "-o", "yaml").stdout)
        app["spec"]["ignoreDifferences"] = list(rules)
        app.pop("status", None)
        path = self.cache / f"{self.name}-app.yaml"
        path.write_text(yaml.safe_dump(app))
        result = self.run("app", "create", "-f", str(path), "--upsert")
        assert result.returncode == 0, result.stderr

    def assert_synced(self) -> None:
        diff = self.run("app", "diff", self.name, "--exit-code")
        assert diff.returncode == 0, diff.stdout + diff.stderr
        assert self.drift() == []


def only(findings: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(findings) == 1, json.dumps(findings, indent=1)
    return findings[0]


def summary(finding: dict[str, Any]) -> tuple[str, str, str, str | None]:
    return finding["object"], finding["path"], finding["cause"], finding["writer"]


# --- admission-mutation ---------------------------------------------------------------------

INJECT_LABEL = "example.dev/inject"


def inject_ca_and_sidecar(ca_pem: str) -> Mutation:
    """What a CA-bundle/sidecar injector does: a label on everything it touches, the CA
    bundle as a ConfigMap key, a proxy sidecar (and a stamp that differs on every
    admission) in a Deployment's pod template. Idempotent, as webhooks must be."""

    def mutate(obj: dict[str, Any], request: dict[str, Any]) -> list[dict[str, Any]]:
        patch: list[dict[str, Any]] = []
        if not (obj.get("metadata") or {}).get("labels"):
            patch.append({"op": "add", "path": "/metadata/labels", "value": {}})
        patch.append({"op": "add", "path": "/metadata/labels/example.dev~1injected", "value": "1"})
        if obj.get("kind") == "ConfigMap":
            if obj.get("data") is None:
                patch.append({"op": "add", "path": "/data", "value": {}})
            patch.append({"op": "add", "path": "/data/ca-bundle.crt", "value": ca_pem})
        elif obj.get("kind") == "Deployment":
            template = obj["spec"]["template"]
            if not (template.get("metadata") or {}).get("annotations"):
                patch.append(
                    {"op": "add", "path": "/spec/template/metadata/annotations", "value": {}}
                )
            patch.append(
                {
                    "op": "add",
                    "path": "/spec/template/metadata/annotations/example.dev~1injected-by",
                    "value": request["uid"],  # different on every admission, dry-runs too
                }
            )
            names = [c.get("name") for c in template["spec"].get("containers", [])]
            if "proxy" not in names:
                patch.append(
                    {
                        "op": "add",
                        "path": "/spec/template/spec/containers/-",
                        "value": {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
                    }
                )
        return patch

    return mutate


async def test_admission_mutation_from_a_real_webhook(
    kubeconfig: str,
    kube: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
) -> None:
    webhook_dir = tmp_path / "webhook"
    webhook_dir.mkdir()
    webhook = MutatingWebhook(webhook_dir, lambda obj, req: [])
    webhook.mutate = inject_ca_and_sidecar(webhook.ca_pem.decode())
    config = webhook.configuration(
        f"tether-test-inject-{namespace}",
        namespace=namespace,
        rules=[
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps"],
            },
            {
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": ["apps"],
                "apiVersions": ["v1"],
                "resources": ["deployments"],
            },
        ],
        object_selector={"matchLabels": {INJECT_LABEL: "true"}},
    )
    with webhook:
        try:
            await kube.apply(config)
            await _until_the_api_server_calls(kube, webhook, namespace)

            repo.write(
                {
                    "apps/trust/bundle.yaml": (
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trust-bundle\n"
                        f"  labels: {{{INJECT_LABEL}: 'true'}}\ndata: {{app.conf: 'tls=on'}}\n"
                    ),
                    "apps/trust/web.yaml": deployment("web", labels=f", {INJECT_LABEL}: 'true'"),
                }
            )
            repo.commit("trust bundle and web")
            app = App(kubeconfig, namespace, "trust", tmp_path)
            app.create(repo, "apps/trust")
            app.sync()

            bundle = await kube.get("v1", "ConfigMap", "trust-bundle", namespace)
            web = await kube.get("apps/v1", "Deployment", "web", namespace)
            assert bundle is not None and web is not None
            assert bundle["data"]["ca-bundle.crt"] == webhook.ca_pem.decode()
            assert bundle["metadata"]["labels"]["example.dev/injected"] == "1"
            pod_spec = web["spec"]["template"]["spec"]
            assert [c["name"] for c in pod_spec["containers"]] == ["web", "proxy"]
            # What the webhook added has no field manager: tether owns only what it applied.
            [owner] = bundle["metadata"]["managedFields"]
            assert owner["manager"] == "tether"
            assert owner["fieldsV1"]["f:data"] == {"f:app.conf": {}}

            findings = app.drift()
            # The dry-run that predicts an apply went through the webhook as well.
            assert {"ConfigMap", "Deployment"} <= {
                r["kind"] for r in webhook.requests if r["dryRun"] and r["operation"] == "UPDATE"
            }
            # The injected label, sidecar and per-admission stamp are not drift (nobody
            # asked for anything there); a ConfigMap key that Git lacks is.
            finding = only(findings)
            assert summary(finding) == (
                f"ConfigMap {namespace}/trust-bundle",
                "/data/ca-bundle.crt",
                "admission-mutation",
                None,
            )
            assert any("added at admission" in line for line in finding["evidence"])
            rule = finding["suggestion"]
            assert rule == {
                "group": "",
                "kind": "ConfigMap",
                "name": "trust-bundle",
                "jsonPointers": ["/data/ca-bundle.crt"],
            }

            app.accept(rule)
            app.assert_synced()
        finally:
            kubectl(
                "delete",
                "mutatingwebhookconfiguration",
                config["metadata"]["name"],
                "--ignore-not-found",
                check=False,
            )


async def _until_the_api_server_calls(
    kube: KubeClient, webhook: MutatingWebhook, namespace: str
) -> None:
    """The API server picks a new webhook configuration up within a moment; probe with a
    dry-run create until it reaches the server on 127.0.0.1 and applies the patch."""
    probe = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "probe", "namespace": namespace, "labels": {INJECT_LABEL: "true"}},
    }

    async def mutated() -> bool:
        created = await kube.apply(probe, field_manager="probe", dry_run=True)
        return "ca-bundle.crt" in (created.get("data") or {})

    try:
        await eventually(mutated, timeout=20, interval=0.3, what="the webhook to mutate a probe")
    except AssertionError as exc:
        raise AssertionError(
            f"kube-apiserver did not reach the webhook at {webhook.url}: {exc}; "
            f"requests seen: {webhook.requests}"
        ) from None


# --- controller-write -----------------------------------------------------------------------


async def test_controller_write_by_another_controller_process(
    kubeconfig: str, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write({"apps/web/web.yaml": deployment("web")})
    repo.commit("web")
    app = App(kubeconfig, namespace, "web", tmp_path)
    app.create_and_sync(repo, "apps/web")

    # An image updater (think Keel) keeps the image at the newest patch release: GET + PUT
    # under its own user agent, so the API server records it as `image-updater`, Update.
    image = "/spec/template/spec/containers/0/image"
    with ForeignController(
        kubeconfig,
        "image-updater/v0.9.0 (linux/amd64)",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/web",
        {image: "nginx:1.27.3"},
    ) as controller:
        controller.wait_for_write()
        finding = only(app.drift())
        assert summary(finding) == (
            f"Deployment.apps {namespace}/web",
            image,
            "controller-write",
            "image-updater",
        )
        assert finding["operation"] == "Update" and finding["when"]
        rule = finding["suggestion"]
        assert rule == {
            "group": "apps",
            "kind": "Deployment",
            "name": "web",
            "managedFieldsManagers": ["image-updater"],
        }
        app.accept(rule)
        app.assert_synced()  # while the controller keeps running


# --- a leftover hook ------------------------------------------------------------------------

CHART = {
    "charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    "charts/shop/values.yaml": "image: nginx:1.27\n",
    "charts/shop/templates/web.yaml": deployment("web").replace(
        '"nginx:1.27"', "{{ .Values.image | quote }}"
    ),
    # A migration Job as a Helm hook without a delete policy: Helm (and tether) keep it.
    "charts/shop/templates/migrate.yaml": """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: post-install,post-upgrade
    helm.sh/hook-weight: "1"
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: "busybox:1.36", command: ["true"]}]
""",
}


async def test_a_hook_left_behind_by_the_chart_is_no_drift_and_a_prune_removes_it(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write(CHART)
    repo.commit("shop chart with a post-install migration hook")
    app = App(kubeconfig, namespace, "shop", tmp_path)
    app.create_and_sync(repo, "charts/shop")
    assert await kube.get("batch/v1", "Job", "shop-migrate", namespace) is not None

    # Migrations move to an init container; the hook leaves the chart. Hooks are not part
    # of the app's sync status (as in Argo CD): the Job left behind is no drift, and stays
    # until a pruning sync removes it.
    repo.remove("charts/shop/templates/migrate.yaml")
    repo.write({"charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 1.1.0\n"})
    repo.commit("shop 1.1.0: no migration hook")
    app.sync()
    assert await kube.get("batch/v1", "Job", "shop-migrate", namespace) is not None
    app.assert_synced()
    app.sync("--prune")
    assert await kube.get("batch/v1", "Job", "shop-migrate", namespace) is None
    app.assert_synced()


# --- api-version-skew -----------------------------------------------------------------------

HPA_V1 = """\
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 50
"""
# The local control plane has no metrics API, so every HPA reports FailedGetResourceMetric;
# this app's health rule says an HPA is fine regardless (the HPA only carries an apiVersion).
HPA_HEALTH_RULE = """\
- group: autoscaling
  kind: HorizontalPodAutoscaler
  jq: '"Healthy"'
"""


async def test_api_version_skew_edit_through_another_version(
    kubeconfig: str,
    kube: KubeClient,
    kubectl: Kubectl,
    namespace: str,
    repo: GitopsRepo,
    tmp_path: Path,
) -> None:
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tether-health-rules", "namespace": namespace},
            "data": {"rules.yaml": HPA_HEALTH_RULE},
        }
    )
    repo.write(
        {
            "apps/web/web.yaml": deployment(
                "web", resources=", resources: {requests: {cpu: 100m}}"
            ),
            "apps/web/hpa.yaml": HPA_V1,  # autoscaling/v1: still served, no longer preferred
        }
    )
    repo.commit("web with an autoscaling/v1 HPA")
    app = App(kubeconfig, namespace, "web", tmp_path)
    app.create_and_sync(repo, "apps/web")

    # `kubectl edit` reads and writes the preferred version, autoscaling/v2: its field set
    # (`spec.metrics`) names nothing the v1 manifest has.
    editor = tmp_path / "edit.sh"
    editor.write_text(
        "#!/bin/sh\nsed -i 's/averageUtilization: 50/averageUtilization: 80/' \"$1\"\n"
    )
    editor.chmod(0o755)
    kubectl("edit", "-n", namespace, "hpa/web", env={"KUBE_EDITOR": str(editor)})
    live = await kube.get("autoscaling/v1", "HorizontalPodAutoscaler", "web", namespace)
    assert live is not None and live["spec"]["targetCPUUtilizationPercentage"] == 80

    finding = only(app.drift())
    assert summary(finding) == (
        f"HorizontalPodAutoscaler.autoscaling {namespace}/web",
        "/spec/targetCPUUtilizationPercentage",
        "api-version-skew",
        "kubectl-edit",
    )
    evidence = " | ".join(finding["evidence"])
    assert "through autoscaling/v2" in evidence and "the manifest uses autoscaling/v1" in evidence
    assert finding["suggestion"] is None


async def test_api_version_skew_of_the_watch_cache_is_not_drift(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo
) -> None:
    repo.write({"apps/hpa/hpa.yaml": HPA_V1})
    repo.commit("hpa")
    app = application("hpa", namespace, repo.url, "apps/hpa")
    await create_application(kube, app)
    # Another app's autoscaling/v2 HPA was compared first: the cache watches HPAs in v2.
    await engine.cache.watch_kind("autoscaling/v2", "HorizontalPodAutoscaler")
    for obj in (await compare(engine, app)).desired:
        await kube.apply(obj)  # as tether's sync would (field manager tether)
    key = ResourceKey("autoscaling", "HorizontalPodAutoscaler", namespace, "web")

    async def cached() -> bool:
        return engine.cache.get(key) is not None

    await eventually(cached, timeout=10, what="the HPA in the watch cache")
    report = await explain_drift(engine, app)
    # Whatever is reported is at least attributed to the version mismatch...
    assert {f.cause for f in report.findings} <= {DriftCause.API_VERSION_SKEW}
    # ...but live is what the manifest says: there is nothing to explain.
    assert report.findings == []


# --- secret-rotation ------------------------------------------------------------------------

OLD_PASSWORD = "initial-db-password"
NEW_PASSWORD = "rotated-db-password-7f3a"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_secret_rotation_by_a_rotator(
    kubeconfig: str, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    repo.write(
        {
            "apps/db/secret.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata: {name: db-credentials}\n"
                f"stringData: {{username: app, password: {OLD_PASSWORD}}}\n"
            )
        }
    )
    repo.commit("db credentials")
    app = App(kubeconfig, namespace, "db", tmp_path)
    app.create_and_sync(repo, "apps/db")

    # A rotator (think Vault's secrets operator) writes the new password with an Update.
    rotated = b64(NEW_PASSWORD)
    with ForeignController(
        kubeconfig,
        "vault-rotator/1.4.2",
        f"/api/v1/namespaces/{namespace}/secrets/db-credentials",
        {"/data/password": rotated},
        once=True,
    ) as rotator:
        rotator.wait_for_write()

    finding = only(app.drift())
    assert summary(finding) == (
        f"Secret {namespace}/db-credentials",
        "/data/password",
        "secret-rotation",
        "vault-rotator",
    )
    assert finding["operation"] == "Update"
    # Values never leave the cluster through tether: neither the old nor the new one.
    outputs = [app.run("drift", "db", "-o", "json"), app.run("drift", "db", "--explain")]
    for result in outputs:
        text = result.stdout + result.stderr
        assert "password" in text  # the key name is shown...
        for value in (OLD_PASSWORD, NEW_PASSWORD, rotated, b64(OLD_PASSWORD)):
            assert value not in text  # ...its values are not
    rule = finding["suggestion"]  # rotated by a controller: intentional
    assert rule == {
        "group": "",
        "kind": "Secret",
        "name": "db-credentials",
        "jsonPointers": ["/data/password"],
    }
    app.accept(rule)
    app.assert_synced()
