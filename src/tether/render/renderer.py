"""Render an application's source tree into Kubernetes objects (plain dicts).

Sources, as Argo CD and Flux have them: a directory of YAML/JSON manifests and jsonnet
files (tether-jsonnet), a Kustomize overlay (`kustomize build`), a local Helm chart
(`helm template`), and SOPS-encrypted files in any of them (`sops --decrypt` with an
age key).

A repository is untrusted input. Rules every path follows:
- Confinement: nothing outside the repository tree is read. The app path, every file
  tether reads, every path a kustomization names (transitively) and every symbolic
  link of a chart must stay inside it (kustomize_refs, helm).
- No network: remote kustomize references are refused (unless the request allows
  remote bases), and the tools run in a network namespace where the machine allows it
  (tools). No tool flag ever comes from the input.
- The repository tree is shared by concurrent renders and never written to. When a file
  must change (plaintext for ciphertext, `kustomize edit` options) the tree is first
  copied into a private temporary directory (the workspace), removed when the render
  ends. Tools run with a bare environment (HOME and TMPDIR in the workspace, PATH).
- Bounded work (limits): bytes read, documents and objects, YAML alias expansion and
  nesting, tool memory, and one deadline for the whole render.
- Every failure is one InputError line naming the file, never a host path of the cache.
  Secrets travel only through the environment of `sops`; errors name files, not values.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tether.errors import InputError
from tether.render.context import RenderContext
from tether.render.documents import (
    Document,
    check_decrypted,
    check_unique,
    documents,
    is_sops_document,
    rendered_objects,
)
from tether.render.files import MANIFEST_SUFFIXES, load_files, manifest_files
from tether.render.helm import CHART_FILE, render_helm
from tether.render.jsonnet import JSONNET_SUFFIX, render_jsonnet
from tether.render.kustomize import render_kustomize
from tether.render.kustomize_refs import KUSTOMIZATION_FILES
from tether.render.loading import load_manifest
from tether.render.request import RenderKind, RenderProblem, RenderRequest, RenderTools
from tether.render.sops import decrypt_all
from tether.render.substitute import substitute_objects


async def render(request: RenderRequest, tools: RenderTools) -> list[dict[str, Any]]:
    """Render `request` into Kubernetes objects, in source order (deterministic).

    Raises InputError for anything wrong with the source: a missing path, malformed or
    non-object documents, duplicate objects, references leaving the repository or
    reaching the network, anything past a limit, tool failures and timeouts, SOPS
    problems.
    """
    try:
        return await _render(request, tools)
    except RenderProblem as problem:
        message = " ".join(f"render {request.app_name}: {problem.message}".split())
        raise InputError(message, problem.hint) from None


async def _render(request: RenderRequest, tools: RenderTools) -> list[dict[str, Any]]:
    root = request.root.resolve()
    app_dir = _app_dir(root, request.path)
    kind = request.kind or detect_render_kind(app_dir)
    ctx = RenderContext(request, tools, root, app_dir)
    try:
        if kind == "directory":
            found = await render_directory(ctx)
        elif kind == "kustomize":
            found = await render_kustomize(ctx)
        else:
            found = await render_helm(ctx)
    finally:
        await ctx.remove_workspace()
    objects = rendered_objects(found, request.limits.max_objects)
    check_unique(objects)
    check_decrypted(objects, has_key=request.sops_age_key is not None)
    values = [obj.value for obj in objects]
    if request.substitute:
        values = substitute_objects(values, dict(request.substitute), request.limits)
    return values


def detect_render_kind(app_dir: Path) -> RenderKind:
    """kustomization file → kustomize, Chart.yaml → helm, else a plain directory."""
    if any((app_dir / name).is_file() for name in KUSTOMIZATION_FILES):
        return "kustomize"
    if (app_dir / CHART_FILE).is_file():
        return "helm"
    return "directory"


def _app_dir(root: Path, path: str) -> Path:
    # Paths are relative to the repository root; a leading "/" means the same thing.
    relative = path.lstrip("/") or "."
    app_dir = (root / relative).resolve()
    if not app_dir.is_relative_to(root):
        raise RenderProblem(f"path {path} is outside the repository")
    if not app_dir.exists():
        raise RenderProblem(f"path {path} not found in the repository")
    if not app_dir.is_dir():
        raise RenderProblem(f"path {path} is not a directory")
    return app_dir


async def render_directory(ctx: RenderContext) -> list[Document]:
    request = ctx.request
    files = await asyncio.to_thread(
        manifest_files,
        ctx.app_dir,
        recurse=request.recurse,
        include=request.include,
        exclude=request.exclude,
        suffixes=(*MANIFEST_SUFFIXES, JSONNET_SUFFIX),
    )
    programs = [p for p in files if p.name.endswith(JSONNET_SUFFIX)]
    manifests = [p for p in files if not p.name.endswith(JSONNET_SUFFIX)]
    parsed = dict(await asyncio.to_thread(load_files, ctx.root, manifests, ctx.budget))
    encrypted = [p for p, values in parsed.items() if any(map(is_sops_document, values))]
    plaintexts = await decrypt_all(ctx, encrypted)
    evaluated = await render_jsonnet(ctx, programs) if programs else {}
    found: list[Document] = []
    for path in files:  # in the order of the files, whatever renders them
        if path in evaluated:
            found.extend(evaluated[path])
            continue
        values = parsed[path]
        source = ctx.relative(path)
        if path in plaintexts:
            ctx.budget.refund_documents(len(values))
            values = load_manifest(plaintexts[path], source, ctx.budget)
        found.extend(documents(values, source))
    return found
