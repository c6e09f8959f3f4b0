"""Jsonnet: the `*.jsonnet` files of a directory source, as Argo CD evaluates them.

Each file is evaluated with the app's external variables (`std.extVar`), top-level
arguments and library directories (`-J`, relative to the repository root; the app
directory is searched too). Its value is one object or a list of objects.

The evaluator is tether-jsonnet (tools/controlplane/jsonnet): the go-jsonnet library
with an importer that refuses absolute import paths, imports that leave the repository
(`..`) and symbolic links pointing out of it; no native functions are registered. It
runs like every render tool (tools.py): no network, a bare environment, the render's
deadline, stdout bounded by the manifest limit, RLIMIT_DATA. Values reach it in a
private request file of the render's workspace, never as flags.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from tether.render.context import RenderContext
from tether.render.documents import Document, documents
from tether.render.files import file_size, to_completion, write_private
from tether.render.loading import load_json
from tether.render.request import RenderProblem
from tether.render.tools import error_line

JSONNET_SUFFIX = ".jsonnet"
# go-jsonnet's default; deeper recursion is a runaway program, not a manifest.
MAX_STACK = 500


def library_dir(ctx: RenderContext, lib: str) -> Path:
    path = (ctx.root / lib.lstrip("/")).resolve()
    if not path.is_relative_to(ctx.root):
        raise RenderProblem(f"jsonnet library {lib} is outside the repository")
    if not path.is_dir():
        raise RenderProblem(f"jsonnet library {lib} is not a directory of the repository")
    return path


def _variables(items: Sequence[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value, "code": code} for name, value, code in items]


async def render_jsonnet(ctx: RenderContext, files: Sequence[Path]) -> dict[Path, list[Document]]:
    """The documents of each jsonnet file, evaluated in one run of tether-jsonnet."""
    request = ctx.request
    libs = [library_dir(ctx, lib) for lib in request.jsonnet_libs]
    await asyncio.to_thread(lambda: [file_size(ctx.root, path, ctx.limits) for path in files])
    payload = {
        "root": str(ctx.root),
        "appDir": str(ctx.app_dir),
        "files": [str(path) for path in files],
        "libs": [str(lib) for lib in libs],
        "extVars": _variables(request.jsonnet_ext_vars),
        "tlas": _variables(request.jsonnet_tlas),
        "maxFileBytes": ctx.limits.max_file_bytes,
        "maxStack": MAX_STACK,
    }
    request_file = ctx.workspace / "jsonnet-request.json"
    await to_completion(functools.partial(write_private, request_file, orjson.dumps(payload)))
    result = await ctx.runner.run(
        f"jsonnet {request.path}",
        [str(ctx.tools.jsonnet), str(request_file)],
        max_output=ctx.limits.max_manifest_bytes,
    )
    if not result.ok:
        message = ctx.repo_paths(error_line(result))
        raise RenderProblem(
            f"jsonnet {request.path} failed: {message}",
            hint="imports must name files of the repository by relative path; "
            "spec.source.directory.jsonnet sets extVars, tlas and libs",
        )
    [values] = await asyncio.to_thread(load_json, result.stdout, "jsonnet output", ctx.budget)
    if not isinstance(values, list) or len(values) != len(files):
        raise RenderProblem(f"jsonnet {request.path}: unexpected output of tether-jsonnet")
    found: dict[Path, list[Document]] = {}
    for path, value in zip(files, values, strict=True):
        # Argo CD takes a list of objects or a single object from each file.
        items = value if isinstance(value, list) else [value]
        found[path] = documents(items, ctx.relative(path))
    return found
