"""Argo CD `ApplicationSet` -> Applications, with the list, git-directory and git-file
generators, then each through the Application converter.

Templates are Argo CD's: fasttemplate `{{path.basename}}` by default, and with
`goTemplate: true` field references such as `{{ .path.basename }}` and
`{{ index .path.segments 1 }}`; Sprig functions are not evaluated (reported).
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Mapping
from typing import Any

import yaml

from .argocd import convert_application, describe
from .report import Conversion, Outcome
from .trees import RepoTree, Trees, TreeWanted, clean_path, matching

Params = dict[str, Any]

_FAST = re.compile(r"\{\{\s*([A-Za-z0-9_.\[\]-]+)\s*\}\}")
_GO_FIELD = re.compile(r"\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}")
_GO_INDEX = re.compile(r"\{\{-?\s*index\s+\.([A-Za-z0-9_.]+)\s+(\d+)\s*-?\}\}")


def trees_wanted(appset: Mapping[str, Any]) -> list[TreeWanted]:
    wanted = []
    for generator in (appset.get("spec") or {}).get("generators") or []:
        git = generator.get("git") if isinstance(generator, Mapping) else None
        if isinstance(git, Mapping) and git.get("repoURL"):
            patterns = tuple(str(f.get("path", "")) for f in git.get("files") or [])
            wanted.append(TreeWanted(git["repoURL"], str(git.get("revision") or "HEAD"), patterns))
    return wanted


def convert_application_set(
    appset: Mapping[str, Any], app_namespace: str, trees: Trees, out: Conversion
) -> None:
    src = describe(appset)
    spec = appset.get("spec") or {}
    template = spec.get("template")
    if not isinstance(template, Mapping):
        out.note(src, "spec.template", Outcome.ERROR, "an ApplicationSet needs a template")
        return
    go = bool(spec.get("goTemplate"))
    for key in sorted(set(spec) - {"generators", "template", "goTemplate", "syncPolicy"}):
        reason = {
            "templatePatch": "template patches are Go templates over YAML: not evaluated",
            "strategy": "progressive syncs: use waves or dependsOn",
            "goTemplateOptions": "Go template options do not apply",
        }.get(key, "no tether equivalent")
        out.note(src, f"spec.{key}", Outcome.UNSUPPORTED, reason)
    if spec.get("syncPolicy"):
        out.note(
            src,
            "spec.syncPolicy",
            Outcome.DROPPED,
            "the ApplicationSet's own policy (whether it deletes apps): imported apps are"
            " plain Applications",
        )
    for index, generator in enumerate(spec.get("generators") or []):
        where = f"spec.generators[{index}]"
        for params in _generate(src, where, generator, go, trees, out):
            rendered = _render(template, params, go, src, out)
            if rendered is None:
                continue
            app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **rendered}
            convert_application(app, app_namespace, out)


def _generate(
    src: str, where: str, generator: Any, go: bool, trees: Trees, out: Conversion
) -> list[Params]:
    if not isinstance(generator, Mapping) or len(generator) != 1:
        out.note(src, where, Outcome.ERROR, "a generator has exactly one kind")
        return []
    ((kind, body),) = generator.items()
    if kind == "list":
        elements = body.get("elements") or []
        if body.get("elementsYaml"):
            out.note(src, f"{where}.list.elementsYaml", Outcome.UNSUPPORTED, "a Go template")
        return [_flatten(e, go) for e in elements if isinstance(e, Mapping)]
    if kind == "git":
        return _git(src, f"{where}.git", body, go, trees, out)
    out.note(
        src,
        f"{where}.{kind}",
        Outcome.UNSUPPORTED,
        "only the list, git-directory and git-file generators are read",
    )
    return []


def _git(
    src: str, where: str, body: Mapping[str, Any], go: bool, trees: Trees, out: Conversion
) -> list[Params]:
    key = (str(body.get("repoURL")), str(body.get("revision") or "HEAD"))
    tree = trees.get(key)
    if not isinstance(tree, RepoTree):
        reason = tree if isinstance(tree, str) else "the repository was not read"
        out.note(src, where, Outcome.ERROR, f"{key[0]}: {reason}")
        return []
    prefix = str(body.get("pathParamPrefix") or "")
    found: list[Params] = []
    directories = body.get("directories") or []
    if directories:
        dirs = tree.directories()
        # Argo CD applies every exclude to every include, whatever their order.
        hits: dict[bool, set[str]] = {True: set(), False: set()}
        for entry in directories:
            hits[bool(entry.get("exclude"))].update(matching(str(entry.get("path", "")), dirs))
        for directory in sorted(hits[False] - hits[True]):
            found.append(_path_params(directory, None, prefix, go))
    for entry in body.get("files") or []:
        for path in matching(str(entry.get("path", "")), tree.paths):
            text = tree.files.get(path)
            if text is None:
                out.note(src, where, Outcome.ERROR, f"{path}: not read")
                continue
            try:
                data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
            except (ValueError, yaml.YAMLError) as exc:
                out.note(src, where, Outcome.ERROR, f"{path}: not JSON or YAML: {exc}")
                continue
            for item in data if isinstance(data, list) else [data]:
                if not isinstance(item, Mapping):
                    continue
                params = _flatten(item, go)
                params.update(_path_params(posixpath.dirname(path) or ".", path, prefix, go))
                found.append(params)
    return found


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9.-]", "-", name.lower())


def _path_params(directory: str, file: str | None, prefix: str, go: bool) -> Params:
    directory = clean_path(directory)
    segments = [] if directory == "." else directory.split("/")
    basename = segments[-1] if segments else "."
    key = f"{prefix}.path" if prefix else "path"
    if go:
        value: dict[str, Any] = {
            "path": directory,
            "basename": basename,
            "basenameNormalized": _normalized(basename),
            "segments": segments,
        }
        if file is not None:
            value["filename"] = posixpath.basename(file)
            value["filenameNormalized"] = _normalized(posixpath.basename(file))
        params: Params = {"path": value} if not prefix else {prefix: {"path": value}}
        return params
    flat: Params = {
        key: directory,
        f"{key}.basename": basename,
        f"{key}.basenameNormalized": _normalized(basename),
    }
    for i, segment in enumerate(segments):
        flat[f"{key}[{i}]"] = segment
    if file is not None:
        flat[f"{key}.filename"] = posixpath.basename(file)
        flat[f"{key}.filenameNormalized"] = _normalized(posixpath.basename(file))
    return flat


def _flatten(data: Mapping[str, Any], go: bool, prefix: str = "") -> Params:
    """Go templates see nested values; fasttemplate sees `a.b` keys of strings."""
    if go:
        return dict(copy.deepcopy(data))
    flat: Params = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, False, f"{name}."))
        else:
            flat[name] = "" if value is None else str(value)
    return flat


class _Unresolved(Exception):
    pass


def _lookup(params: Params, dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise _Unresolved(dotted)
        value = value[part]
    return value


def _render_string(text: str, params: Params, go: bool) -> str:
    if not go:
        return _FAST.sub(
            lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text
        )

    def index(m: re.Match[str]) -> str:
        items = _lookup(params, m.group(1))
        position = int(m.group(2))
        if not isinstance(items, list) or position >= len(items):
            raise _Unresolved(m.group(0))
        return str(items[position])

    rendered = _GO_INDEX.sub(index, text)
    rendered = _GO_FIELD.sub(lambda m: str(_lookup(params, m.group(1))), rendered)
    if "{{" in rendered:
        raise _Unresolved(rendered)
    return rendered


def _render(
    template: Mapping[str, Any], params: Params, go: bool, src: str, out: Conversion
) -> dict[str, Any] | None:
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _render_string(value, params, go)
        if isinstance(value, Mapping):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    try:
        rendered: dict[str, Any] = walk(template)
    except _Unresolved as exc:
        out.note(
            src,
            "spec.template",
            Outcome.ERROR,
            f"cannot evaluate {exc.args[0]!r}: only field references and index are read"
            " (no Sprig functions)",
        )
        return None
    return rendered
