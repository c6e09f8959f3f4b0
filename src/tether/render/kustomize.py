"""Kustomize: `kustomize build` of an overlay, after every path it may read was checked.

The build gets tether's flags only: `--load-restrictor=LoadRestrictionsRootOnly` (files
of a kustomization stay under its directory), and never `--enable-helm`,
`--enable-alpha-plugins`, `--enable-exec`, `--network` or `--mount`. It runs without
network unless the request allowed remote bases and the overlay uses one.
"""

from __future__ import annotations

import asyncio

from tether.render import sops
from tether.render.context import RenderContext
from tether.render.documents import Document, documents
from tether.render.files import encrypted_files
from tether.render.kustomize_refs import KustomizeCheck
from tether.render.loading import load_yaml
from tether.render.request import RenderProblem
from tether.render.tools import error_line

_BUILD_FLAGS = ("--load-restrictor=LoadRestrictionsRootOnly",)


def kustomize_edits(ctx: RenderContext) -> list[list[str]]:
    """`kustomize edit` commands for the request's options (`--` ends the flags, so a
    value starting with "-" stays a value)."""
    request = ctx.request
    edits: list[list[str]] = []
    if request.kustomize_name_prefix is not None:
        edits.append(["set", "nameprefix", "--", request.kustomize_name_prefix])
    if request.kustomize_name_suffix is not None:
        edits.append(["set", "namesuffix", "--", request.kustomize_name_suffix])
    if request.kustomize_images:
        edits.append(["set", "image", "--", *request.kustomize_images])
    for what, pairs in (
        ("label", request.kustomize_common_labels),
        ("annotation", request.kustomize_common_annotations),
    ):
        if pairs:
            edits.append(["add", what, "--force", "--", *(f"{k}:{v}" for k, v in pairs)])
    return edits


async def _edit(ctx: RenderContext, target_dir_in_copy: str) -> None:
    for edit in kustomize_edits(ctx):
        what = f"kustomize edit {edit[0]} {edit[1]}"
        argv = [str(ctx.tools.kustomize), "edit", *edit]
        result = await ctx.runner.run(
            what,
            argv,
            cwd=ctx.tree / target_dir_in_copy,
            max_output=ctx.limits.max_file_bytes,
        )
        if not result.ok:
            raise RenderProblem(f"{what} failed: {ctx.repo_paths(error_line(result))}")


async def render_kustomize(ctx: RenderContext) -> list[Document]:
    request = ctx.request
    check = KustomizeCheck(ctx.root, ctx.limits, allow_remote=request.allow_remote_bases)
    directories = await asyncio.to_thread(check.run, ctx.app_dir)
    encrypted = await asyncio.to_thread(encrypted_files, ctx.root, directories, (), ctx.limits)
    target = ctx.app_dir
    if encrypted or request.has_kustomize_options:
        tree = await sops.private_tree(ctx, encrypted)
        target = ctx.in_tree(tree, ctx.app_dir)
        await _edit(ctx, ctx.relative(ctx.app_dir))
    argv = [str(ctx.tools.kustomize), "build", *_BUILD_FLAGS, "--", str(target)]
    result = await ctx.runner.run(
        f"kustomize build {request.path}",
        argv,
        max_output=ctx.limits.max_manifest_bytes,
        network=check.remote,
    )
    if not result.ok:
        raise RenderProblem(
            f"kustomize build {request.path} failed: {ctx.repo_paths(error_line(result))}"
        )
    source = "kustomize build output"
    values = await asyncio.to_thread(load_yaml, result.stdout, source, ctx.budget)
    return documents(values, source)
