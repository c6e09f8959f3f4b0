"""`tether import argocd|flux`: Argo CD and Flux definitions read as they are.

`trees_wanted(tool, objects)` says which repositories the conversion needs to look into;
`convert(tool, objects, app_namespace, trees)` turns the objects into tether
Applications and reports, field by field, what could not be carried over and why.
Every Application made is parsed by the model: what comes out is valid.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tether.errors import InputError
from tether.model.application import Application

from . import appset, flux
from .argocd import ARGO_GROUP, TETHER_WAVE_ANNOTATION, convert_application, describe
from .report import Conversion, Finding, Outcome
from .trees import RepoTree, Trees, TreeWanted

Tool = Literal["argocd", "flux"]
TOOLS: tuple[Tool, ...] = ("argocd", "flux")

__all__ = [
    "TOOLS",
    "Conversion",
    "Finding",
    "Outcome",
    "RepoTree",
    "Tool",
    "TreeWanted",
    "Trees",
    "convert",
    "detect_tool",
    "trees_wanted",
]


def _group(obj: Mapping[str, Any]) -> str:
    return str(obj.get("apiVersion", "")).split("/", 1)[0]


def detect_tool(objects: Sequence[Mapping[str, Any]]) -> Tool | None:
    """Which tool's definitions these are (Argo CD first when both appear)."""
    groups = {_group(o) for o in objects}
    if ARGO_GROUP in groups:
        return "argocd"
    if groups & {flux.KUSTOMIZE_GROUP, flux.HELM_GROUP}:
        return "flux"
    return None


def trees_wanted(tool: Tool, objects: Sequence[Mapping[str, Any]]) -> list[TreeWanted]:
    if tool == "flux":
        return flux.trees_wanted(objects)
    return [
        wanted
        for obj in objects
        if obj.get("kind") == "ApplicationSet" and _group(obj) == ARGO_GROUP
        for wanted in appset.trees_wanted(obj)
    ]


def convert(
    tool: Tool, objects: Sequence[Mapping[str, Any]], app_namespace: str, trees: Trees
) -> Conversion:
    out = Conversion()
    if tool == "argocd":
        _convert_argocd(objects, app_namespace, trees, out)
    else:
        _convert_flux(objects, app_namespace, trees, out)
    _waves_to_dependencies(out)
    _validate(out)
    return out


def _convert_argocd(
    objects: Sequence[Mapping[str, Any]], app_namespace: str, trees: Trees, out: Conversion
) -> None:
    for obj in objects:
        kind = obj.get("kind")
        if _group(obj) == ARGO_GROUP and kind == "Application":
            convert_application(obj, app_namespace, out)
        elif _group(obj) == ARGO_GROUP and kind == "ApplicationSet":
            appset.convert_application_set(obj, app_namespace, trees, out)
        elif _group(obj) == ARGO_GROUP and kind == "AppProject":
            out.note(
                describe(obj),
                "",
                Outcome.UNSUPPORTED,
                "write a tether Project (sourceRepos, destinations, resource lists)",
            )
        else:
            out.note(describe(obj), "", Outcome.DROPPED, "not an Argo CD definition")


def _convert_flux(
    objects: Sequence[Mapping[str, Any]], app_namespace: str, trees: Trees, out: Conversion
) -> None:
    repos = flux.git_repositories(objects)
    for obj in objects:
        kind, group = obj.get("kind"), _group(obj)
        if group == flux.KUSTOMIZE_GROUP and kind == "Kustomization":
            flux.convert_kustomization(obj, repos, app_namespace, trees, out)
        elif group == flux.HELM_GROUP and kind == "HelmRelease":
            flux.convert_helm_release(obj, repos, app_namespace, out)
        elif group == flux.SOURCE_GROUP and kind == "GitRepository":
            continue  # read through the objects that use it
        elif group.endswith("fluxcd.io"):
            out.note(describe(obj), "", Outcome.UNSUPPORTED, f"{kind}: not read by tether")
        elif group == "kustomize.config.k8s.io":
            out.note(
                describe(obj),
                "",
                Outcome.DROPPED,
                "a kustomization file: read by the build of its path",
            )
        else:
            out.note(
                describe(obj),
                "",
                Outcome.DROPPED,
                "not a Flux definition (Flux's own components are not installed)",
            )


def _wave(app: dict[str, Any]) -> int | None:
    wave = (app["metadata"].get("annotations") or {}).get(TETHER_WAVE_ANNOTATION)
    try:
        return int(wave) if wave is not None else None
    except ValueError:
        return None


def _waves_to_dependencies(out: Conversion) -> None:
    """Apps in wave N depend on every app of the nearest lower wave, as Argo CD waits
    for one wave before the next."""
    waves: dict[int, list[str]] = {}
    for app in out.applications:
        if (wave := _wave(app)) is not None:
            waves.setdefault(wave, []).append(app["metadata"]["name"])
    order = sorted(waves)
    before = {later: waves[earlier] for earlier, later in itertools.pairwise(order)}
    for app in out.applications:
        previous = before.get(wave) if (wave := _wave(app)) is not None else None
        if previous:
            have = {d["name"] for d in app["spec"].get("dependsOn", [])}
            extra = [{"name": n} for n in sorted(previous) if n not in have]
            app["spec"]["dependsOn"] = [*app["spec"].get("dependsOn", []), *extra]


def _validate(out: Conversion) -> None:
    valid = []
    names: set[str] = set()
    for app in out.applications:
        name = str(app["metadata"].get("name"))
        source = f"Application {name}"
        if name in names:
            out.note(source, "", Outcome.ERROR, "two objects convert to an app of this name")
            continue
        try:
            Application.from_dict(app)
        except InputError as exc:
            out.note(source, "", Outcome.ERROR, f"converted app is not valid: {exc.message}")
            continue
        names.add(name)
        valid.append(app)
    out.applications = valid
