"""Bounded rendering against the real renderer and the real helm and kustomize.

Unbounded work from a small input: a 419-byte "billion laughs" (aliases of aliases), a
recursive alias, a 100 MB file, 50,000 documents, a tool that writes or allocates
without end. Each is refused with one line (exit code 2) naming what was too large,
fast: before the later stages (JSON encoding, deep copies, the diff) ever see it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hostile_render import (
    MIB,
    billion_laughs,
    configmap,
    expect_error,
    kustomization,
    make_writable,
    write,
)
from tether.localcluster import binaries
from tether.render import RenderLimits, RenderRequest, RenderTools


@pytest.fixture(scope="module")
def tools() -> RenderTools:
    for name in ("helm", "kustomize"):
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
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "repo"
    root.mkdir()
    yield root
    make_writable(root)


async def test_billion_laughs_is_refused_fast_wherever_it_is(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    bomb = billion_laughs()
    write(tree, {"dir/cm.yaml": bomb, "app/bomb.yaml": bomb})
    write(
        tree,
        {
            "kust/kustomization.yaml": "resources: []\ncommonAnnotations: {}\n"
            + bomb.replace("apiVersion: v1\nkind: ConfigMap\n", "x-")
        },
    )
    cases = [
        (RenderRequest(root=tree, app_name="web", path="dir"), "dir/cm.yaml"),
        (kustomization(tree, "resources: [cm.yaml, bomb.yaml]\n"), "app/bomb.yaml"),
        (RenderRequest(root=tree, app_name="web", path="kust"), "kust/kustomization.yaml"),
    ]
    for request, source in cases:
        start = time.perf_counter()
        message = await expect_error(request, tools)
        elapsed = time.perf_counter() - start
        assert elapsed < 1.0, f"{source}: {elapsed:.2f}s"
        assert message.startswith(f"render web: {source}: YAML aliases expand to "), message
        assert message.endswith("(a 'billion laughs' document?)")


async def test_recursive_alias_is_refused(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    write(
        tree,
        {
            "app/loop.yaml": configmap("loop") + "data: &d {self: *d}\n",
        },
    )
    message = await expect_error(RenderRequest(root=tree, app_name="web", path="app"), tools)
    assert message == (
        "render web: app/loop.yaml: document 1 has a recursive YAML alias "
        "(a node that contains itself)"
    )


async def test_a_100_mb_file_is_refused_unread(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    kustomization(tree, "resources: [cm.yaml, big.yaml]\n")
    with (tree / "app/big.yaml").open("wb") as big:
        big.truncate(100 * MIB)  # sparse: the size is real, the disk stays empty
    for kind in ("directory", "kustomize"):
        start = time.perf_counter()
        request = RenderRequest(root=tree, app_name="web", path="app", kind=kind)  # type: ignore[arg-type]
        message = await expect_error(request, tools)
        assert message == (
            "render web: app/big.yaml is 100 MiB, larger than the limit of 8 MiB per file"
        )
        assert time.perf_counter() - start < 1.0


async def test_the_manifests_of_a_render_are_bounded_in_all(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    for number in range(5):
        with (tree / f"part-{number}.yaml").open("wb") as part:
            part.truncate(7 * MIB)
    message = await expect_error(RenderRequest(root=tree, app_name="web"), tools)
    assert message == (
        "render web: the manifests at the app path are 35 MiB in all, more than the limit "
        "of 32 MiB per render"
    )


async def test_50000_documents_are_refused(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    many = "".join(f"---\n{configmap(f'c{i}')}" for i in range(50_000))
    items = "".join(
        f"- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: i{i}}}}}\n" for i in range(50_000)
    )
    write(
        tree,
        {"docs/many.yaml": many, "list/list.yaml": "apiVersion: v1\nkind: List\nitems:\n" + items},
    )
    start = time.perf_counter()
    message = await expect_error(RenderRequest(root=tree, app_name="web", path="docs"), tools)
    assert message == (
        "render web: more than 10,000 documents to render (the limit of one render), "
        "the last in docs/many.yaml"
    )
    assert time.perf_counter() - start < 5  # it stops at the 10,001st document
    message = await expect_error(RenderRequest(root=tree, app_name="web", path="list"), tools)
    assert message == (
        "render web: more than 10,000 objects to render (the limit of one render), "
        "the last in list/list.yaml"
    )


async def test_tool_output_is_bounded_in_documents_and_bytes(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    names = [f"c{i}" for i in range(5)]
    write(tree, {f"app/{name}.yaml": configmap(name) for name in names})
    write(
        tree, {"app/kustomization.yaml": f"resources: {json.dumps([f'{n}.yaml' for n in names])}\n"}
    )
    limits = RenderLimits(max_objects=3)
    message = await expect_error(
        RenderRequest(root=tree, app_name="web", path="app", limits=limits), tools
    )
    assert message == (
        "render web: more than 3 documents to render (the limit of one render), "
        "the last in kustomize build output"
    )
    write(tree, {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    write(
        tree,
        {
            "chart/templates/cm.yaml": (
                "{{ range until 5000 }}\n---\n" + configmap("c{{ . }}") + "{{ end }}\n"
            )
        },
    )
    limits = RenderLimits(max_manifest_bytes=64 << 10)
    request = RenderRequest(root=tree, app_name="web", path="chart", limits=limits)
    message = await expect_error(request, tools)
    assert (
        message
        == "render web: helm template chart wrote more than 64 KiB (the limit of one render)"
    )


async def test_a_runaway_tool_ends_at_its_memory_limit(
    tools: RenderTools, tree: Path, private_tmp: Path
) -> None:
    write(tree, {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    # Doubles a string 32 times (4 GiB) without printing it.
    grow = '{{- $s := "x" }}{{ range until 32 }}{{ $s = print $s $s }}{{ end }}'
    write(
        tree,
        {
            "chart/templates/cm.yaml": (
                configmap("big") + f"data:\n  {grow}\n  n: '{{{{ len $s }}}}'\n"
            )
        },
    )
    limits = RenderLimits(tool_memory_bytes=256 * MIB)
    start = time.perf_counter()
    request = RenderRequest(root=tree, app_name="web", path="chart", limits=limits)
    message = await expect_error(request, tools)
    assert (
        message
        == "render web: helm template chart ran out of memory (the limit is 256 MiB per tool)"
    )
    assert time.perf_counter() - start < 20
