"""`tether import`: Argo CD and Flux definitions (the project's own fixtures under
data/import, each showing the traits named in its header) converted field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.support.manifests import configmap
from tether.core.desired import prepare_desired, without_tracking_id
from tether.core.importing import (
    Conversion,
    Outcome,
    RepoTree,
    TreeWanted,
    convert,
    detect_tool,
    trees_wanted,
)
from tether.engine.apps import ParsedApplications
from tether.model.application import Application

DATA = Path(__file__).parent / "data" / "import"


def objects(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DATA / name).read_text()) if d]


def apps(conversion: Conversion) -> dict[str, dict[str, Any]]:
    return {a["metadata"]["name"]: a for a in conversion.applications}


def findings(conversion: Conversion, source: str) -> dict[str, tuple[Outcome, str]]:
    return {f.field: (f.outcome, f.reason) for f in conversion.findings if f.source == source}


def test_an_argo_cd_app_of_apps_keeps_source_destination_policy_and_orders_the_waves() -> None:
    given = objects("argocd-app-of-apps.yaml")
    assert detect_tool(given) == "argocd"
    out = convert("argocd", given, "tether-system", {})
    made = apps(out)
    assert sorted(made) == ["api", "crds", "web"]
    for app in made.values():
        Application.from_dict(app)  # valid tether Applications
        assert app["metadata"]["namespace"] == "tether-system"
    crds = made["crds"]["spec"]
    assert crds["source"] == {
        "repoURL": "https://git.example/platform.git",
        "targetRevision": "main",
        "path": "crds",
    }
    assert crds["destination"] == {"namespace": "platform"}  # the in-cluster server: default
    assert crds["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert crds["syncPolicy"]["syncOptions"] == ["CreateNamespace=true", "ServerSideApply=true"]
    web = made["web"]["spec"]
    assert web["source"]["helm"] == {
        "releaseName": "web",
        "valueFiles": ["values-prod.yaml"],
        "values": "replicaCount: 2\n",
    }
    assert web["ignoreDifferences"] == [
        {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}
    ]
    assert web["syncPolicy"]["retry"]["limit"] == 3
    assert web["destination"] == {"namespace": "web"}
    # Waves: wave 1 waits for wave -1 (the nearest lower wave); crds waits for nobody.
    assert web["dependsOn"] == [{"name": "crds"}]
    assert made["api"]["spec"]["dependsOn"] == [{"name": "crds"}]
    assert "dependsOn" not in crds
    assert made["web"]["metadata"]["annotations"] == {
        "tether.dev/sync-wave": "1",
        "tether.dev/imported-from": "argocd/Application/argocd/web",  # shadow mode's key
    }
    # Another cluster and a named project are kept, and said so.
    assert made["api"]["spec"]["destination"]["server"] == "https://10.0.0.9:6443"
    assert made["api"]["spec"]["project"] == "payments"

    crds_notes = findings(out, "Application argocd/crds")
    assert crds_notes["metadata.finalizers"][0] is Outcome.DROPPED
    assert crds_notes["spec.syncPolicy.syncOptions[Validate=false]"][0] is Outcome.UNSUPPORTED
    web_notes = findings(out, "Application argocd/web")
    assert web_notes["spec.source.helm.ignoreMissingValueFiles"][0] is Outcome.UNSUPPORTED
    api_notes = findings(out, "Application argocd/api")
    assert api_notes["spec.source.kustomize.patches"][0] is Outcome.UNSUPPORTED
    assert api_notes["spec.info"][0] is Outcome.UNSUPPORTED
    assert api_notes["spec.project"][0] is Outcome.CONVERTED


def test_what_tether_cannot_render_is_not_converted_and_says_why() -> None:
    out = convert("argocd", objects("argocd-app-of-apps.yaml"), "tether-system", {})
    assert "cmp" not in apps(out) and "from-chart-repo" not in apps(out)
    plugin = findings(out, "Application argocd/cmp")["spec.source.plugin"]
    assert plugin[0] is Outcome.ERROR and "never runs" in plugin[1]
    chart = findings(out, "Application argocd/from-chart-repo")["spec.source.chart"]
    assert chart[0] is Outcome.ERROR and "from Git" in chart[1]


ADDONS = RepoTree(
    frozenset(
        {
            "addons/metrics/deploy.yaml",
            "addons/logging/kustomization.yaml",
            "addons/experimental/x.yaml",
            "addons/.hidden/x.yaml",
            "tenants/blue/config.yaml",
            "tenants/green/config.yaml",
            "README.md",
        }
    ),
    {
        "tenants/blue/config.yaml": "tenant: {name: blue}\n",
        "tenants/green/config.yaml": "tenant: {name: green}\n",
    },
)


def test_application_sets_expand_their_git_and_list_generators() -> None:
    given = objects("argocd-appset.yaml")
    wanted = trees_wanted("argocd", given)
    assert wanted == [
        TreeWanted("https://git.example/addons.git", "HEAD", ()),
        TreeWanted("https://git.example/addons.git", "HEAD", ("tenants/**/config.yaml",)),
    ]
    out = convert(
        "argocd", given, "tether-system", {("https://git.example/addons.git", "HEAD"): ADDONS}
    )
    made = apps(out)
    # git directories: addons/* minus the excluded one and hidden ones.
    assert made["addon-metrics"]["spec"]["source"]["path"] == "addons/metrics"
    assert made["addon-logging"]["spec"]["destination"] == {"namespace": "logging"}
    assert "addon-experimental" not in made
    # git files, Go template: the file's values and the path's segments.
    assert made["tenant-blue"]["spec"]["source"]["path"] == "tenants/blue/manifests"
    assert made["tenant-green"]["spec"]["destination"] == {"namespace": "green"}
    # list: one app per element; the cluster generator is reported, not guessed.
    assert made["web-eu"]["spec"]["destination"] == {"namespace": "web-eu"}
    assert made["web-us"]["spec"]["source"]["path"] == "regions/us"
    regions = findings(out, "ApplicationSet argocd/regions")
    assert regions["spec.generators[1].clusters"][0] is Outcome.UNSUPPORTED
    assert len(made) == 6


def test_an_application_set_whose_repository_was_not_read_reports_it() -> None:
    out = convert(
        "argocd",
        objects("argocd-appset.yaml"),
        "tether-system",
        {("https://git.example/addons.git", "HEAD"): "could not resolve host"},
    )
    notes = findings(out, "ApplicationSet argocd/addons")
    assert notes["spec.generators[0].git"] == (
        Outcome.ERROR,
        "https://git.example/addons.git: could not resolve host",
    )
    assert sorted(apps(out)) == ["web-eu", "web-us"]  # the list generator needs no repo


FLEET = RepoTree(
    frozenset(
        {
            "infrastructure/kustomization.yaml",
            "infrastructure/ns.yaml",
            "apps/production/web/deploy.yaml",  # no kustomization.yaml: Flux reads all
            "charts/podinfo/Chart.yaml",
            "charts/podinfo/values.yaml",
            "values/podinfo-prod.yaml",
        }
    )
)


def test_a_flux_cluster_becomes_apps_with_dependencies_sops_and_helm_values() -> None:
    given = objects("flux-cluster.yaml")
    assert detect_tool(given) == "flux"
    assert trees_wanted("flux", given) == [TreeWanted("https://git.example/fleet.git", "main")]
    out = convert(
        "flux", given, "tether-system", {("https://git.example/fleet.git", "main"): FLEET}
    )
    made = apps(out)
    assert sorted(made) == ["apps", "infrastructure", "podinfo"]
    for app in made.values():
        Application.from_dict(app)
    infra = made["infrastructure"]["spec"]
    assert infra["source"] == {
        "repoURL": "https://git.example/fleet.git",
        "targetRevision": "main",
        "path": "infrastructure",
    }  # a kustomization.yaml: kustomize, detected by tether
    assert infra["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}
    assert infra["interval"] == "10m" and infra["timeout"] == "5m"
    apps_spec = made["apps"]["spec"]
    assert apps_spec["source"]["directory"] == {"recurse": True}  # no kustomization.yaml
    assert apps_spec["source"]["decryption"] == {
        "provider": "sops",
        "secretRef": {"name": "sops-age"},
    }
    assert apps_spec["dependsOn"] == [{"name": "infrastructure"}]
    assert apps_spec["destination"] == {"namespace": "apps"}
    assert apps_spec["syncPolicy"]["automated"]["prune"] is False
    helm = made["podinfo"]["spec"]["source"]
    assert helm["path"] == "charts/podinfo"
    assert helm["helm"] == {
        "releaseName": "podinfo",
        "valueFiles": ["values.yaml", "../../values/podinfo-prod.yaml"],  # chart-relative
        "values": "replicaCount: 2\n",
        "skipCrds": True,
        "valuesFrom": [{"kind": "ConfigMap", "name": "podinfo-values"}],
    }
    assert made["podinfo"]["spec"]["dependsOn"] == [{"name": "infrastructure"}]

    assert apps_spec["postBuild"] == {
        "substitute": {"cluster_env": "production"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "cluster-vars"}],
    }
    vars_note = findings(out, "Kustomization flux-system/apps")["spec.postBuild.substituteFrom"]
    assert vars_note[0] is Outcome.CONVERTED and "post-build-variables" in vars_note[1]
    podinfo = findings(out, "HelmRelease flux-system/podinfo")
    assert podinfo["spec.valuesFrom"][0] is Outcome.CONVERTED  # and the label to set
    assert "tether.dev/helm-values" in podinfo["spec.valuesFrom"][1]
    redis = findings(out, "HelmRelease flux-system/redis")
    assert redis["sourceRef"][0] is Outcome.ERROR and "HelmRepository" in redis["sourceRef"][1]
    repo = findings(out, "GitRepository flux-system/fleet")
    assert repo["spec.secretRef"][0] is Outcome.CONVERTED
    # Three objects read the GitRepository; its finding is said once.
    assert [f.field for f in out.findings if f.source.startswith("GitRepository")] == [
        "spec.secretRef"
    ]


def test_a_flux_path_is_left_to_detection_when_the_repository_was_not_read() -> None:
    """With the tree, a path without kustomization.yaml recurses; without it, it does not
    and the finding says what to set."""
    given = objects("flux-cluster.yaml")
    out = convert("flux", given, "tether-system", {})
    assert "directory" not in apps(out)["apps"]["spec"]["source"]
    note = findings(out, "Kustomization flux-system/apps")["spec.path"]
    assert note[0] is Outcome.UNSUPPORTED and "directory.recurse" in note[1]


def test_two_definitions_of_one_app_name_do_not_both_convert() -> None:
    one = objects("argocd-app-of-apps.yaml")[0]
    out = convert("argocd", [one, one], "tether-system", {})
    assert len(out.applications) == 1
    assert [f.outcome for f in out.findings if f.source == "Application crds"] == [Outcome.ERROR]


def test_detect_only_compares_another_tools_objects_without_a_tracking_id() -> None:
    """A detect-only app compares an object another tool manages without tether's
    tracking id (it would show as drift on every one); every desired object has one."""
    (obj,) = prepare_desired(
        [configmap("web", annotations={"team": "a"})],
        app_namespace="tether-system",
        app_name="web",
        destination_namespace="web",
        scope=lambda _group, _kind: True,
    )
    assert "tether.dev/tracking-id" in obj["metadata"]["annotations"]
    foreign = without_tracking_id(obj)
    assert foreign["metadata"]["annotations"] == {"team": "a"}
    assert "tether.dev/tracking-id" in obj["metadata"]["annotations"]  # a copy was changed


def test_a_shadow_controller_sees_every_app_detect_only() -> None:
    raw = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "tether-system", "resourceVersion": "7"},
        "spec": {"source": {"repoURL": "https://git.example/r.git"}},
    }
    shadow = ParsedApplications(shadow=True).parse(("tether-system", "web"), raw)
    normal = ParsedApplications().parse(("tether-system", "web"), raw)
    assert shadow is not None and shadow.spec.detect_only
    assert normal is not None and not normal.spec.detect_only  # without --shadow: as written
