"""Flux `GitRepository` + `Kustomization` (+ `HelmRelease` whose chart is in a
GitRepository) -> tether Applications.

A Kustomization or HelmRelease becomes one Application of the same name; its sourceRef
is looked up among the GitRepositories of the same input. Flux always corrects drift
at each interval, so every app is automated with selfHeal; `prune` carries over.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tether.model.foreign import ForeignApp
from tether.model.names import IMPORTED_FROM_ANNOTATION

from .argocd import describe
from .report import Conversion, Outcome
from .trees import RepoTree, Trees, TreeWanted, clean_path

SOURCE_GROUP = "source.toolkit.fluxcd.io"
KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
HELM_GROUP = "helm.toolkit.fluxcd.io"

_KUSTOMIZATION_HANDLED = {
    "sourceRef", "path", "interval", "timeout", "prune", "suspend", "dependsOn",
    "targetNamespace", "serviceAccountName", "decryption", "kubeConfig", "images",
    "namePrefix", "nameSuffix", "commonMetadata", "retryInterval", "wait", "force",
    "postBuild",
}  # fmt: skip
_KUSTOMIZATION_WHY = {
    "patches": "put the patches in a kustomization.yaml of the path",
    "components": "name the components in a kustomization.yaml of the path",
    "healthChecks": "tether waits for every object of the app already",
    "healthCheckExprs": "write a tether spec.healthChecks CEL rule for the kind",
    "deletionPolicy": "tether prunes on `app delete --cascade` only",
}
_HELM_HANDLED = {
    "chart", "interval", "timeout", "suspend", "dependsOn", "targetNamespace",
    "serviceAccountName", "kubeConfig", "values", "releaseName", "install", "upgrade",
}  # fmt: skip


FLUX_NAMESPACE = "flux-system"  # where a Flux object that names no namespace lives


def _ref(obj: Mapping[str, Any], default_ns: str = FLUX_NAMESPACE) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or default_ns), str(meta.get("name"))


def git_repositories(
    objects: Sequence[Mapping[str, Any]],
) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {
        _ref(o): o
        for o in objects
        if o.get("kind") == "GitRepository"
        and str(o.get("apiVersion", "")).startswith(SOURCE_GROUP)
    }


def _revision(repo: Mapping[str, Any], src: str, out: Conversion) -> str:
    ref = (repo.get("spec") or {}).get("ref") or {}
    for key in ("commit", "tag", "name", "branch"):
        if ref.get(key):
            return str(ref[key]).removeprefix("refs/heads/") if key == "name" else str(ref[key])
    if ref.get("semver"):
        out.note(src, "spec.ref.semver", Outcome.UNSUPPORTED, "a semver range of tags: pin a tag")
    return "HEAD"


def _source_of(
    obj: Mapping[str, Any], ref: Mapping[str, Any] | None, repos: Mapping[tuple[str, str], Any],
    src: str, out: Conversion,
) -> tuple[str, str] | None:  # fmt: skip
    if not isinstance(ref, Mapping) or ref.get("kind") != "GitRepository":
        kind = ref.get("kind") if isinstance(ref, Mapping) else None
        out.note(
            src, "sourceRef", Outcome.ERROR,
            f"source kind {kind}: tether reads Git repositories only (GitRepository)",
        )  # fmt: skip
        return None
    own_ns, _ = _ref(obj)
    key = (str(ref.get("namespace") or own_ns), str(ref.get("name")))
    repo = repos.get(key)
    if repo is None:
        out.note(
            src, "sourceRef", Outcome.ERROR, f"GitRepository {key[0]}/{key[1]} not in the input"
        )
        return None
    repo_src = describe(repo)
    spec = repo.get("spec") or {}
    for other in sorted(set(spec) - {"url", "ref", "interval", "secretRef", "timeout"}):
        out.note(repo_src, f"spec.{other}", Outcome.UNSUPPORTED, "no tether equivalent")
    if spec.get("secretRef"):
        out.note(
            repo_src, "spec.secretRef", Outcome.CONVERTED,
            "credentials: a repository Secret labelled tether.dev/secret-type=repository"
            " (or Argo CD's label) in the app namespace",
        )  # fmt: skip
    return str(spec.get("url")), _revision(repo, repo_src, out)


def trees_wanted(objects: Sequence[Mapping[str, Any]]) -> list[TreeWanted]:
    """Every GitRepository a Kustomization reads from (is there a kustomization.yaml?)."""
    repos = git_repositories(objects)
    silent = Conversion()
    wanted = []
    for repo in repos.values():
        wanted.append(
            TreeWanted(str((repo.get("spec") or {}).get("url")), _revision(repo, "", silent))
        )
    return wanted


def _common(
    obj: Mapping[str, Any], spec: Mapping[str, Any], app_namespace: str, src: str, out: Conversion
) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = obj.get("metadata") or {}
    metadata: dict[str, Any] = {"name": meta.get("name"), "namespace": app_namespace}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    own_ns, own_name = _ref(obj)
    origin = ForeignApp("flux", str(obj.get("kind")), own_ns, own_name)
    metadata["annotations"] = {IMPORTED_FROM_ANNOTATION: str(origin)}
    new: dict[str, Any] = {}
    if spec.get("targetNamespace"):
        new["destination"] = {"namespace": spec["targetNamespace"]}
    for key in ("interval", "timeout", "serviceAccountName"):
        if spec.get(key):
            new[key] = spec[key]
    if spec.get("suspend"):
        new["suspend"] = True
    if isinstance(spec.get("kubeConfig"), Mapping):
        new["kubeConfig"] = {"secretRef": copy.deepcopy(spec["kubeConfig"].get("secretRef"))}
    depends = []
    for dep in spec.get("dependsOn") or []:
        if isinstance(dep, Mapping) and dep.get("name"):
            if dep.get("namespace") and dep["namespace"] != own_ns:
                out.note(
                    src, "spec.dependsOn", Outcome.CONVERTED,
                    f"{dep['namespace']}/{dep['name']}: imported apps share one namespace",
                )  # fmt: skip
            depends.append({"name": dep["name"]})
    if depends:
        new["dependsOn"] = depends
    return metadata, new


def convert_kustomization(
    obj: Mapping[str, Any], repos: Mapping[tuple[str, str], Any], app_namespace: str,
    trees: Trees, out: Conversion,
) -> None:  # fmt: skip
    src = describe(obj)
    spec = obj.get("spec") or {}
    located = _source_of(obj, spec.get("sourceRef"), repos, src, out)
    if located is None:
        return
    url, revision = located
    metadata, new = _common(obj, spec, app_namespace, src, out)
    path = clean_path(str(spec.get("path") or "."))
    source: dict[str, Any] = {"repoURL": url, "targetRevision": revision, "path": path}
    tree = trees.get((url, revision))
    if isinstance(tree, RepoTree):
        if not tree.has_kustomization(path):
            # Flux then builds every manifest below the path; tether's directory reads
            # only the path itself unless told to recurse.
            source["directory"] = {"recurse": True}
    else:
        out.note(
            src, "spec.path", Outcome.UNSUPPORTED,
            f"{url} was not read ({tree or 'not asked'}): with no kustomization.yaml in"
            f" {path}, set source.directory.recurse (Flux reads every manifest below it)",
        )  # fmt: skip
    kustomize = _kustomize(spec, src, out)
    if kustomize:
        if "directory" in source:
            out.note(
                src, "spec", Outcome.UNSUPPORTED,
                "images/namePrefix/commonMetadata need a kustomization.yaml in the path",
            )  # fmt: skip
        else:
            source["kustomize"] = kustomize
    decryption = spec.get("decryption")
    if isinstance(decryption, Mapping):
        source["decryption"] = {"provider": decryption.get("provider", "sops")}
        if (decryption.get("secretRef") or {}).get("name"):
            source["decryption"]["secretRef"] = {"name": decryption["secretRef"]["name"]}
    new["source"] = source
    _post_build(spec.get("postBuild"), new, src, out)
    new["syncPolicy"] = {"automated": {"prune": bool(spec.get("prune")), "selfHeal": True}}
    if spec.get("force"):
        new["syncPolicy"]["syncOptions"] = ["Replace=true"]
        out.note(src, "spec.force", Outcome.CONVERTED, "as syncOptions Replace=true")
    for key in ("retryInterval", "wait"):
        if key in spec:
            out.note(src, f"spec.{key}", Outcome.DROPPED, _DROPPED[key])
    for key in sorted(set(spec) - _KUSTOMIZATION_HANDLED):
        out.note(
            src,
            f"spec.{key}",
            Outcome.UNSUPPORTED,
            _KUSTOMIZATION_WHY.get(key, "no tether equivalent"),
        )
    out.applications.append(_app(metadata, new))


def _post_build(given: Any, new: dict[str, Any], src: str, out: Conversion) -> None:
    if not isinstance(given, Mapping):
        return
    post_build: dict[str, Any] = {}
    if isinstance(given.get("substitute"), Mapping) and given["substitute"]:
        post_build["substitute"] = {str(k): str(v) for k, v in given["substitute"].items()}
    refs = [
        {
            "kind": r["kind"],
            "name": r.get("name"),
            **({"optional": True} if r.get("optional") else {}),
        }
        for r in given.get("substituteFrom") or []
        if isinstance(r, Mapping) and r.get("kind") in ("ConfigMap", "Secret")
    ]
    if refs:
        post_build["substituteFrom"] = refs
        out.note(
            src, "spec.postBuild.substituteFrom", Outcome.CONVERTED,
            "kept; label each ConfigMap/Secret tether.dev/post-build-variables=true"
            " (tether reads no other)",
        )  # fmt: skip
    if post_build:
        new["postBuild"] = post_build


_DROPPED = {
    "retryInterval": "tether retries failed syncs with spec.syncPolicy.retry backoff",
    "wait": "tether always waits for every object to be healthy",
}


def _kustomize(spec: Mapping[str, Any], src: str, out: Conversion) -> dict[str, Any]:
    kustomize: dict[str, Any] = {}
    for key in ("namePrefix", "nameSuffix"):
        if spec.get(key):
            kustomize[key] = spec[key]
    images = []
    for image in spec.get("images") or []:
        target = image.get("newName") or image.get("name")
        tag = f"@{image['digest']}" if image.get("digest") else f":{image.get('newTag', '')}"
        images.append(f"{image.get('name')}={target}{tag if tag not in (':',) else ''}")
    if images:
        kustomize["images"] = images
    common = spec.get("commonMetadata") or {}
    if common:
        out.note(
            src, "spec.commonMetadata", Outcome.CONVERTED,
            "as kustomize commonLabels/commonAnnotations (these set selectors too)",
        )  # fmt: skip
        if common.get("labels"):
            kustomize["commonLabels"] = dict(common["labels"])
        if common.get("annotations"):
            kustomize["commonAnnotations"] = dict(common["annotations"])
    return kustomize


def convert_helm_release(
    obj: Mapping[str, Any], repos: Mapping[tuple[str, str], Any], app_namespace: str,
    out: Conversion,
) -> None:  # fmt: skip
    src = describe(obj)
    spec = obj.get("spec") or {}
    if spec.get("chartRef"):
        out.note(
            src, "spec.chartRef", Outcome.ERROR, "charts from OCIRepository/HelmChart: not read"
        )
        return
    chart = ((spec.get("chart") or {}).get("spec")) or {}
    located = _source_of(obj, chart.get("sourceRef"), repos, src, out)
    if located is None:
        return
    url, revision = located
    metadata, new = _common(obj, spec, app_namespace, src, out)
    chart_path = clean_path(str(chart.get("chart") or "."))
    helm: dict[str, Any] = {}
    if spec.get("releaseName"):
        helm["releaseName"] = spec["releaseName"]
    files = [
        str(f)
        for f in chart.get("valuesFiles")
        or ([chart["valuesFile"]] if chart.get("valuesFile") else [])
    ]
    if files:
        # Flux's are relative to the source root, tether's (as Argo CD's) to the chart.
        helm["valueFiles"] = [posixpath.relpath(clean_path(f), chart_path) for f in files]
    if spec.get("values"):
        helm["values"] = yaml.safe_dump(spec["values"], sort_keys=False)
    if (spec.get("install") or {}).get("crds") == "Skip":
        helm["skipCrds"] = True
    values_from = _values_from(spec.get("valuesFrom") or [], src, out)
    if values_from:
        helm["valuesFrom"] = values_from
    for key in ("install", "upgrade"):
        if spec.get(key):
            out.note(
                src,
                f"spec.{key}",
                Outcome.DROPPED,
                "Helm actions: tether applies the rendered chart",
            )
    source: dict[str, Any] = {"repoURL": url, "targetRevision": revision, "path": chart_path}
    if helm:
        source["helm"] = helm
    new["source"] = source
    new["syncPolicy"] = {"automated": {"prune": True, "selfHeal": True}}
    for key in sorted(set(spec) - _HELM_HANDLED - {"valuesFrom"}):
        out.note(src, f"spec.{key}", Outcome.UNSUPPORTED, "no tether equivalent")
    for key in sorted(
        set(chart)
        - {"chart", "sourceRef", "valuesFiles", "valuesFile", "reconcileStrategy", "interval"}
    ):
        out.note(src, f"spec.chart.spec.{key}", Outcome.UNSUPPORTED, "no tether equivalent")
    out.applications.append(_app(metadata, new))


def _values_from(given: Sequence[Any], src: str, out: Conversion) -> list[dict[str, Any]]:
    refs = []
    for ref in given:
        if not isinstance(ref, Mapping) or ref.get("kind") not in ("ConfigMap", "Secret"):
            out.note(
                src, "spec.valuesFrom", Outcome.UNSUPPORTED, "kind must be ConfigMap or Secret"
            )
            continue
        if ref.get("targetPath"):
            out.note(
                src, f"spec.valuesFrom[{ref.get('name')}].targetPath", Outcome.UNSUPPORTED,
                "put the value under its path in the values YAML",
            )  # fmt: skip
            continue
        entry = {"kind": ref["kind"], "name": ref.get("name")}
        if ref.get("valuesKey"):
            entry["valuesKey"] = ref["valuesKey"]
        if ref.get("optional"):
            entry["optional"] = True
        refs.append(entry)
    if refs:
        out.note(
            src, "spec.valuesFrom", Outcome.CONVERTED,
            "kept; label each ConfigMap/Secret tether.dev/helm-values=true (tether reads no other)",
        )  # fmt: skip
    return refs


def _app(metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": spec,
    }
