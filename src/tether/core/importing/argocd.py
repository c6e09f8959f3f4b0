"""Argo CD `Application` (argoproj.io/v1alpha1) -> tether Application.

Field names are mostly Argo CD's already (DESIGN §2); what differs is named in a
Finding. Sync waves on Applications (app-of-apps) become `dependsOn` on every app of
the wave before, which is what the waves order in Argo CD.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from tether.model.application import APP_SYNC_OPTIONS
from tether.model.foreign import ForeignApp
from tether.model.names import IMPORTED_FROM_ANNOTATION

from .report import Conversion, Outcome

ARGO_GROUP = "argoproj.io"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
ARGO_FINALIZERS = (
    "resources-finalizer.argocd.argoproj.io",
    "resources-finalizer.argocd.argoproj.io/background",
    "resources-finalizer.argocd.argoproj.io/foreground",
)
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
TETHER_WAVE_ANNOTATION = "tether.dev/sync-wave"
# Argo CD's own bookkeeping on an Application: meaningless to tether.
ARGO_ANNOTATIONS = (
    "argocd.argoproj.io/refresh",
    "kubectl.kubernetes.io/last-applied-configuration",
)

_SAME_HELM = (
    "releaseName", "valueFiles", "parameters", "kubeVersion", "apiVersions", "skipCrds",
    "skipTests", "namespace",
)  # fmt: skip
ARGO_NAMESPACE = "argocd"  # where an Application that names no namespace lives
_SAME_KUSTOMIZE = ("namePrefix", "nameSuffix", "images", "commonLabels", "commonAnnotations")
_SAME_DIRECTORY = ("recurse", "include", "exclude", "jsonnet")
_SAME_SPEC = ("ignoreDifferences", "revisionHistoryLimit")


def describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{obj.get('kind', 'object')} {where}{meta.get('name', '?')}"


def convert_application(obj: Mapping[str, Any], app_namespace: str, out: Conversion) -> None:
    """One Argo CD Application; the result (if any) is appended to `out.applications`."""
    src = describe(obj)
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if not isinstance(spec, Mapping) or not meta.get("name"):
        out.note(src, "", Outcome.ERROR, "an Application needs metadata.name and spec")
        return
    metadata: dict[str, Any] = {"name": meta["name"], "namespace": app_namespace}
    if meta.get("namespace") and meta["namespace"] != app_namespace:
        out.note(
            src,
            "metadata.namespace",
            Outcome.CONVERTED,
            f"{meta['namespace']} is Argo CD's namespace; the app lives in {app_namespace}",
        )
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    annotations = _annotations(src, meta.get("annotations") or {}, out)
    origin = ForeignApp(
        "argocd", "Application", meta.get("namespace") or ARGO_NAMESPACE, meta["name"]
    )
    metadata["annotations"] = {**annotations, IMPORTED_FROM_ANNOTATION: str(origin)}
    for finalizer in meta.get("finalizers") or []:
        out.note(
            src,
            "metadata.finalizers",
            Outcome.DROPPED if finalizer in ARGO_FINALIZERS else Outcome.UNSUPPORTED,
            f"{finalizer}: tether deletes an app's objects with `tether app delete --cascade`"
            if finalizer in ARGO_FINALIZERS
            else f"{finalizer}: not Argo CD's own; left out",
        )
    new_spec: dict[str, Any] = {}
    source = _source(src, spec, out)
    if source is None:
        return
    new_spec["source"] = source
    destination = _destination(src, spec.get("destination") or {}, out)
    if destination:
        new_spec["destination"] = destination
    project = spec.get("project")
    if project and project != "default":
        new_spec["project"] = project
        out.note(
            src,
            "spec.project",
            Outcome.CONVERTED,
            f"{project}: needs a tether Project of that name (an AppProject is not read)",
        )
    policy = _sync_policy(src, spec.get("syncPolicy") or {}, out)
    if policy:
        new_spec["syncPolicy"] = policy
    for key in _SAME_SPEC:
        if spec.get(key) is not None:
            new_spec[key] = copy.deepcopy(spec[key])
    for key in sorted(set(spec) - {"source", "sources", "destination", "project", "syncPolicy"}):
        if key in _SAME_SPEC:
            continue
        reason = {
            "info": "informational links for Argo CD's UI",
            "sourceHydrator": "source hydration is Argo CD's own",
        }.get(key, "no tether equivalent")
        out.note(src, f"spec.{key}", Outcome.UNSUPPORTED, reason)
    out.applications.append(
        {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": new_spec,
        }
    )


def _annotations(src: str, given: Mapping[str, Any], out: Conversion) -> dict[str, str]:
    kept: dict[str, str] = {}
    for key, value in given.items():
        if key == WAVE_ANNOTATION:
            kept[TETHER_WAVE_ANNOTATION] = str(value)
            out.note(
                src,
                f"metadata.annotations[{key}]",
                Outcome.CONVERTED,
                "sync wave: kept as tether.dev/sync-wave and turned into dependsOn on the"
                " apps of the wave before",
            )
        elif key in ARGO_ANNOTATIONS or key.startswith("notifications.argoproj.io/"):
            out.note(
                src,
                f"metadata.annotations[{key}]",
                Outcome.DROPPED if key in ARGO_ANNOTATIONS else Outcome.UNSUPPORTED,
                "Argo CD's own bookkeeping"
                if key in ARGO_ANNOTATIONS
                else "Argo CD notification subscriptions: use a tether Alert",
            )
        else:
            kept[key] = str(value)
    return kept


def _source(src: str, spec: Mapping[str, Any], out: Conversion) -> dict[str, Any] | None:
    source = spec.get("source")
    sources = spec.get("sources")
    if source is None and isinstance(sources, list) and len(sources) == 1:
        source = sources[0]
    elif source is None and sources:
        out.note(src, "spec.sources", Outcome.ERROR, "multiple sources: tether reads one")
        return None
    if not isinstance(source, Mapping) or not source.get("repoURL"):
        out.note(src, "spec.source", Outcome.ERROR, "needs spec.source with a repoURL")
        return None
    if source.get("chart"):
        out.note(
            src,
            "spec.source.chart",
            Outcome.ERROR,
            f"chart {source['chart']} from a Helm repository: tether renders charts from Git"
            " (vendor the chart into the repository)",
        )
        return None
    if source.get("plugin") is not None:
        out.note(
            src,
            "spec.source.plugin",
            Outcome.ERROR,
            "config management plugins run arbitrary commands: tether never runs them",
        )
        return None
    new: dict[str, Any] = {"repoURL": source["repoURL"]}
    if source.get("targetRevision"):
        new["targetRevision"] = str(source["targetRevision"])
    if source.get("path"):
        new["path"] = str(source["path"])
    for key, same in (
        ("helm", _SAME_HELM),
        ("kustomize", _SAME_KUSTOMIZE),
        ("directory", _SAME_DIRECTORY),
    ):
        given = source.get(key)
        if not isinstance(given, Mapping):
            continue
        part = {k: copy.deepcopy(v) for k, v in given.items() if k in same}
        if key == "helm":
            _helm_values(src, given, part, out)
        for other in sorted(set(given) - set(same) - {"values", "valuesObject"}):
            out.note(src, f"spec.source.{key}.{other}", Outcome.UNSUPPORTED, _why(key, other))
        new[key] = part
    for other in sorted(set(source) - {"repoURL", "targetRevision", "path"}):
        if other not in ("helm", "kustomize", "directory"):
            out.note(src, f"spec.source.{other}", Outcome.UNSUPPORTED, "no tether equivalent")
    return new


def _helm_values(src: str, given: Mapping[str, Any], part: dict[str, Any], out: Conversion) -> None:
    values = given.get("valuesObject")
    if values is not None:
        part["values"] = yaml.safe_dump(values, sort_keys=False)
        out.note(src, "spec.source.helm.valuesObject", Outcome.CONVERTED, "as helm.values YAML")
    elif given.get("values") is not None:
        raw = given["values"]
        part["values"] = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False)


def _why(kind: str, key: str) -> str:
    reasons = {
        ("helm", "fileParameters"): "helm --set-file reads files: put the value in a values file",
        ("helm", "ignoreMissingValueFiles"): "tether reports a missing values file as an error",
        ("helm", "passCredentials"): "charts come from Git: no chart repository credentials",
        ("helm", "version"): "tether runs Helm 3 always",
        ("kustomize", "version"): "tether runs its one kustomize",
        ("kustomize", "patches"): "put the patches in the kustomization.yaml",
        ("kustomize", "replicas"): "put replicas in the kustomization.yaml",
        ("kustomize", "namespace"): "use destination.namespace or the kustomization.yaml",
        ("kustomize", "components"): "name the components in the kustomization.yaml",
    }
    return reasons.get((kind, key), "no tether equivalent")


def _destination(src: str, given: Mapping[str, Any], out: Conversion) -> dict[str, Any]:
    new: dict[str, Any] = {}
    if given.get("namespace"):
        new["namespace"] = given["namespace"]
    server, name = given.get("server"), given.get("name")
    if server and server != IN_CLUSTER_SERVER:
        new["server"] = server
        out.note(src, "spec.destination.server", Outcome.CONVERTED, _cluster_note(server))
    if name and name != IN_CLUSTER_NAME:
        new["name"] = name
        out.note(src, "spec.destination.name", Outcome.CONVERTED, _cluster_note(name))
    return new


def _cluster_note(which: str) -> str:
    return (
        f"{which}: kept; tether finds the cluster among Secrets labelled"
        " tether.dev/secret-type=cluster or Argo CD's argocd.argoproj.io/secret-type=cluster"
    )


def _sync_policy(src: str, given: Mapping[str, Any], out: Conversion) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    automated = given.get("automated")
    if isinstance(automated, Mapping) and automated.get("enabled", True) is not False:
        policy["automated"] = {
            k: bool(automated[k]) for k in ("prune", "selfHeal", "allowEmpty") if k in automated
        }
    elif automated is not None and not isinstance(automated, Mapping):
        policy["automated"] = {}
    options = []
    for option in given.get("syncOptions") or []:
        name = str(option).split("=", 1)[0].strip()
        if name in APP_SYNC_OPTIONS:
            options.append(str(option))
        else:
            out.note(
                src,
                f"spec.syncPolicy.syncOptions[{option}]",
                Outcome.UNSUPPORTED,
                _why_option(name),
            )
    if options:
        policy["syncOptions"] = options
    if isinstance(given.get("retry"), Mapping):
        policy["retry"] = copy.deepcopy(dict(given["retry"]))
    for other in sorted(set(given) - {"automated", "syncOptions", "retry"}):
        out.note(src, f"spec.syncPolicy.{other}", Outcome.UNSUPPORTED, "no tether equivalent")
    return policy


def _why_option(name: str) -> str:
    return {
        "Validate": "tether always validates with a server-side dry-run",
        "ApplyOutOfSyncOnly": "tether applies only what differs already",
        "PrunePropagationPolicy": "tether prunes with foreground propagation",
        "FailOnSharedResource": "tether never takes over an object another app tracks",
    }.get(name, "no tether equivalent")
