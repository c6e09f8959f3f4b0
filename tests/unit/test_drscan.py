"""What `dr check` reads of a repository: cluster objects only, never chart templates,
kustomize files or values files; a file that does not parse is a finding, not the end."""

from __future__ import annotations

from pathlib import Path

from tether.engine.dr import check_path
from tether.engine.drscan import scan_repository

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {spec: {containers: [{name: web, image: "nginx:1.27"}]}}}
"""
TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
"""
CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.x.dev}
spec: {group: x.dev, names: {kind: Widget, plural: widgets}}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_chart_templates_are_not_read_but_its_crds_are(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
            "charts/app/values.yaml": "replicaCount: 1\nimage: {tag: ''}\n",
            "charts/app/templates/deployment.yaml": TEMPLATE,
            "charts/app/crds/widget.yaml": CRD,
            "apps/web.yaml": DEPLOY,
        },
    )
    scan = check_path(tmp_path)
    assert scan.findings == []
    assert sorted(file for file, _ in scan.objects) == [
        "apps/web.yaml",
        "charts/app/crds/widget.yaml",
    ]
    assert scan.charts == ["charts/app"]
    assert "1 Helm chart(s)" in scan.notes()[0]
    # Without Chart.yaml the same template is a file that does not parse: a finding.
    (tmp_path / "charts/app/Chart.yaml").unlink()
    findings = check_path(tmp_path).findings
    assert [(f.file, f.hazard) for f in findings] == [
        ("charts/app/templates/deployment.yaml", "malformed-yaml")
    ]


def test_malformed_file_is_a_finding_and_the_scan_goes_on(tmp_path: Path) -> None:
    write(
        tmp_path, {"a/broken.yaml": "key: [unclosed\n", "b/web.yaml": DEPLOY.replace(":1.27", "")}
    )
    hazards = [(f.file, f.hazard) for f in check_path(tmp_path).findings]
    assert hazards == [("a/broken.yaml", "malformed-yaml"), ("b/web.yaml", "unpinned-image")]


def test_kustomization_its_patches_and_values_files_are_not_objects(tmp_path: Path) -> None:
    patch = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n"
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [web.yaml]\n",
            "base/web.yaml": DEPLOY,
            "prod/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "resources: [../base]\npatches: [{path: patches/replicas.yaml}]\n"
                "patchesStrategicMerge: [more.yaml]\n"
            ),
            "prod/patches/replicas.yaml": patch,
            "prod/more.yaml": patch,
            "components/x/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            ),
            "values/prod-values.yaml": "image: {repository: nginx, tag: latest}\nkind: web\n",
        },
    )
    scan = scan_repository(tmp_path)
    assert [file for file, _ in scan.objects] == ["base/web.yaml"]
    assert "prod/patches/replicas.yaml" in scan.skipped and "prod/more.yaml" in scan.skipped
    # Without the kustomization naming it, the same patch file is an object of its own.
    (tmp_path / "prod/kustomization.yaml").write_text("resources: [../base]\n")
    assert "prod/patches/replicas.yaml" in [f for f, _ in scan_repository(tmp_path).objects]


def test_a_generate_name_object_is_named_by_its_prefix(tmp_path: Path) -> None:
    job = (
        "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n"
        "spec: {template: {spec: {containers: [{name: m, image: busybox}]}}}\n"
    )
    write(tmp_path, {"jobs/migrate.yaml": job})
    [finding] = check_path(tmp_path).findings
    assert "Job migrate-* container m uses busybox" in finding.message
    assert "None" not in finding.message


def test_a_symlink_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(DEPLOY.replace(":1.27", ""))
    write(tmp_path / "repo", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"})
    (tmp_path / "repo/link.yaml").symlink_to(outside)
    scan = check_path(tmp_path / "repo")
    assert [file for file, _ in scan.objects] == ["cm.yaml"] and scan.findings == []
    # A link to a file inside the repository is read.
    (tmp_path / "repo/real").mkdir()
    (tmp_path / "repo/real/web.yaml").write_text(outside.read_text())
    (tmp_path / "repo/inside.yaml").symlink_to(tmp_path / "repo/real/web.yaml")
    files = [file for file, _ in check_path(tmp_path / "repo").objects]
    assert files == ["cm.yaml", "inside.yaml", "real/web.yaml"]
