"""tether.render against the real helm, kustomize and sops binaries (no cluster needed)."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.age import AgeKeyPair, generate_age_key_pair
from tether.errors import InputError
from tether.localcluster import binaries
from tether.process import run_process
from tether.render import RenderRequest, RenderTools, detect_render_kind, render

PLAINTEXT = "hunter2-do-not-leak"


@pytest.fixture(scope="module")
def tools() -> RenderTools:
    for name in ("helm", "kustomize", "sops"):
        binaries.binary(name)  # fails with the build hint when they are not built
    return RenderTools.from_dir(binaries.bin_dir())


@pytest.fixture(scope="module")
def age_key() -> AgeKeyPair:
    return generate_age_key_pair()


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where render's temporary directories go; asserted empty after each test."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    assert list(directory.iterdir()) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def make_read_only(root: Path) -> None:
    """As the git adapter leaves extracted trees: renders must never write into them."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            Path(dirpath, name).chmod(0o444)
        Path(dirpath).chmod(0o555)


def make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "repo"
    root.mkdir()
    yield root
    make_writable(root)  # so pytest can remove it


def configmap(name: str, **data: str) -> str:
    lines = [f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"]
    if data:
        lines.append("data:\n" + "".join(f"  {k}: {v!r}\n" for k, v in data.items()))
    return "".join(lines)


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


async def expect_error(request: RenderRequest, tools: RenderTools) -> str:
    with pytest.raises(InputError) as caught:
        await render(request, tools)
    return str(caught.value)


# ---------------------------------------------------------------------------- directory

DIRECTORY_APP = {
    "app/b.yaml": configmap("b1") + "---\n---\n# only a comment\n---\n" + configmap("b2"),
    "app/a.json": '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}',
    "app/c.yml": """
        apiVersion: v1
        kind: List
        items:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: c1}}
        - {apiVersion: v1, kind: Secret, metadata: {name: c2}}
        """,
    "app/sub/d.yaml": configmap("d"),
    "app/sub/deeper/e.yaml": configmap("e"),
    "app/README.md": "not a manifest",
    "app/.sops.yaml": "creation_rules: []",
    "app/.github/workflows/ci.yml": "on: push",
}


async def test_directory_reads_top_level_files_in_sorted_order(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, DIRECTORY_APP)
    assert detect_render_kind(repo / "app") == "directory"
    objects = await render(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert names(objects) == ["a", "b1", "b2", "c1", "c2"]
    assert [o["kind"] for o in objects] == [
        "Service",
        "ConfigMap",
        "ConfigMap",
        "ConfigMap",
        "Secret",
    ]


async def test_a_workspace_is_made_only_for_a_render_that_needs_one(
    tools: RenderTools, repo: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain directory runs no tool and changes no file: no workspace to make and
    # remove. A chart runs helm with HOME and TMPDIR in one, removed after the render.
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        path = mkdtemp(*args, **kwargs)
        made.append(Path(path).name)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    write(repo, {**DIRECTORY_APP, **CHART})
    await render(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert made == []
    await render(RenderRequest(root=repo, app_name="web", path="chart"), tools)
    assert [name.startswith("tether-render-") for name in made] == [True]
    # (private_tmp asserts that it was removed)


async def test_directory_recurse_walks_subdirectories_but_not_hidden_ones(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, DIRECTORY_APP)
    request = RenderRequest(root=repo, app_name="web", path="app", recurse=True)
    assert names(await render(request, tools)) == ["a", "b1", "b2", "c1", "c2", "d", "e"]


async def test_directory_include_and_exclude_globs(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, DIRECTORY_APP)
    only = RenderRequest(
        root=repo, app_name="web", path="app", recurse=True, include="{*.json,sub/*}"
    )
    assert names(await render(only, tools)) == ["a", "d", "e"]  # `*` spans directories
    without = RenderRequest(
        root=repo, app_name="web", path="app", recurse=True, exclude="{b.yaml,*/deeper/*}"
    )
    assert names(await render(without, tools)) == ["a", "c1", "c2", "d"]


async def test_yaml_is_read_as_kubectl_reads_it(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(
        repo,
        {
            "cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: settings}
                data:
                  when: 2024-01-02
                  at: 10:30
                  eq: =
                  80: http
                  true: yes-key
                  octal: 0755
                  merged:
                    <<: {a: "1"}
                    b: "2"
                """
        },
    )
    [obj] = await render(RenderRequest(root=repo, app_name="web"), tools)
    assert obj["data"] == {
        "when": "2024-01-02",
        "at": "10:30",
        "eq": "=",
        "80": "http",
        "true": "yes-key",
        "octal": 493,
        "merged": {"a": "1", "b": "2"},
    }


async def test_malformed_yaml_names_the_file_and_line(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, {"app/good.yaml": configmap("x"), "app/bad.yaml": configmap("y") + "data: [\n"})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message.startswith("render web: app/bad.yaml: invalid YAML at line 6")


async def test_malformed_json_names_the_file_and_line(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, {"x.json": '{\n  "apiVersion": "v1",\n  "kind": \n}'})
    message = await expect_error(RenderRequest(root=repo, app_name="web"), tools)
    assert message.startswith("render web: x.json: invalid JSON at line 4")


async def test_a_document_that_is_not_an_object_is_an_error(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, {"app/x.yaml": configmap("x") + "---\napiVersion: v1\nmetadata: {name: y}\n"})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message == (
        "render web: app/x.yaml: document 2 is not a Kubernetes object: kind is missing"
    )
    write(repo, {"app/x.yaml": "apiVersion: v1\nkind: List\nitems: [{kind: Pod}]\n"})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert "app/x.yaml: document 1 item 1 is not a Kubernetes object: apiVersion" in message
    write(repo, {"app/x.yaml": "- just\n- a list\n"})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message.endswith("expected a mapping, got a list")


async def test_duplicate_objects_name_both_files(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(
        repo,
        {
            "one.yaml": configmap("same"),
            "two.yaml": configmap("other") + "---\n" + configmap("same"),
        },
    )
    message = await expect_error(RenderRequest(root=repo, app_name="web"), tools)
    assert message == (
        "render web: duplicate object ConfigMap same: in one.yaml (document 1) "
        "and two.yaml (document 2)"
    )


async def test_missing_or_escaping_path(tools: RenderTools, repo: Path, private_tmp: Path) -> None:
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="apps/nope"), tools)
    assert message == "render web: path apps/nope not found in the repository"
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="../.."), tools)
    assert message == "render web: path ../.. is outside the repository"


async def test_symlink_leaving_the_repository_is_refused(
    tools: RenderTools, repo: Path, tmp_path: Path, private_tmp: Path
) -> None:
    (tmp_path / "host.yaml").write_text(configmap("host-file"))
    (repo / "leak.yaml").symlink_to(tmp_path / "host.yaml")
    message = await expect_error(RenderRequest(root=repo, app_name="web"), tools)
    assert "leak.yaml is a symbolic link pointing outside the repository" in message


# ---------------------------------------------------------------------------- kustomize

KUSTOMIZE_APP = {
    "base/kustomization.yaml": """
        resources: [deployment.yaml, service.yaml]
        """,
    "base/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec:
          replicas: 1
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec:
              containers: [{name: api, image: "nginx:1.25"}]
        """,
    "base/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: api}
        spec:
          selector: {app: api}
          ports: [{port: 80}]
        """,
    "overlays/prod/kustomization.yaml": """
        resources: [../../base]
        namePrefix: prod-
        commonLabels: {env: prod}
        patches:
        - path: replicas.yaml
        """,
    "overlays/prod/replicas.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec: {replicas: 3}
        """,
}


async def test_kustomize_overlay_on_a_base(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, KUSTOMIZE_APP)
    make_read_only(repo)
    assert detect_render_kind(repo / "overlays/prod") == "kustomize"
    request = RenderRequest(root=repo, app_name="api", path="overlays/prod")
    objects = await render(request, tools)
    assert sorted(names(objects)) == ["prod-api", "prod-api"]
    [deployment] = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["labels"] == {"env": "prod"}
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "api", "env": "prod"}
    [service] = by_kind(objects, "Service")
    assert service["spec"]["selector"] == {"app": "api", "env": "prod"}


async def test_kustomize_options_are_applied_to_a_copy(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, KUSTOMIZE_APP)
    original = (repo / "overlays/prod/kustomization.yaml").read_text()
    make_read_only(repo)
    request = RenderRequest(
        root=repo,
        app_name="api",
        path="overlays/prod",
        kind="kustomize",
        kustomize_name_prefix="blue-",
        kustomize_images=("nginx=registry.local/nginx:1.27",),
        kustomize_common_labels=(("team", "payments"),),
        kustomize_common_annotations=(("owner", "a:b"),),
    )
    objects = await render(request, tools)
    assert sorted(names(objects)) == ["blue-api", "blue-api"]  # replaces the overlay's prefix
    [deployment] = by_kind(objects, "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.local/nginx:1.27"
    )
    assert deployment["metadata"]["labels"] == {"env": "prod", "team": "payments"}
    assert deployment["metadata"]["annotations"] == {"owner": "a:b"}
    assert (repo / "overlays/prod/kustomization.yaml").read_text() == original


async def test_kustomize_failure_reports_the_tool_message(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, {"app/kustomization.yaml": "resources: [missing.yaml]\n"})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message.startswith("render web: kustomize build app failed: ")
    assert "'app/missing.yaml'" in message  # repository paths, not the cache's
    assert str(repo) not in message
    assert "\n" not in message


# ---------------------------------------------------------------------------- helm

CHART = {
    "chart/Chart.yaml": """
        apiVersion: v2
        name: web
        version: 0.1.0
        """,
    "chart/values.yaml": """
        replicas: 1
        image: {repository: nginx, tag: "1.25"}
        layers: {chart: chart, file: chart, inline: chart, set: chart}
        """,
    "chart/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}
          namespace: {{ .Release.Namespace }}
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: {{ .Release.Name }}}}
          template:
            metadata: {labels: {app: {{ .Release.Name }}}}
            spec:
              containers:
              - name: web
                image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        """,
    "chart/templates/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: {{ .Release.Name }}-layers}
        data:
          {{- toYaml .Values.layers | nindent 2 }}
        """,
    "chart/crds/widgets.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.example.com}
        spec:
          group: example.com
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true
            schema: {openAPIV3Schema: {type: object}}
        """,
    "chart/values-base.yaml": "replicas: 2\nlayers: {file: base, inline: base, set: base}\n",
    "chart/values-prod.yaml": "layers: {file: prod, inline: prod, set: prod}\n",
}


async def test_helm_chart_with_values_in_helm_precedence(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, CHART)
    make_read_only(repo)
    assert detect_render_kind(repo / "chart") == "helm"
    request = RenderRequest(
        root=repo,
        app_name="web",
        path="chart",
        namespace="prod",
        helm_value_files=("values-base.yaml", "values-prod.yaml"),
        helm_values="replicas: 3\nlayers: {inline: inline, set: inline}\n",
        helm_parameters=(("layers.set", "set"), ("image.tag", "1.27")),
    )
    objects = await render(request, tools)
    assert objects[0]["kind"] == "CustomResourceDefinition"  # --include-crds
    [deployment] = by_kind(objects, "Deployment")
    assert deployment["metadata"] == {"name": "web", "namespace": "prod"}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    [layers] = by_kind(objects, "ConfigMap")
    assert layers["metadata"]["name"] == "web-layers"
    assert layers["data"] == {"chart": "chart", "file": "prod", "inline": "inline", "set": "set"}


async def test_helm_release_name_and_duplicate_templates(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, CHART)
    write(repo, {"chart/templates/again.yaml": configmap("{{ .Release.Name }}-layers")})
    request = RenderRequest(root=repo, app_name="web", path="chart", helm_release_name="blue")
    message = await expect_error(request, tools)
    assert message == (
        "render web: duplicate object ConfigMap blue-layers: in web/templates/again.yaml "
        "(document 1) and web/templates/configmap.yaml (document 1)"
    )


async def test_helm_template_error_is_reported(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, CHART)
    write(repo, {"chart/templates/needs.yaml": '{{ required "x is required" .Values.x }}\n'})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="chart"), tools)
    assert message == (
        "render web: helm template chart failed: execution error at "
        "(web/templates/needs.yaml:1:3): x is required"
    )


async def test_helm_dependencies_must_be_vendored(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, CHART)
    deps = "dependencies:\n- {name: redis, version: 1.0.0, repository: https://charts.invalid}\n"
    (repo / "chart/Chart.yaml").write_text((repo / "chart/Chart.yaml").read_text() + deps)
    with pytest.raises(InputError) as caught:
        await render(RenderRequest(root=repo, app_name="web", path="chart"), tools)
    assert "missing in charts/ directory: redis" in str(caught.value)
    assert caught.value.hint is not None and "helm dependency build" in caught.value.hint


async def test_helm_value_files_stay_inside_the_repository(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    write(repo, CHART)
    outside = RenderRequest(
        root=repo, app_name="web", path="chart", helm_value_files=("../../etc.yaml",)
    )
    message = await expect_error(outside, tools)
    assert message == "render web: helm value file ../../etc.yaml is outside the repository"
    missing = RenderRequest(root=repo, app_name="web", path="chart", helm_value_files=("no.yaml",))
    message = await expect_error(missing, tools)
    assert message == "render web: helm value file no.yaml not found in the repository"


async def test_timeout_names_the_tool(tools: RenderTools, repo: Path, private_tmp: Path) -> None:
    write(repo, CHART)
    request = RenderRequest(root=repo, app_name="web", path="chart", timeout=0.001)
    message = await expect_error(request, tools)
    assert message == "render web: helm template chart did not finish within 0.001s"


# ---------------------------------------------------------------------------- SOPS

SECRET = f"""
    apiVersion: v1
    kind: Secret
    metadata: {{name: db}}
    stringData: {{password: {PLAINTEXT}}}
    """


async def sops_encrypt(
    tools: RenderTools, recipient: str, text: str, target: Path, *, only_data: bool = True
) -> None:
    """Encrypt `text` to `target` as a user would, with `sops --encrypt --age`."""
    plain = target.parent / f".plain-{target.name}"
    write(plain.parent, {plain.name: text})
    argv = [str(tools.sops), "--encrypt", "--age", recipient]
    if only_data:
        argv += ["--encrypted-regex", "^(data|stringData)$"]
    result = await run_process(
        [*argv, "--input-type", "yaml", "--output-type", "yaml", str(plain)],
        timeout=30,
        env={"HOME": str(target.parent)},
        inherit_env=False,
    )
    plain.unlink()
    assert result.ok, result.stderr_line()
    target.write_bytes(result.stdout)
    assert PLAINTEXT.encode() not in result.stdout


async def test_sops_files_in_a_directory_are_decrypted(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    write(repo, {"app/config.yaml": configmap("config")})
    await sops_encrypt(tools, age_key.recipient, SECRET, repo / "app/secret.yaml")
    make_read_only(repo)
    request = RenderRequest(root=repo, app_name="web", path="app", sops_age_key=age_key.identity)
    objects = await render(request, tools)
    assert names(objects) == ["config", "db"]
    assert objects[1] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": PLAINTEXT},
    }
    assert age_key.identity not in repr(request)


async def test_sops_file_without_decryption_configured(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    (repo / "app").mkdir()
    await sops_encrypt(tools, age_key.recipient, SECRET, repo / "app/secret.yaml")
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message == (
        "render web: app/secret.yaml is SOPS-encrypted but spec.source.decryption is not set"
    )


async def test_sops_with_a_wrong_key_leaks_nothing(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    (repo / "app").mkdir()
    await sops_encrypt(tools, age_key.recipient, SECRET, repo / "app/secret.yaml")
    wrong = generate_age_key_pair().identity
    request = RenderRequest(root=repo, app_name="web", path="app", sops_age_key=wrong)
    message = await expect_error(request, tools)
    assert message == (
        "render web: app/secret.yaml: cannot decrypt it: "
        "the configured age key is not one of its recipients"
    )
    for secret in (PLAINTEXT, wrong, age_key.identity):
        assert secret not in message
    garbage = RenderRequest(root=repo, app_name="web", path="app", sops_age_key="not-a-key")
    assert (await expect_error(garbage, tools)).endswith("is not a valid age identity")


async def test_sops_tampered_file_is_refused(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    (repo / "app").mkdir()
    path = repo / "app/secret.yaml"
    await sops_encrypt(tools, age_key.recipient, SECRET, path)
    path.write_text(path.read_text().replace("name: db", "name: evil"))
    request = RenderRequest(root=repo, app_name="web", path="app", sops_age_key=age_key.identity)
    message = await expect_error(request, tools)
    assert message.endswith(
        "app/secret.yaml: cannot decrypt it: MAC mismatch: the file was "
        "changed after it was encrypted"
    )


async def test_sops_secret_in_a_kustomize_base(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    write(repo, KUSTOMIZE_APP)
    write(repo, {"base/kustomization.yaml": "resources: [deployment.yaml, secret.yaml]\n"})
    await sops_encrypt(tools, age_key.recipient, SECRET, repo / "base/secret.yaml")
    make_read_only(repo)
    request = RenderRequest(
        root=repo, app_name="api", path="overlays/prod", sops_age_key=age_key.identity
    )
    objects = await render(request, tools)
    [secret] = by_kind(objects, "Secret")
    # Decrypted before kustomize changed the object (a changed object fails the MAC).
    assert secret["metadata"] == {"name": "prod-db", "labels": {"env": "prod"}}
    assert secret["stringData"] == {"password": PLAINTEXT}
    assert "sops" not in secret

    no_key = RenderRequest(root=repo, app_name="api", path="overlays/prod")
    message = await expect_error(no_key, tools)
    assert message == (
        "render api: base/secret.yaml is SOPS-encrypted but spec.source.decryption is not set"
    )


async def test_sops_encrypted_helm_value_file(
    tools: RenderTools, repo: Path, age_key: AgeKeyPair, private_tmp: Path
) -> None:
    write(repo, CHART)
    secret_values = "layers: {file: from-secret-values}\n"
    path = repo / "chart/secrets.yaml"
    await sops_encrypt(tools, age_key.recipient, secret_values, path, only_data=False)
    make_read_only(repo)
    request = RenderRequest(
        root=repo,
        app_name="web",
        path="chart",
        helm_value_files=("secrets.yaml",),
        sops_age_key=age_key.identity,
    )
    [layers] = by_kind(await render(request, tools), "ConfigMap")
    assert layers["data"]["file"] == "from-secret-values"


async def test_rendered_ciphertext_never_passes(
    tools: RenderTools, repo: Path, private_tmp: Path
) -> None:
    # A chart that emits a SOPS document by itself: no file scan can catch this one.
    write(repo, CHART)
    template = configmap("sealed") + 'sops: {mac: {{ "ENC[AES256_GCM,data:x]" | quote }}}\n'
    write(repo, {"chart/templates/sealed.yaml": template})
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="chart"), tools)
    assert message == (
        "render web: ConfigMap sealed from web/templates/sealed.yaml is SOPS-encrypted: "
        "spec.source.decryption is not set"
    )


async def test_a_missing_tool_is_named(repo: Path, private_tmp: Path) -> None:
    write(repo, {"app/kustomization.yaml": "resources: []\n"})
    tools = RenderTools.from_dir(repo / "no-bin")
    message = await expect_error(RenderRequest(root=repo, app_name="web", path="app"), tools)
    assert message == f"render web: {repo}/no-bin/kustomize: program not found"
