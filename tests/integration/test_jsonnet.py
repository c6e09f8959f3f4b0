"""Jsonnet directory sources (Argo CD's `directory.jsonnet`): rendered by tether-jsonnet
with extVars, tlas and libs, confined to the repository; and a jsonnet app synced on the
real control plane (Synced+Healthy, stays so after a hard refresh, a `kubectl edit` is
drift)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.support.apps import application
from tests.support.repos import GitopsRepo
from tests.support.waiting import eventually
from tether.engine.apps import create_app, get_app
from tether.engine.compare import Engine, compare
from tether.engine.sync import SyncRequest, sync_app
from tether.errors import InputError
from tether.kube import KubeClient
from tether.localcluster import binaries
from tether.render import RenderRequest, RenderTools, render

Kubectl = Callable[..., CompletedProcess[str]]

LIBRARY = """\
{
  configmap(name, data): {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name },
    data: data,
  },
}
"""
# One object from one file, a list of objects from another, a YAML file beside them.
APP = {
    "lib/k.libsonnet": LIBRARY,
    "app/settings.libsonnet": "{ greeting: 'hello' }\n",
    "app/a-single.jsonnet": """\
local k = import 'k.libsonnet';
local settings = import 'settings.libsonnet';
k.configmap('single', { env: std.extVar('env'), greeting: settings.greeting })
""",
    "app/b-list.jsonnet": """\
local k = import 'k.libsonnet';
function(replicas, tier='web') [
  local cpu = std.toString(std.extVar('limits').cpu);
  k.configmap('list-' + i, { index: std.toString(i), tier: tier, limits: cpu })
  for i in std.range(1, replicas)
]
""",
    "app/c-plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n",
}
EXT_VARS = (("env", "prod", False), ("limits", "{cpu: 2}", True))
TLAS = (("replicas", "2", True),)


@pytest.fixture(scope="module")
def tools() -> RenderTools:
    binaries.binary("tether-jsonnet")  # fails with the build hint when it is not built
    return RenderTools.from_dir(binaries.bin_dir())


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def request(root: Path, **fields: object) -> RenderRequest:
    return RenderRequest(root=root, app_name="web", path="app", **fields)  # type: ignore[arg-type]


async def expect_error(req: RenderRequest, tools: RenderTools) -> str:
    with pytest.raises(InputError) as caught:
        await render(req, tools)
    return str(caught.value)


async def test_jsonnet_files_render_with_ext_vars_tlas_and_libs(
    tmp_path: Path, tools: RenderTools
) -> None:
    root = write(tmp_path, APP)
    objects = await render(
        request(root, jsonnet_ext_vars=EXT_VARS, jsonnet_tlas=TLAS, jsonnet_libs=("lib",)), tools
    )
    assert [(o["metadata"]["name"], o.get("data")) for o in objects] == [
        ("single", {"env": "prod", "greeting": "hello"}),
        ("list-1", {"index": "1", "tier": "web", "limits": "2"}),
        ("list-2", {"index": "2", "tier": "web", "limits": "2"}),
        ("plain", None),
    ]


async def test_jsonnet_errors_are_one_line_naming_the_file(
    tmp_path: Path, tools: RenderTools
) -> None:
    root = write(tmp_path, APP)
    missing_var = await expect_error(request(root, jsonnet_libs=("lib",)), tools)
    assert missing_var.startswith("render web: jsonnet app failed: app/a-single.jsonnet:")
    assert "Undefined external variable: env" in missing_var
    assert "\n" not in missing_var and str(tmp_path) not in missing_var
    no_lib = await expect_error(request(root, jsonnet_ext_vars=EXT_VARS, jsonnet_tlas=TLAS), tools)
    assert 'couldn\'t open import "k.libsonnet"' in no_lib
    outside = await expect_error(request(root, jsonnet_libs=("../elsewhere",)), tools)
    assert outside == "render web: jsonnet library ../elsewhere is outside the repository"


@pytest.mark.parametrize(
    ("program", "reason"),
    [
        ("importstr '/etc/hostname'", "absolute import paths are not allowed"),
        ("importstr '../../../../../../../../etc/hostname'", "leads outside the repository"),
        ("import 'outside.libsonnet'", "is a symbolic link pointing outside the repository"),
        ("importbin 'hostname'", "is a symbolic link pointing outside the repository"),
    ],
)
async def test_jsonnet_imports_stay_inside_the_repository(
    tmp_path: Path, tools: RenderTools, program: str, reason: str
) -> None:
    root = tmp_path / "repo"
    write(root, {"app/main.jsonnet": program + "\n"})
    secret = tmp_path / "outside.libsonnet"
    secret.write_text("{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'stolen' } }\n")
    os.symlink(secret, root / "app" / "outside.libsonnet")
    os.symlink("/etc/hostname", root / "app" / "hostname")
    message = await expect_error(request(root), tools)
    assert message.startswith("render web: jsonnet app failed: app/main.jsonnet:"), message
    assert reason in message, message


async def test_jsonnet_output_must_be_objects(tmp_path: Path, tools: RenderTools) -> None:
    root = write(tmp_path, {"app/main.jsonnet": "['not an object']\n"})
    message = await expect_error(request(root), tools)
    assert "app/main.jsonnet: document 1 is not a Kubernetes object" in message


async def test_without_the_evaluator_a_jsonnet_app_is_refused_not_empty(
    tmp_path: Path, tools: RenderTools
) -> None:
    root = write(tmp_path, APP)
    missing = RenderTools(
        helm=tools.helm, kustomize=tools.kustomize, sops=tools.sops, jsonnet=tmp_path / "nope"
    )
    message = await expect_error(request(root), missing)
    assert "nope: program not found" in message


async def test_jsonnet_app_syncs_and_drift_is_found(
    engine: Engine, kube: KubeClient, namespace: str, repo: GitopsRepo, kubectl: Kubectl
) -> None:
    repo.write(APP)
    repo.commit("a jsonnet app")
    jsonnet = {
        "extVars": [
            {"name": "env", "value": "prod"},
            {"name": "limits", "value": "{cpu: 2}", "code": True},
        ],
        "tlas": [{"name": "replicas", "value": "2", "code": True}],
        "libs": ["lib"],
    }
    app = application(
        "jsonnet", namespace, repo.url, "app", source={"directory": {"jsonnet": jsonnet}}
    )
    await create_app(kube, app)
    result = await sync_app(engine, app, SyncRequest(timeout=60))
    assert result.succeeded, result.message
    assert sorted(k.name for k in result.applied) == ["list-1", "list-2", "plain", "single"]
    stored = await get_app(kube, namespace, "jsonnet")
    assert stored.status is not None
    assert stored.status.sync.status.value == "Synced", stored.status.resources
    assert stored.status.health.status.value == "Healthy"
    fresh = await compare(engine, stored, hard_refresh=True)
    assert fresh.error is None and fresh.diff is not None and fresh.diff.in_sync

    kubectl(
        "edit",
        "configmap",
        "single",
        "-n",
        namespace,
        env={"KUBE_EDITOR": "sed -i -e 's/^  env: prod$/  env: staging/'"},
    )

    async def drifted() -> list[tuple[str, list[str]]] | None:
        found = await compare(engine, app, fetch=False)
        assert found.diff is not None
        return [(str(d.key), d.paths) for d in found.diff.out_of_sync] or None

    found = await eventually(drifted, timeout=10, what="the drift")
    assert found == [(f"ConfigMap {namespace}/single", ["/data/env"])]
