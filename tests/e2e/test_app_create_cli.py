"""`tether app create` for every kind of source, `--dry-run -o yaml`, and `app set` of
revision, path, sync options and ignore rules: the CLI a newcomer types first."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.cli import assert_one_error_line, tether
from tether.engine.apps import get_app
from tether.kube import KubeClient

REPO = "https://git.example.com/shop/deploy.git"


def test_dry_run_prints_the_application_a_helm_app_would_be() -> None:
    result = tether(
        "", "-n", "shop", "app", "create", "--name", "web", "--repo", REPO,
        "--path", "charts/web", "--helm", "--release-name", "web-prod",
        "--values", "values-prod.yaml", "--set", "image.tag=1.2.3",
        "--sync-option", "CreateNamespace=true", "--project", "payments",
        "--dest-namespace", "shop", "--dry-run", "-o", "yaml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    app = yaml.safe_load(result.stdout)
    assert app["metadata"] == {"name": "web", "namespace": "shop"}
    assert app["spec"]["source"]["helm"] == {
        "releaseName": "web-prod",
        "valueFiles": ["values-prod.yaml"],
        "parameters": [{"name": "image.tag", "value": "1.2.3"}],
    }
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    assert app["spec"]["project"] == "payments"
    kustomize = tether(
        "", "app", "create", "--name", "k", "--repo", REPO, "--path", "overlays/prod",
        "--kustomize", "--dry-run", "-o", "json",
    )  # fmt: skip
    assert '"kustomize": {}' in kustomize.stdout, kustomize.stdout
    recurse = tether(
        "", "app", "create", "--name", "d", "--repo", REPO, "--path", "apps",
        "--directory-recurse", "--dry-run",
    )  # fmt: skip
    assert yaml.safe_load(recurse.stdout)["spec"]["source"]["directory"] == {"recurse": True}


def test_bad_flags_are_one_line_each() -> None:
    base = ["", "app", "create", "--name", "w", "--repo", REPO, "--path", "p"]
    typo = tether(*base, "--sync-option", "CreateNamspace=true", "--dry-run")
    assert_one_error_line(typo, 2, "did you mean CreateNamespace?")
    no_helm = tether(*base, "--set", "a=b", "--dry-run")
    assert_one_error_line(no_helm, 2, "--set need --helm")
    both = tether(*base, "--helm", "--kustomize", "--dry-run")
    assert_one_error_line(both, 2, "--helm and --kustomize exclude each other")
    bad_pair = tether(*base, "--helm", "--set", "novalue", "--dry-run")
    assert_one_error_line(bad_pair, 2, "--set 'novalue' must look like KEY=VALUE")


def test_an_argo_cd_application_file_says_how_to_convert_it(tmp_path: Path) -> None:
    argo = tmp_path / "argo.yaml"
    argo.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: guestbook}\n"
        "spec:\n  source: {repoURL: https://x/y.git, path: guestbook}\n"
        "  destination: {server: https://kubernetes.default.svc, namespace: default}\n"
    )
    result = tether("", "app", "create", "-f", str(argo), "--dry-run")
    line = assert_one_error_line(result, 2, "is an Argo CD Application (argoproj.io/v1alpha1)")
    assert "tether reads tether.dev/v1alpha1 Applications" in line
    assert "apiVersion: tether.dev/v1alpha1" in result.stderr  # the hint: how to convert


async def test_app_set_changes_revision_path_options_and_ignore_rules(
    kubeconfig: str, kube: KubeClient, namespace: str
) -> None:
    ns = ["-n", namespace]
    created = tether(
        kubeconfig, *ns, "app", "create", "--name", "web", "--repo", REPO, "--path", "apps/web",
        "--revision", "main", "--dest-namespace", namespace,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    result = tether(
        kubeconfig, *ns, "app", "set", "web", "--revision", "release-2", "--path", "apps/web2",
        "--sync-option", "CreateNamespace=true", "--sync-option", "PruneLast=true",
        "--ignore-difference", "{group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    app = await get_app(kube, namespace, "web")
    assert (app.spec.source.target_revision, app.spec.source.path) == ("release-2", "apps/web2")
    assert dict(app.spec.sync_policy.sync_options) == {
        "CreateNamespace": "true",
        "PruneLast": "true",
    }
    assert [r.json_pointers for r in app.spec.ignore_differences] == [("/spec/replicas",)]
    removed = tether(
        kubeconfig, *ns, "app", "set", "web", "--remove-sync-option", "PruneLast",
        "--clear-ignore-differences",
    )  # fmt: skip
    assert removed.returncode == 0, removed.stderr
    app = await get_app(kube, namespace, "web")
    assert dict(app.spec.sync_policy.sync_options) == {"CreateNamespace": "true"}
    assert app.spec.ignore_differences == ()
    # A typo changes nothing.
    typo = tether(kubeconfig, *ns, "app", "set", "web", "--sync-option", "Prunelast=true")
    assert_one_error_line(typo, 2, "is not a known sync option")
    assert (await get_app(kube, namespace, "web")).spec == app.spec
