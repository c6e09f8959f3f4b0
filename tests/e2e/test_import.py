"""`tether import` end to end: a repository written in Argo CD's format (waves, a PostSync
hook, an ApplicationSet) and one in Flux's (dependsOn, SOPS, postBuild substitution, a
HelmRelease from the GitRepository), imported with --apply, reconciled by `tether
controller` to Synced+Healthy on the real control plane with the objects the source
tool's semantics say; and shadow mode, which explains drift and never writes."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.test_controller import controller, wait_synced_healthy
from tests.support.age import generate_age_key_pair, sops_encrypt
from tests.support.cli import tether
from tests.support.manifests import as_yaml, configmap, deployment
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import get_app, list_apps
from tether.kube import KubeClient
from tether.localcluster import binaries


def argo_app(
    name: str, repo: str, path: str, namespace: str, wave: str, **spec: object
) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "annotations": {"argocd.argoproj.io/sync-wave": wave},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            **spec,
        },
    }


async def test_an_argo_cd_repository_imports_and_every_app_becomes_synced_and_healthy(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    appset = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "tenants", "namespace": "argocd"},
        "spec": {
            "generators": [{"git": {"repoURL": repo.url, "revision": "HEAD",
                                     "directories": [{"path": "tenants/*"}]}}],
            "template": {
                "metadata": {"name": "tenant-{{path.basename}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo.url, "path": "{{path}}"},
                    "destination": {"namespace": namespace},
                    "syncPolicy": {"automated": {}},
                },
            },
        },
    }  # fmt: skip
    repo.write(
        {
            "root/apps.yaml": yaml.safe_dump_all(
                [
                    argo_app("base", repo.url, "base", namespace, "0"),
                    argo_app(
                        "web",
                        repo.url,
                        "web",
                        namespace,
                        "1",
                        ignoreDifferences=[
                            {
                                "group": "apps",
                                "kind": "Deployment",
                                "jsonPointers": ["/spec/replicas"],
                            }
                        ],
                    ),
                    appset,
                ]
            ),
            "base/settings.yaml": as_yaml(configmap("settings", data={"level": "info"})),
            "web/kustomization.yaml": "resources: [deploy.yaml, smoke.yaml]\n",
            # Argo CD's hook annotations are read on manifests as they are.
            "web/smoke.yaml": SMOKE_HOOK,
            "web/deploy.yaml": as_yaml(deployment("web", replicas=0)),
            "tenants/blue/cm.yaml": as_yaml(configmap("blue")),
            "tenants/green/cm.yaml": as_yaml(configmap("green")),
        }
    )
    head = repo.commit("an Argo CD repository")
    cache = tmp_path / "cache"
    done = tether(
        kubeconfig, "-n", namespace, "import", "argocd", str(repo.work / "root"), "--apply",
        cache=cache,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    printed = {a["metadata"]["name"]: a for a in yaml.safe_load_all(done.stdout)}
    assert sorted(printed) == ["base", "tenant-blue", "tenant-green", "web"]
    web = await get_app(kube, namespace, "web")
    assert [d.name for d in web.spec.depends_on] == ["base"]  # wave 1 after wave 0
    assert web.spec.sync_policy.automated is not None and web.spec.sync_policy.automated.prune

    with controller(kubeconfig, namespace, tmp_path):
        for name in printed:
            await wait_synced_healthy(kube, namespace, name, head, timeout=120)
        # ignoreDifferences came over: a scaled Deployment is neither drift nor healed
        # (the same edit of an app without it is OutOfSync: the shadow tests below).
        kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")
        await asyncio.sleep(3)
        diff = tether(kubeconfig, "-n", namespace, "app", "diff", "web", cache=cache)
        assert diff.returncode == 0 and "replicas" not in diff.stdout, diff.stdout
        status = (await get_app(kube, namespace, "web")).status
        assert status is not None and status.sync.status.value == "Synced"
        live_web = await kube.get("apps/v1", "Deployment", "web", namespace)
        assert live_web is not None and live_web["spec"]["replicas"] == 3
    assert (await kube.get("v1", "ConfigMap", "settings", namespace))["data"] == {"level": "info"}
    for name in ("blue", "green"):
        assert await kube.get("v1", "ConfigMap", name, namespace)
    assert await kube.get("apps/v1", "Deployment", "web", namespace)
    smoke = await kube.get("batch/v1", "Job", "smoke", namespace)
    assert smoke is not None and (smoke.get("status") or {}).get("succeeded") == 1  # ran


SMOKE_HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations: {argocd.argoproj.io/hook: PostSync}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: run, image: "busybox:1.36", command: ["true"]}]
"""

CHART = {
    "charts/hello/Chart.yaml": "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
    "charts/hello/values.yaml": "greeting: hi\nfrom: chart\n",
    "charts/hello/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-greeting}\n"
        "data: {greeting: {{ .Values.greeting | quote }}, from: {{ .Values.from | quote }}}\n"
    ),
}


async def test_a_flux_repository_imports_and_every_app_becomes_synced_and_healthy(
    kubeconfig: str, kube: KubeClient, namespace: str, repo: GitopsRepo, tmp_path: Path
) -> None:
    flux = [
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"url": repo.url, "ref": {"branch": "main"}, "interval": "1m"},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "infra", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"},
                     "path": "./infra", "prune": True, "interval": "10m",
                     "targetNamespace": namespace},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"},
                     "path": "./apps", "prune": True, "interval": "10m",
                     "dependsOn": [{"name": "infra"}], "targetNamespace": namespace,
                     "postBuild": {"substitute": {"cluster_env": "production"},
                                   "substituteFrom": [{"kind": "ConfigMap",
                                                       "name": "cluster-vars"}]},
                     "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}},
        },
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "hello", "namespace": "flux-system"},
            "spec": {"interval": "10m", "targetNamespace": namespace, "releaseName": "hello",
                     "chart": {"spec": {"chart": "./charts/hello",
                                        "sourceRef": {"kind": "GitRepository", "name": "fleet"}}},
                     "values": {"greeting": "hello from flux"},
                     "valuesFrom": [{"kind": "ConfigMap", "name": "hello-values"}]},
        },
    ]  # fmt: skip
    repo.write(
        {
            "clusters/prod/flux.yaml": yaml.safe_dump_all(flux),
            "infra/kustomization.yaml": "resources: [settings.yaml]\n",
            "infra/settings.yaml": as_yaml(configmap("infra-settings")),
            # No kustomization.yaml: Flux builds every manifest below the path.
            "apps/web/deploy.yaml": as_yaml(deployment("web", replicas=0)),
            "apps/web/config/cm.yaml": as_yaml(
                configmap("web-config", {"env": "${cluster_env}", "region": "${region}"})
            ),
            **CHART,
        }
    )
    key = generate_age_key_pair()
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: s3cr3t-fx}\n"
    )
    repo.write(
        {
            "apps/web/secret.yaml": sops_encrypt(
                binaries.binary("sops"), key.recipient, secret, tmp_path
            )
        }
    )
    # Flux's decryption Secret: the age identity under a *.agekey key, in the app namespace.
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "sops-age", "namespace": namespace},
            "stringData": {"age.agekey": key.identity},
        }
    )
    # substituteFrom: variables from a ConfigMap labelled for it.
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cluster-vars", "namespace": namespace,
                         "labels": {"tether.dev/post-build-variables": "true"}},
            "data": {"region": "eu-west", "cluster_env": "loses to substitute"},
        }
    )  # fmt: skip
    # valuesFrom: a ConfigMap made for Helm values (labelled: tether reads no other).
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "hello-values", "namespace": namespace,
                         "labels": {"tether.dev/helm-values": "true"}},
            "data": {"values.yaml": "from: configmap\ngreeting: overridden by spec.values\n"},
        }
    )  # fmt: skip
    head = repo.commit("a Flux repository")
    done = tether(
        kubeconfig, "-n", namespace, "import", "flux", str(repo.work / "clusters/prod"),
        "--apply", cache=tmp_path / "cache",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    names = sorted(a["metadata"]["name"] for a in yaml.safe_load_all(done.stdout))
    assert names == ["apps", "hello", "infra"]
    with controller(kubeconfig, namespace, tmp_path):
        for name in names:
            await wait_synced_healthy(kube, namespace, name, head, timeout=120)
    web_config = await kube.get("v1", "ConfigMap", "web-config", namespace)  # recursive read
    # Flux's postBuild substitution: substitute wins over substituteFrom.
    assert web_config["data"] == {"env": "production", "region": "eu-west"}
    assert await kube.get("v1", "ConfigMap", "infra-settings", namespace)
    db = await kube.get("v1", "Secret", "db", namespace)  # decrypted by tether, as by Flux
    assert db is not None and base64.b64decode(db["data"]["password"]) == b"s3cr3t-fx"
    greeting = await kube.get("v1", "ConfigMap", "hello-greeting", namespace)
    # valueFiles < valuesFrom < values, as Flux layers them.
    assert greeting["data"] == {"greeting": "hello from flux", "from": "configmap"}


async def test_an_object_that_cannot_convert_applies_nothing_and_exits_2(
    kubeconfig: str, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    bad = tmp_path / "apps.yaml"
    bad.write_text(
        yaml.safe_dump_all(
            [
                argo_app("fine", "https://git.example/r.git", "fine", namespace, "0"),
                {**argo_app("plugin", "https://git.example/r.git", "p", namespace, "0"),
                 "spec": {"source": {"repoURL": "https://git.example/r.git",
                                     "plugin": {"name": "envsubst"}}}},
            ]
        )
    )  # fmt: skip
    done = tether(kubeconfig, "-n", namespace, "import", "argocd", str(bad), "--apply")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: import")]
    assert len(errors) == 1 and "Application argocd/plugin" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert await list_apps(kube, namespace) == []  # no partial apply: "fine" was not created either


async def wait_out_of_sync(kube: KubeClient, namespace: str, name: str) -> None:
    async def out_of_sync() -> bool:
        status = (await get_app(kube, namespace, name)).status
        return status is not None and status.sync.status.value == "OutOfSync"

    await eventually(out_of_sync, timeout=60, what=f"{name} OutOfSync after the edit")


async def test_shadow_mode_explains_manual_edits_of_argo_cd_and_flux_objects_and_writes_nothing(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """Objects Argo CD applied (its field manager, its tracking id) and objects Flux
    applied (its field manager, its labels): tether, imported with --shadow, reports a
    kubectl edit with writer and cause and never writes."""
    manifest = deployment("web", replicas=2)
    settings = configmap("flux-settings", data={"level": "info"})
    repo.write({"web/deploy.yaml": as_yaml(manifest), "settings/cm.yaml": as_yaml(settings)})
    head = repo.commit("web")
    flux_labels = {
        "kustomize.toolkit.fluxcd.io/name": "settings",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    for name in ("flux-settings", "flux-old"):  # flux-old: no longer in Git
        flux_owned = configmap(name, data={"level": "info"}, namespace=namespace)
        flux_owned["metadata"]["labels"] = flux_labels
        await kube.apply(flux_owned, field_manager="kustomize-controller")
    flux_root = tmp_path / "flux.yaml"
    flux_root.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "metadata": {"name": "fleet", "namespace": "flux-system"},
                    "spec": {"url": repo.url, "ref": {"branch": "main"}},
                },
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": "settings", "namespace": "flux-system"},
                    "spec": {
                        "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                        "path": "./settings",
                        "prune": True,
                        "targetNamespace": namespace,
                    },
                },
            ]
        )
    )
    argo_owned = {
        **manifest,
        "metadata": {
            **manifest["metadata"],
            "namespace": namespace,
            "labels": {"app.kubernetes.io/instance": "web"},
            "annotations": {"argocd.argoproj.io/tracking-id": "web:apps/Deployment:x/web"},
        },
    }
    await kube.apply(argo_owned, field_manager="argocd-controller")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "web.yaml").write_text(
        yaml.safe_dump(argo_app("web", repo.url, "web", namespace, "0"))
    )
    cache = tmp_path / "cache"
    done = tether(
        kubeconfig, "-n", namespace, "import", "argocd", str(tmp_path / "root"), "--shadow",
        "--apply", cache=cache,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    app = await get_app(kube, namespace, "web")
    assert app.spec.detect_only
    done = tether(
        kubeconfig, "-n", namespace, "import", "flux", str(flux_root), "--shadow", "--apply",
        cache=cache,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    with controller(kubeconfig, namespace, tmp_path):
        # Argo CD's objects as they are: Synced, no take-over needed, nothing written.
        await wait_synced_healthy(kube, namespace, "web", head, timeout=120)
        kubectl("scale", "-n", namespace, "deployment/web", "--replicas=5")

        await wait_out_of_sync(kube, namespace, "web")
        drift = tether(kubeconfig, "-n", namespace, "drift", "web", "-o", "json", cache=cache)
        assert drift.returncode == 0, drift.stderr
        findings = {f["path"]: f for f in json.loads(drift.stdout)}
        replicas = findings["/spec/replicas"]
        assert replicas["writer"] == "kubectl" or replicas["writer"].startswith("kubectl")
        assert replicas["cause"] == "manual-edit"
        # Flux's objects: the Kustomization's leftover is Extraneous (Flux would prune
        # it), so that app is OutOfSync from the start; an edit is explained the same way.
        await wait_out_of_sync(kube, namespace, "settings")
        kubectl("patch", "-n", namespace, "configmap/flux-settings", "-p",
                '{"data": {"level": "debug"}}')  # fmt: skip
        await asyncio.sleep(2)
        drift = tether(kubeconfig, "-n", namespace, "drift", "settings", "-o", "json", cache=cache)
        assert drift.returncode == 0, drift.stderr
        level = {f["path"]: f for f in json.loads(drift.stdout)}["/data/level"]
        assert level["writer"].startswith("kubectl") and level["cause"] == "manual-edit", level
        flux_diff = tether(kubeconfig, "-n", namespace, "app", "diff", "settings", cache=cache)
        assert f"ConfigMap {namespace}/flux-old (Extraneous)" in flux_diff.stdout, flux_diff
        await asyncio.sleep(3)  # self-heal would have acted by now (it is on in the source)
    live = await kube.get("apps/v1", "Deployment", "web", namespace)
    assert live is not None and live["spec"]["replicas"] == 5  # not healed: never written
    managers = {m["manager"] for m in live["metadata"].get("managedFields", [])}
    assert "tether" not in managers and "argocd-controller" in managers
    assert "tether.dev/tracking-id" not in live["metadata"].get("annotations", {})
    # An object Argo CD marks as web's but that Git no longer has is tracked by its mark:
    # reported as extraneous (Argo CD would prune it), never pruned or written by tether.
    leftover = deployment("old-web")
    leftover["metadata"].update(
        namespace=namespace,
        annotations={"argocd.argoproj.io/tracking-id": f"web:apps/Deployment:{namespace}/old-web"},
    )
    await kube.apply(leftover, field_manager="argocd-controller")
    stray = deployment("stray")  # the same without Argo CD's mark: not the app's
    stray["metadata"]["namespace"] = namespace
    await kube.apply(stray, field_manager="kubectl")
    diff = tether(kubeconfig, "-n", namespace, "app", "diff", "web", cache=cache)
    assert diff.returncode == 0, diff.stderr
    assert f"Deployment.apps {namespace}/old-web (Extraneous)" in diff.stdout, diff.stdout
    assert "stray" not in diff.stdout
    # A sync or a cascade delete is refused, not attempted.
    refused = tether(kubeconfig, "-n", namespace, "app", "sync", "web", cache=cache)
    assert refused.returncode == 2 and "detect-only" in refused.stderr, refused.stderr
    refused = tether(kubeconfig, "-n", namespace, "app", "delete", "web", "--cascade", cache=cache)
    assert refused.returncode == 2 and "detect-only" in refused.stderr, refused.stderr
    assert await kube.get("apps/v1", "Deployment", "web", namespace) is not None
    for api_version, kind, name in (
        ("apps/v1", "Deployment", "old-web"),
        ("v1", "ConfigMap", "flux-old"),
        ("v1", "ConfigMap", "flux-settings"),
    ):
        found = await kube.get(api_version, kind, name, namespace)
        assert found is not None  # reported, never pruned
        assert "tether" not in {m["manager"] for m in found["metadata"].get("managedFields", [])}
    edited = await kube.get("v1", "ConfigMap", "flux-settings", namespace)
    assert edited is not None and edited["data"] == {"level": "debug"}  # not healed


async def test_a_shadow_controller_never_writes_even_for_a_self_healing_app(
    kubeconfig: str,
    kube: KubeClient,
    namespace: str,
    repo: GitopsRepo,
    kubectl: Callable[..., Any],
    tmp_path: Path,
) -> None:
    """`tether controller --shadow`: an app whose spec says selfHeal (normal mode) is
    treated as detect-only; without --shadow, the same edit is healed."""
    repo.write({"web/deploy.yaml": as_yaml(deployment("web", replicas=2))})
    head = repo.commit("web")
    app = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "source": {"repoURL": repo.url, "path": "web"},
            "destination": {"namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(app))
    cache = tmp_path / "cache"
    created = tether(
        kubeconfig, "-n", namespace, "app", "create", "-f", str(tmp_path / "app.yaml"), cache=cache
    )
    assert created.returncode == 0, created.stderr
    synced = tether(kubeconfig, "-n", namespace, "app", "sync", "web", cache=cache)
    assert synced.returncode == 0, synced.stderr

    def replicas() -> Any:
        return kube.get("apps/v1", "Deployment", "web", namespace)

    with controller(kubeconfig, namespace, tmp_path, "--shadow", name="shadow"):
        await wait_synced_healthy(kube, namespace, "web", head, timeout=120)
        kubectl("scale", "-n", namespace, "deployment/web", "--replicas=5")

        await wait_out_of_sync(kube, namespace, "web")
        await asyncio.sleep(5)  # a self-heal would have acted by now
        assert (await replicas())["spec"]["replicas"] == 5  # with --shadow: not healed

    with controller(kubeconfig, namespace, tmp_path, name="normal"):

        async def healed() -> bool:
            return bool((await replicas())["spec"]["replicas"] == 2)

        await eventually(healed, timeout=90, what="web healed without --shadow")
