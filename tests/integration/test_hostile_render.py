"""Hostile sources against the real renderer and the real helm, kustomize and sops.

A repository is input from whoever can push to it. Each test here is an attack seen
from that side: reading outside the repository (paths, symlinks, other commits of the
cache), reaching the network (remote bases, http resources: a loopback trap server must
see no connection) and running code (Helm inflation, KRM functions); unbounded work is
in test_render_limits. Every refusal is one line, exit code 2, naming the file and never
a host path of the cache; nothing outside the render's own workspace is written.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hostile_render import (
    Trap,
    configmap,
    expect_error,
    kustomization,
    make_read_only,
    make_writable,
    serve_trap,
    snapshot,
    write,
)
from tests.support.repos import GitopsRepo
from tether.localcluster import binaries
from tether.process import run_process
from tether.render import (
    RenderLimits,
    RenderRequest,
    RenderTools,
    network_isolation,
    render,
)


@pytest.fixture(scope="module")
def tools() -> RenderTools:
    for name in ("helm", "kustomize", "sops"):
        binaries.binary(name)  # fails with the build hint when they are not built
    return RenderTools.from_dir(binaries.bin_dir())


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where render workspaces go; asserted empty after each test."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    assert list(directory.iterdir()) == []


@pytest.fixture
def host_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The host's HOME and credentials as a controller might have them; none may reach a
    tool, and nothing may be written to HOME."""
    home = tmp_path / "host-home"
    home.mkdir()
    secrets = {
        "HOME": str(home),
        "KUBECONFIG": str(home / "kubeconfig"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "AWS_ACCESS_KEY_ID": "AKIAHOST",
        "AWS_SECRET_ACCESS_KEY": "host-secret",
        "GOOGLE_APPLICATION_CREDENTIALS": str(home / "gcp.json"),
        "AZURE_CLIENT_SECRET": "host-secret",
        "VAULT_TOKEN": "host-secret",
        "GIT_ASKPASS": "/bin/echo",
        "GIT_SSH_COMMAND": "ssh -i /host/key",
        "SSH_AUTH_SOCK": str(home / "agent.sock"),
        "SOPS_AGE_KEY_FILE": str(home / "age.key"),
        "HELM_REPOSITORY_CONFIG": str(home / "repositories.yaml"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    yield home
    assert list(home.iterdir()) == []


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "repo"
    root.mkdir()
    yield root
    make_writable(root)  # so pytest can remove it


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """Files beside the repository, as an attacker would aim at; must stay untouched."""
    bait = tmp_path / "outside"
    write(bait, {"kustomization.yaml": "resources: [x.yaml]\n", "x.yaml": configmap("stolen")})
    before = snapshot(bait)
    yield bait
    assert snapshot(bait) == before


@pytest.fixture
def trap() -> Iterator[Trap]:
    with serve_trap() as server:
        yield server


# ------------------------------------------------------------- kustomize confinement

# Every kustomization field that names a path: (the field as reported, its YAML with E
# standing for the entry, whether E is aimed at a directory).
PATH_FIELDS = [
    ("resources[0]", "resources: [E]", True),
    ("bases[0]", "bases: [E]", True),
    ("components[0]", "components: [E]", True),
    ("crds[0]", "crds: [E]", False),
    ("configurations[0]", "configurations: [E]", False),
    ("generators[0]", "generators: [E]", False),
    ("transformers[0]", "transformers: [E]", True),
    ("validators[0]", "validators: [E]", False),
    ("patches[0].path", "patches: [{path: E}]", False),
    ("patchesStrategicMerge[0]", "patchesStrategicMerge: [E]", False),
    ("patchesJson6902[0].path", "patchesJson6902: [{target: {kind: ConfigMap}, path: E}]", False),
    ("replacements[0].path", "replacements: [{path: E}]", False),
    ("configMapGenerator[0].files[0]", "configMapGenerator: [{name: g, files: [E]}]", False),
    ("configMapGenerator[0].envs[0]", "configMapGenerator: [{name: g, envs: [E]}]", False),
    ("configMapGenerator[0].env", "configMapGenerator: [{name: g, env: E}]", False),
    ("secretGenerator[0].files[0]", "secretGenerator: [{name: s, files: [E]}]", False),
    ("secretGenerator[0].envs[0]", "secretGenerator: [{name: s, envs: [E]}]", False),
    ("secretGenerator[0].env", "secretGenerator: [{name: s, env: E}]", False),
    ("openapi.path", "openapi: {path: E}", False),
    ("helmGlobals.chartHome", "helmGlobals: {chartHome: E}", True),
]


@pytest.mark.parametrize("absolute", [False, True], ids=["dotdot", "absolute"])
@pytest.mark.parametrize(("field", "template", "directory"), PATH_FIELDS, ids=str)
async def test_every_kustomize_path_field_stays_in_the_repository(
    tools: RenderTools,
    tree: Path,
    outside: Path,
    private_tmp: Path,
    field: str,
    template: str,
    directory: bool,
    absolute: bool,
) -> None:
    target = outside if directory else outside / "x.yaml"
    entry = str(target) if absolute else os.path.relpath(target, tree / "app")
    request = kustomization(tree, template.replace("E", json.dumps(entry)) + "\n")
    message = await expect_error(request, tools)
    why = "is an absolute path; paths must be relative" if absolute else "leaves the repository"
    assert message == f"render web: app/kustomization.yaml: {field} entry {entry!r} {why}"


async def test_a_keyed_generator_file_and_a_transitive_base_are_checked(
    tools: RenderTools, tree: Path, outside: Path, private_tmp: Path
) -> None:
    write(
        tree,
        {"base/kustomization.yaml": "configMapGenerator: [{name: g, files: [k=/etc/hostname]}]\n"},
    )
    request = kustomization(tree, "resources: [cm.yaml, ../../base]\n", app="overlays/prod")
    message = await expect_error(request, tools)
    assert message == (
        "render web: base/kustomization.yaml: configMapGenerator[0].files[0] entry "
        "'/etc/hostname' is an absolute path; paths must be relative"
    )


async def test_plugin_configurations_stay_in_the_repository(
    tools: RenderTools, tree: Path, outside: Path, private_tmp: Path
) -> None:
    escape = os.path.relpath(outside / "x.yaml", tree / "app")
    patch = f"apiVersion: builtin\nkind: PatchTransformer\nmetadata: {{name: p}}\npath: {escape}\n"
    write(tree, {"app/patch.yaml": patch})
    request = kustomization(tree, "resources: [cm.yaml]\ntransformers: [patch.yaml]\n")
    message = await expect_error(request, tools)
    assert message == (
        "render web: app/kustomization.yaml: transformers[0] entry 'patch.yaml' "
        f"(PatchTransformer): path entry {escape!r} leaves the repository"
    )
    inline = json.dumps(patch)
    request = kustomization(tree, f"resources: [cm.yaml]\ntransformers: [{inline}]\n")
    message = await expect_error(request, tools)
    assert message.endswith(
        f"transformers[0] (inline) (PatchTransformer): path entry {escape!r} leaves the repository"
    )


async def test_symlinks_leading_out_of_the_repository_are_refused(
    tools: RenderTools, tree: Path, outside: Path, private_tmp: Path
) -> None:
    request = kustomization(tree, "resources: [cm.yaml, base]\npatches: [{path: patch.yaml}]\n")
    (tree / "app/base").symlink_to(outside, target_is_directory=True)
    message = await expect_error(request, tools)
    assert message == (
        "render web: app/kustomization.yaml: resources[1] entry 'base' is a symbolic link "
        "pointing outside the repository"
    )
    (tree / "app/base").unlink()
    (tree / "app/patch.yaml").symlink_to(outside / "x.yaml")
    message = await expect_error(request, tools)
    assert message.endswith(
        "patches[0].path entry 'patch.yaml' is a symbolic link pointing outside the repository"
    )
    (tree / "app/kustomization.yaml").unlink()
    (tree / "app/kustomization.yaml").symlink_to(outside / "kustomization.yaml")
    message = await expect_error(request, tools)
    assert message == (
        "render web: app/kustomization.yaml is a symbolic link pointing outside the repository"
    )


async def test_helm_chart_symlinks_leading_out_are_refused(
    tools: RenderTools, tree: Path, outside: Path, private_tmp: Path
) -> None:
    write(tree, {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    write(
        tree,
        {
            "chart/templates/cm.yaml": (
                'kind: ConfigMap\ndata: {x: {{ .Files.Get "files/passwd" | quote }}}\n'
            )
        },
    )
    (tree / "chart/files").mkdir()
    (tree / "chart/files/passwd").symlink_to(outside / "x.yaml")
    message = await expect_error(RenderRequest(root=tree, app_name="web", path="chart"), tools)
    assert message == (
        "render web: chart/files/passwd is a symbolic link pointing outside the repository"
    )
    # Through a directory linked inside the repository, and past a link cycle.
    (tree / "chart/files/passwd").unlink()
    (tree / "chart/files").rmdir()
    (tree / "shared").mkdir()
    (tree / "shared/passwd").symlink_to(outside / "x.yaml")
    (tree / "shared/loop").symlink_to("../shared", target_is_directory=True)
    (tree / "chart/files").symlink_to("../shared", target_is_directory=True)
    message = await expect_error(RenderRequest(root=tree, app_name="web", path="chart"), tools)
    assert message == (
        "render web: chart/files/passwd is a symbolic link pointing outside the repository"
    )


async def test_a_reference_to_another_commit_of_the_cache_is_refused(
    tools: RenderTools, repo: GitopsRepo, tmp_path: Path, private_tmp: Path
) -> None:
    """Trees of commits checked out side by side under guessable names (trees/<sha>, as
    Argo CD had them before CVE-2023-40026): a build of one commit must not read another
    (a reverted secret, another team's app)."""
    repo.write({"secret-app/kustomization.yaml": "resources: [cm.yaml]\n"})
    repo.write({"secret-app/cm.yaml": configmap("from-another-commit")})
    first = repo.commit("an app, later removed")
    repo.remove("secret-app")
    repo.write({"app/kustomization.yaml": f"resources: [../../{first}/secret-app]\n"})
    second = repo.commit("an overlay aimed at the first commit's tree")
    trees = tmp_path / "cache" / "trees"
    for commit in (first, second):
        archive = await run_process(["git", "-C", str(repo.bare), "archive", commit], timeout=30)
        assert archive.ok, archive.stderr_line()
        (trees / commit).mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(trees / commit, filter="data")
    root = trees / second
    assert (root / "app" / f"../../{first}/secret-app/cm.yaml").resolve().is_file()
    message = await expect_error(RenderRequest(root=root, app_name="web", path="app"), tools)
    assert message == (
        f"render web: app/kustomization.yaml: resources[0] entry '../../{first}/secret-app' "
        "leaves the repository"
    )


async def test_references_that_stay_inside_still_build(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    files = {
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "base/cm.yaml": configmap("base"),
        "overlays/prod/kustomization.yaml": (
            "resources: [../../base]\npatches: [{path: link.yaml}]\n"
        ),
        "overlays/prod/patches/patch.yaml": configmap("base") + "data: {patched: 'yes'}\n",
    }
    write(tree, files)
    (tree / "overlays/prod/link.yaml").symlink_to("patches/patch.yaml")  # inside: fine
    make_read_only(tree)
    objects = await render(RenderRequest(root=tree, app_name="web", path="overlays/prod"), tools)
    assert objects == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "base"},
            "data": {"patched": "yes"},
        }
    ]


# ---------------------------------------------------------------------------- network


def remote_entries(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/cm.yaml",
        f"https://127.0.0.1:{port}/cm.yaml",
        f"HTTP://127.0.0.1:{port}/cm.yaml",
        f"git::http://127.0.0.1:{port}/repo.git//app?ref=main",
        f"ssh://git@127.0.0.1:{port}/repo.git//app",
        "git@127.0.0.1:org/repo.git//app?ref=v1",
        "github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.8.1",
        "https://github.com/org/repo//app?ref=v1",
        "gh:org/repo",
        f"oci://127.0.0.1:{port}/bases/app:v1",
        "file:///etc",
        "repo//app?ref=main",
    ]


async def test_remote_bases_are_refused_before_any_connection(
    tools: RenderTools, tree: Path, trap: Trap, private_tmp: Path
) -> None:
    port = trap.server_address[1]
    for entry in remote_entries(port):
        request = kustomization(tree, f"resources: [cm.yaml, {json.dumps(entry)}]\n")
        message = await expect_error(request, tools)
        assert message == (
            f"render web: app/kustomization.yaml: resources[1] entry {entry!r} is remote; "
            "remote bases are not allowed"
        ), entry
    assert trap.connections == 0


async def test_remote_files_in_other_fields_and_credentials_in_urls(
    tools: RenderTools, tree: Path, trap: Trap, private_tmp: Path
) -> None:
    url = f"http://user:s3cret-token@127.0.0.1:{trap.server_address[1]}/cm.yaml"
    fields = [
        ("patches[0].path", f"patches: [{{path: {json.dumps(url)}}}]"),
        (
            "configMapGenerator[0].files[0]",
            f"configMapGenerator: [{{name: g, files: [{json.dumps('k=' + url)}]}}]",
        ),
        ("crds[0]", f"crds: [{json.dumps(url)}]"),
    ]
    for field, text in fields:
        kustomization(tree, text + "\n")
        for allow in (False, True):  # remote bases allowed or not: files are never remote
            request = RenderRequest(root=tree, app_name="web", path="app", allow_remote_bases=allow)
            message = await expect_error(request, tools)
            shown = url.replace("user:s3cret-token", "***")
            assert message == (
                f"render web: app/kustomization.yaml: {field} entry {shown!r} is remote; "
                "only files of the repository are allowed"
            )
    assert trap.connections == 0


async def test_remote_bases_when_the_request_allows_them(
    tools: RenderTools, tree: Path, trap: Trap, private_tmp: Path
) -> None:
    url = f"http://127.0.0.1:{trap.server_address[1]}/cm.yaml"
    kustomization(tree, f"resources: [cm.yaml, {url}]\n")
    request = RenderRequest(root=tree, app_name="web", path="app", allow_remote_bases=True)
    objects = await render(request, tools)
    assert [obj["metadata"]["name"] for obj in objects] == ["a", "remote"]
    assert trap.connections >= 1


async def test_kustomize_and_helm_render_without_network(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    if not await network_isolation():
        pytest.skip("this machine allows no network namespace")
    write(tree, {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    write(
        tree,
        {
            "chart/templates/cm.yaml": configmap("{{ .Release.Name }}"),
        },
    )
    kustomization(tree, "resources: [cm.yaml]\nnamePrefix: k-\n")
    make_read_only(tree)
    start = time.perf_counter()
    built = await render(RenderRequest(root=tree, app_name="web", path="app"), tools)
    templated = await render(RenderRequest(root=tree, app_name="web", path="chart"), tools)
    assert time.perf_counter() - start < 10
    assert [obj["metadata"]["name"] for obj in built + templated] == ["k-a", "web"]


PROBE = """#!{python} -I
# Stands where a render tool would and reports what it was given.
import json, os, resource, socket, sys
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    reached = "yes"
except OSError as exc:
    reached = type(exc).__name__
for where in (os.environ.get("HOME"), os.environ.get("TMPDIR")):
    if where:
        open(os.path.join(where, "written-by-a-tool"), "w").close()
report = {{
    # LC_CTYPE is Python's own (PEP 538 locale coercion), not the caller's.
    "env": " ".join(sorted(set(os.environ) - {{"LC_CTYPE"}})),
    "interfaces": " ".join(name for _, name in socket.if_nameindex()),
    "reached": reached,
    "data_limit": str(resource.getrlimit(resource.RLIMIT_DATA)[0]),
    "argv": json.dumps(sys.argv[1:]),
}}
probe = {{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "probe"}}}}
print(json.dumps({{**probe, "data": report}}))
"""


async def test_tools_get_a_bare_environment_no_network_and_a_memory_limit(
    tree: Path, tmp_path: Path, trap: Trap, host_home: Path, private_tmp: Path
) -> None:
    probes = tmp_path / "probe-bin"
    probes.mkdir()
    for name in ("kustomize", "helm", "sops"):
        (probes / name).write_text(PROBE.format(python=sys.executable, port=trap.server_address[1]))
        (probes / name).chmod(0o755)
    probe_tools = RenderTools.from_dir(probes)
    kustomization(tree, "resources: [cm.yaml]\n")
    write(tree, {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    write(
        tree,
        {
            "secret/s.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                "sops: {mac: x, age: [{recipient: r}]}\n"
            )
        },
    )
    make_read_only(tree)
    isolated = bool(await network_isolation())
    cases = [
        ("app", None, {"HOME", "PATH", "TMPDIR"}),
        (
            "chart",
            None,
            {"HOME", "PATH", "TMPDIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"},
        ),
        ("secret", "AGE-SECRET-KEY-1TEST", {"HOME", "PATH", "TMPDIR", "SOPS_AGE_KEY"}),
    ]
    for path, key, expected_env in cases:
        request = RenderRequest(root=tree, app_name="web", path=path, sops_age_key=key)
        [report] = await render(request, probe_tools)
        data = report["data"]
        assert set(data["env"].split()) == expected_env, path
        assert data["data_limit"] == str(RenderLimits().tool_memory_bytes)
        if isolated:
            assert data["interfaces"] == "lo"
            assert data["reached"] != "yes"
        argv = json.loads(data["argv"])
        assert not any(
            flag in " ".join(argv)
            for flag in ("--enable-", "--post-renderer", "--network", "--mount")
        )
    assert json.loads(report["data"]["argv"])[0] == "--decrypt"
    if isolated:
        assert trap.connections == 0


# -------------------------------------------------------------------- code execution


async def test_helm_inflation_in_kustomize_is_refused(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    # kustomize #6241: a releaseName read as a helm flag ran a program.
    chart = (
        "helmCharts: [{name: c, repo: 'http://127.0.0.1:1', "
        "releaseName: '--post-renderer=/bin/sh'}]\n"
    )
    message = await expect_error(kustomization(tree, chart), tools)
    assert message == (
        "render web: app/kustomization.yaml: helmCharts: Helm chart inflation in kustomize "
        "is not supported"
    )
    old = "helmChartInflationGenerator: [{chartName: c, chartRepoUrl: 'http://127.0.0.1:1'}]\n"
    message = await expect_error(kustomization(tree, old), tools)
    assert "helmChartInflationGenerator: Helm chart inflation" in message
    write(
        tree,
        {
            "app/helm.yaml": (
                "apiVersion: builtin\nkind: HelmChartInflationGenerator\n"
                "metadata: {name: h}\nchartName: c\n"
            )
        },
    )
    message = await expect_error(kustomization(tree, "generators: [helm.yaml]\n"), tools)
    assert message == (
        "render web: app/kustomization.yaml: generators[0] entry 'helm.yaml': "
        "HelmChartInflationGenerator: Helm chart inflation in kustomize is not supported"
    )


async def test_krm_functions_are_refused(
    tools: RenderTools, tree: Path, tmp_path: Path, private_tmp: Path
) -> None:
    marker = tmp_path / "ran"
    function = f"""
        apiVersion: example.com/v1
        kind: Runner
        metadata:
          name: run
          annotations:
            config.kubernetes.io/function: |
              exec: {{path: /bin/sh, args: ["-c", "touch {marker}"]}}
        """
    write(
        tree, {"app/fn.yaml": function, "fns/kustomization.yaml": "resources: [../app/fn.yaml]\n"}
    )
    message = await expect_error(kustomization(tree, "transformers: [fn.yaml]\n"), tools)
    assert message == (
        "render web: app/kustomization.yaml: transformers[0] entry 'fn.yaml': "
        "KRM functions (exec or container plugins) are not allowed"
    )
    # Through a kustomization directory whose resources are transformer configurations.
    message = await expect_error(kustomization(tree, "transformers: [../fns]\n"), tools)
    assert message.endswith("KRM functions (exec or container plugins) are not allowed")
    assert "fns/kustomization.yaml: resources[0] entry '../app/fn.yaml'" in message
    assert not marker.exists()


async def test_without_network_namespaces_sops_files_naming_key_services_are_refused(
    tools: RenderTools, tree: Path, trap: Trap, monkeypatch: pytest.MonkeyPatch, private_tmp: Path
) -> None:
    """On a machine where no network namespace can be made, sops would try a file's
    Vault or KMS keys over the network; such files are refused before sops runs."""
    import tether.render.tools

    monkeypatch.setitem(tether.render.tools._ISOLATION, "prefix", ())
    vault = f"http://127.0.0.1:{trap.server_address[1]}"
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: ENC[AES256_GCM,data:x]\n"
        f"sops:\n  mac: ENC[x]\n  hc_vault: [{{vault_address: '{vault}', engine_path: sops}}]\n"
        "  age: [{recipient: age1x, enc: x}]\n"
    )
    write(tree, {"app/secret.yaml": secret})
    request = RenderRequest(root=tree, app_name="web", path="app", sops_age_key="AGE-SECRET-KEY-1X")
    message = await expect_error(request, tools)
    assert message == (
        "render web: app/secret.yaml: its SOPS metadata names key services reached over the "
        "network (hc_vault), which tether does not contact"
    )
    assert trap.connections == 0
