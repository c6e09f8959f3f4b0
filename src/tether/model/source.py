"""`spec.source` of an Application: repository, revision, path and how to render it
(directory, Kustomize, Helm, jsonnet, SOPS decryption), parsed and validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.model.fields import (
    Fields,
    check_name,
    check_namespace,
    dict_or_none,
    drop_none,
    is_dns1123_subdomain,
    list_or_none,
    parse_alone,
    show,
)
from tether.model.helm_values import ValuesReference, parse_values_reference
from tether.model.jsonnet import JsonnetSource, parse_jsonnet
from tether.model.names import (
    DECRYPTION_PROVIDERS,
    DEFAULT_PATH,
    DEFAULT_TARGET_REVISION,
    RENDERERS,
)
from tether.model.urls import is_repository_url

_HELM_RELEASE_NAME_MAX = 53  # Helm stores releases in Secrets whose names add a suffix
# What helm's --kube-version parses (semver, leading "v" and patch optional).
_HELM_KUBE_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]+)?$")
# [group/]version[/Kind]: never a comma (helm splits --api-versions on commas).
_HELM_API_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z][A-Za-z0-9]*)?$"
)

# ------------------------------------------------------------------------------ source


@dataclass(frozen=True)
class DirectorySource:
    """A directory of plain YAML/JSON manifests and `*.jsonnet` files."""

    recurse: bool = False
    include: str | None = None  # glob of file names to read, e.g. "{*.yaml,*.json}"
    exclude: str | None = None
    jsonnet: JsonnetSource | None = None  # how the *.jsonnet files are evaluated

    def to_dict(self) -> dict[str, Any]:
        jsonnet = self.jsonnet.to_dict() if self.jsonnet is not None else None
        return drop_none(
            {
                "recurse": self.recurse,
                "include": self.include,
                "exclude": self.exclude,
                "jsonnet": jsonnet or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DirectorySource:
        return parse_alone(_parse_directory, data, "directory")


def _parse_directory(fields: Fields) -> DirectorySource:
    fields.only(("recurse", "include", "exclude", "jsonnet"))
    jsonnet = fields.child("jsonnet")
    parsed = parse_jsonnet(jsonnet) if jsonnet is not None else None
    return DirectorySource(
        recurse=fields.boolean("recurse"),
        include=fields.optional_string("include"),
        exclude=fields.optional_string("exclude"),
        # `jsonnet: {}` says nothing beyond the defaults: kept as absent.
        jsonnet=parsed if parsed != JsonnetSource() else None,
    )


@dataclass(frozen=True)
class KustomizeSource:
    """A kustomization; the options are applied on top of the one found at `path`."""

    name_prefix: str | None = None
    name_suffix: str | None = None
    images: tuple[str, ...] = ()  # kustomize edit set image syntax: "nginx=nginx:1.27"
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "namePrefix": self.name_prefix,
                "nameSuffix": self.name_suffix,
                "images": list_or_none(self.images),
                "commonLabels": dict_or_none(self.common_labels),
                "commonAnnotations": dict_or_none(self.common_annotations),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KustomizeSource:
        return parse_alone(_parse_kustomize, data, "kustomize")


def _parse_kustomize(fields: Fields) -> KustomizeSource:
    fields.only(("namePrefix", "nameSuffix", "images", "commonLabels", "commonAnnotations"))
    return KustomizeSource(
        name_prefix=fields.optional_string("namePrefix"),
        name_suffix=fields.optional_string("nameSuffix"),
        images=fields.strings("images"),
        common_labels=fields.string_map("commonLabels"),
        common_annotations=fields.string_map("commonAnnotations"),
    )


@dataclass(frozen=True)
class HelmParameter:
    """One `--set name=value`."""

    name: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


def _parse_helm_parameter(fields: Fields) -> HelmParameter:
    fields.only(("name", "value"))
    if not fields.has("value"):
        fields.problem("value", "is required")
    return HelmParameter(name=fields.required_string("name"), value=fields.string("value"))


@dataclass(frozen=True)
class HelmSource:
    """A Helm chart at `path`. `values` is YAML text, layered after `valueFiles`.

    `helm template` sees the target cluster as Argo CD shows it to a chart: its version
    (`.Capabilities.KubeVersion`) and every group/version and group/version/Kind it
    serves (`.Capabilities.APIVersions`). `kube_version` replaces the former,
    `api_versions` are added to the latter.
    """

    release_name: str | None = None  # defaults to the Application's name
    value_files: tuple[str, ...] = ()
    values: str | None = None
    parameters: tuple[HelmParameter, ...] = ()
    kube_version: str | None = None  # e.g. "1.30" or "v1.30.4"; default: the cluster's
    api_versions: tuple[str, ...] = ()  # e.g. "monitoring.coreos.com/v1/ServiceMonitor"
    skip_crds: bool = False  # leave out the chart's crds/ directory
    skip_tests: bool = True  # leave out `helm.sh/hook: test` hooks (never applied)
    namespace: str | None = None  # .Release.Namespace; default: the destination namespace
    # ConfigMaps/Secrets labelled tether.dev/helm-values, after valueFiles (model/helm_values)
    values_from: tuple[ValuesReference, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "releaseName": self.release_name,
                "valueFiles": list_or_none(self.value_files),
                "valuesFrom": list_or_none([ref.to_dict() for ref in self.values_from]),
                "values": self.values,
                "parameters": list_or_none([p.to_dict() for p in self.parameters]),
                "kubeVersion": self.kube_version,
                "apiVersions": list_or_none(self.api_versions),
                "skipCrds": True if self.skip_crds else None,
                "skipTests": False if not self.skip_tests else None,
                "namespace": self.namespace,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HelmSource:
        return parse_alone(_parse_helm, data, "helm")


def _parse_helm(fields: Fields) -> HelmSource:
    fields.only(
        (
            "releaseName",
            "valueFiles",
            "values",
            "parameters",
            "kubeVersion",
            "apiVersions",
            "skipCrds",
            "skipTests",
            "namespace",
            "valuesFrom",
        )
    )
    release_name = fields.optional_string("releaseName")
    if release_name is not None and not (
        len(release_name) <= _HELM_RELEASE_NAME_MAX and is_dns1123_subdomain(release_name)
    ):
        fields.problem(
            "releaseName",
            "must be a valid Helm release name (lowercase letters, digits, '-' and '.', "
            f"at most {_HELM_RELEASE_NAME_MAX}), got {show(release_name)}",
        )
    if fields.has("values") and not isinstance(fields.data["values"], str):
        fields.problem(
            "values",
            "must be a string of YAML (write `values: |` and indent the values below it), "
            f"got {show(fields.data['values'])}",
        )
        values = None
    else:
        values = fields.optional_string("values")
    kube_version = fields.optional_string("kubeVersion")
    if kube_version is not None and not _HELM_KUBE_VERSION.match(kube_version):
        fields.problem(
            "kubeVersion",
            f"must be a Kubernetes version like 1.30 or v1.30.4, got {show(kube_version)}",
        )
    api_versions = fields.strings("apiVersions")
    for index, api_version in enumerate(api_versions):
        if not _HELM_API_VERSION.match(api_version):
            fields.problems.add(
                f"{fields.path_of('apiVersions')}[{index}]",
                "must be [group/]version or [group/]version/Kind (e.g. policy/v1 or "
                f"monitoring.coreos.com/v1/ServiceMonitor), got {show(api_version)}",
            )
    namespace = fields.optional_string("namespace")
    check_namespace(fields, "namespace", namespace)
    return HelmSource(
        release_name=release_name,
        value_files=fields.strings("valueFiles"),
        values=values,
        parameters=tuple(_parse_helm_parameter(p) for p in fields.children("parameters")),
        kube_version=kube_version,
        api_versions=api_versions,
        skip_crds=fields.boolean("skipCrds"),
        skip_tests=fields.boolean("skipTests", True),
        namespace=namespace,
        values_from=tuple(parse_values_reference(ref) for ref in fields.children("valuesFrom")),
    )


@dataclass(frozen=True)
class SecretRef:
    """A Secret in the Application's namespace."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class Decryption:
    """Decrypt SOPS-encrypted manifests with keys from `secretRef` (or the controller's)."""

    provider: str = "sops"
    secret_ref: SecretRef | None = None

    def to_dict(self) -> dict[str, Any]:
        secret_ref = self.secret_ref.to_dict() if self.secret_ref is not None else None
        return drop_none({"provider": self.provider, "secretRef": secret_ref})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decryption:
        return parse_alone(_parse_decryption, data, "decryption")


def _parse_decryption(fields: Fields) -> Decryption:
    fields.only(("provider", "secretRef"))
    provider = fields.string("provider", "sops")
    if provider not in DECRYPTION_PROVIDERS:
        fields.problem(
            "provider", f"must be one of {', '.join(DECRYPTION_PROVIDERS)}, got {show(provider)}"
        )
    secret_ref = None
    ref_fields = fields.child("secretRef")
    if ref_fields is not None:
        ref_fields.only(("name",))
        name = ref_fields.required_string("name")
        check_name(ref_fields, "name", name)
        secret_ref = SecretRef(name)
    return Decryption(provider=provider, secret_ref=secret_ref)


@dataclass(frozen=True)
class Source:
    """Where the manifests come from and how they are rendered."""

    repo_url: str
    target_revision: str = DEFAULT_TARGET_REVISION
    path: str = DEFAULT_PATH
    directory: DirectorySource | None = None
    kustomize: KustomizeSource | None = None
    helm: HelmSource | None = None
    decryption: Decryption | None = None

    @property
    def render_type(self) -> str | None:
        """`directory`, `kustomize` or `helm` when chosen; None: detect from the tree."""
        return next((name for name in RENDERERS if getattr(self, name) is not None), None)

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "repoURL": self.repo_url,
                "targetRevision": self.target_revision,
                "path": self.path,
                "directory": self.directory.to_dict() if self.directory is not None else None,
                # `kustomize: {}` is meaningful (it selects the renderer), so it is kept.
                "kustomize": self.kustomize.to_dict() if self.kustomize is not None else None,
                "helm": self.helm.to_dict() if self.helm is not None else None,
                "decryption": self.decryption.to_dict() if self.decryption is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        return parse_alone(parse_source, data, "source")


def parse_source(fields: Fields) -> Source:
    fields.only(
        (
            "repoURL",
            "targetRevision",
            "path",
            "directory",
            "kustomize",
            "helm",
            "decryption",
        )
    )
    repo_url = fields.required_string("repoURL")
    _check_repo_url(fields, repo_url)
    path = fields.string("path", DEFAULT_PATH)
    _check_repo_path(fields, path)
    target_revision = fields.string("targetRevision", DEFAULT_TARGET_REVISION)
    if not target_revision:
        fields.problem("targetRevision", "must not be empty (omit it to follow HEAD)")
    chosen = [name for name in RENDERERS if fields.has(name)]
    if len(chosen) > 1:
        fields.problems.add(
            fields.path, f"may set only one of {', '.join(RENDERERS)}, got {', '.join(chosen)}"
        )
    directory, kustomize, helm, decryption = (
        fields.child("directory"),
        fields.child("kustomize"),
        fields.child("helm"),
        fields.child("decryption"),
    )
    return Source(
        repo_url=repo_url,
        target_revision=target_revision or DEFAULT_TARGET_REVISION,
        path=path,
        directory=_parse_directory(directory) if directory is not None else None,
        kustomize=_parse_kustomize(kustomize) if kustomize is not None else None,
        helm=_parse_helm(helm) if helm is not None else None,
        decryption=_parse_decryption(decryption) if decryption is not None else None,
    )


def _check_repo_url(fields: Fields, url: str) -> None:
    if not url:
        return
    if not is_repository_url(url):
        fields.problem(
            "repoURL",
            "must be a git URL (file://, https://, http://, ssh://, git:// or "
            f"user@host:path), got {show(url)}",
        )


def _check_repo_path(fields: Fields, path: str) -> None:
    # The path is read inside a checked-out tree: it must not escape it.
    if path.startswith("/") or ".." in path.split("/") or not path:
        fields.problem("path", f"must be a relative path inside the repository, got {show(path)}")


__all__ = [
    "Decryption",
    "DirectorySource",
    "HelmParameter",
    "HelmSource",
    "KustomizeSource",
    "SecretRef",
    "Source",
    "parse_source",
]
