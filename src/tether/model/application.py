"""The Application resource (DESIGN §2): typed spec and status, parsing, validation.

Everything here is pure: objects come in as plain dicts (the wire form) and go back out
through `to_dict()`. Parsing collects every problem it finds and raises a single
`InputError` naming each field path, so a user fixes a manifest in one round trip.

Times in status are RFC 3339 strings supplied by the caller: this layer has no clock.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tether.errors import InputError
from tether.model.fields import (
    Fields,
    Problems,
    check_name,
    check_namespace,
    dict_or_none,
    drop_none,
    is_dns1123_subdomain,
    list_or_none,
    parse_alone,
    parse_duration,
    show,
)
from tether.model.health_checks import HealthCheck, parse_health_check
from tether.model.jsonnet import JsonnetSource, parse_jsonnet
from tether.model.keys import ResourceKey

_HELM_RELEASE_NAME_MAX = 53  # Helm stores releases in Secrets whose names add a suffix
_GIT_URL_SCHEMES = ("file://", "https://", "http://", "ssh://", "git://", "git+ssh://")
_SCP_LIKE_GIT_URL = re.compile(r"^[\w.-]+@[\w.-]+:.+$")  # git@host:org/repo.git
_BAD_POINTER_ESCAPE = re.compile(r"~(?![01])")
# What helm's --kube-version parses (semver, leading "v" and patch optional).
_HELM_KUBE_VERSION = re.compile(r"^v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.+-]+)?$")
# [group/]version[/Kind]: never a comma (helm splits --api-versions on commas).
_HELM_API_VERSION = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z][A-Za-z0-9]*)?$"
)

API_GROUP = "tether.dev"
API_VERSION = "tether.dev/v1alpha1"
KIND = "Application"
DEFAULT_APP_NAMESPACE = "tether-system"
TRACKING_ANNOTATION = "tether.dev/tracking-id"
FIELD_MANAGER = "tether"

DEFAULT_TARGET_REVISION = "HEAD"
DEFAULT_PATH = "."
DEFAULT_INTERVAL = "3m"
DEFAULT_TIMEOUT = "5m"
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROJECT = "default"
DEFAULT_RETRY_LIMIT = 5
DEFAULT_BACKOFF_DURATION = "5s"
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_MAX_DURATION = "3m"
DECRYPTION_PROVIDERS = ("sops",)
RENDERERS = ("directory", "kustomize", "helm")  # `spec.source` sets at most one of them


# ------------------------------------------------------------------------ sync options


def parse_sync_options(options: Iterable[str]) -> dict[str, str]:
    """`["CreateNamespace=true", "Prune=false"]` -> `{"CreateNamespace": "true", ...}`.

    Unknown options are kept: tether ignores what it does not know instead of refusing a
    manifest written for a newer version. The last of repeated options wins. Also fits
    the comma-split value of the `…/sync-options` annotation.
    """
    parsed: dict[str, str] = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip():
            raise InputError(f"sync option {show(option)} must look like Name=value")
        parsed[name.strip()] = value.strip()
    return parsed


# The sync options an Application's syncOptions may set (Argo CD's names where Argo CD
# has the option), with the values each accepts (None: any value). An unknown option is a
# typo far more often than an option of a newer tether: it is refused, with a suggestion.
APP_SYNC_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "CreateNamespace": ("true", "false"),
    "PruneLast": ("true", "false"),
    "ServerSideApply": ("true", "false"),
    "RespectIgnoreDifferences": ("true", "false"),
    "Replace": ("true", "false"),
    "Prune": ("true", "false", "confirm"),
    "Adopt": ("true", "false"),
}


def _parse_sync_option_list(fields: Fields, key: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for index, option in enumerate(fields.strings(key)):
        where = f"{fields.path_of(key)}[{index}]"
        try:
            one = parse_sync_options([option])
        except InputError:
            fields.problems.add(
                where, f"must look like Name=value (e.g. CreateNamespace=true), got {show(option)}"
            )
            continue
        for name, value in one.items():
            if name not in APP_SYNC_OPTIONS:
                close = difflib.get_close_matches(name, list(APP_SYNC_OPTIONS), n=1)
                known = (
                    f"did you mean {close[0]}?"
                    if close
                    else "known: " + ", ".join(APP_SYNC_OPTIONS)
                )
                fields.problems.add(where, f"{show(name)} is not a known sync option ({known})")
                continue
            allowed = APP_SYNC_OPTIONS[name]
            if allowed is not None and value.lower() not in allowed:
                fields.problems.add(
                    where, f"{name} must be {' or '.join(allowed)}, got {show(value)}"
                )
                continue
            parsed[name] = value
    return parsed


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

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "releaseName": self.release_name,
                "valueFiles": list_or_none(self.value_files),
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
        return parse_alone(_parse_source, data, "source")


def _parse_source(fields: Fields) -> Source:
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
    has_scheme = any(url.startswith(s) and len(url) > len(s) for s in _GIT_URL_SCHEMES)
    if not has_scheme and not _SCP_LIKE_GIT_URL.match(url):
        fields.problem(
            "repoURL",
            "must be a git URL (file://, https://, http://, ssh://, git:// or "
            f"user@host:path), got {show(url)}",
        )


def _check_repo_path(fields: Fields, path: str) -> None:
    # The path is read inside a checked-out tree: it must not escape it.
    if path.startswith("/") or ".." in path.split("/") or not path:
        fields.problem("path", f"must be a relative path inside the repository, got {show(path)}")


# ------------------------------------------------------------------------- destination


@dataclass(frozen=True)
class Destination:
    """Where to apply. Only the in-cluster destination is served today; `server`/`name`
    are parsed so that manifests written for other clusters keep their meaning."""

    namespace: str | None = None  # for namespaced objects that do not name their own
    server: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none({"namespace": self.namespace, "server": self.server, "name": self.name})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Destination:
        return parse_alone(_parse_destination, data, "destination")


def _parse_destination(fields: Fields) -> Destination:
    fields.only(("namespace", "server", "name"))
    namespace = fields.optional_string("namespace")
    check_namespace(fields, "namespace", namespace)
    server, name = fields.optional_string("server"), fields.optional_string("name")
    if server and name:
        fields.problems.add(fields.path, "may set server or name, not both")
    return Destination(namespace=namespace or None, server=server or None, name=name or None)


# ------------------------------------------------------------------------- sync policy


@dataclass(frozen=True)
class AutomatedSync:
    """Presence turns auto-sync on: sync once per new revision."""

    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False  # let an empty render prune everything

    def to_dict(self) -> dict[str, Any]:
        return {"prune": self.prune, "selfHeal": self.self_heal, "allowEmpty": self.allow_empty}


def _parse_automated(fields: Fields) -> AutomatedSync:
    fields.only(("prune", "selfHeal", "allowEmpty"))
    return AutomatedSync(
        prune=fields.boolean("prune"),
        self_heal=fields.boolean("selfHeal"),
        allow_empty=fields.boolean("allowEmpty"),
    )


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (0-based): duration x factor^n, capped at maxDuration."""

    duration: str = DEFAULT_BACKOFF_DURATION
    factor: float = DEFAULT_BACKOFF_FACTOR
    max_duration: str = DEFAULT_BACKOFF_MAX_DURATION

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)

    @property
    def max_duration_seconds(self) -> float:
        return parse_duration(self.max_duration)

    def delay_seconds(self, attempt: int) -> float:
        # Cap the exponent first: factor**attempt overflows long before it matters.
        exponent = min(max(attempt, 0), 64)
        return min(self.duration_seconds * self.factor**exponent, self.max_duration_seconds)

    def to_dict(self) -> dict[str, Any]:
        # Write `2`, not `2.0`: the form people write and the CRD's default.
        factor = float(self.factor)
        wire_factor: float | int = int(factor) if factor.is_integer() else factor
        return {"duration": self.duration, "factor": wire_factor, "maxDuration": self.max_duration}


def _parse_backoff(fields: Fields) -> Backoff:
    fields.only(("duration", "factor", "maxDuration"))
    backoff = Backoff(
        duration=fields.duration("duration", DEFAULT_BACKOFF_DURATION),
        factor=fields.number("factor", DEFAULT_BACKOFF_FACTOR, minimum=1),
        max_duration=fields.duration("maxDuration", DEFAULT_BACKOFF_MAX_DURATION),
    )
    if backoff.max_duration_seconds < backoff.duration_seconds:
        fields.problem(
            "maxDuration",
            f"must not be shorter than duration ({backoff.duration}), "
            f"got {show(backoff.max_duration)}",
        )
    return backoff


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a failed sync: `limit` attempts after the first (0: none)."""

    limit: int = DEFAULT_RETRY_LIMIT
    backoff: Backoff = field(default_factory=Backoff)

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "backoff": self.backoff.to_dict()}


def _parse_retry(fields: Fields) -> RetryPolicy:
    fields.only(("limit", "backoff"))
    backoff = fields.child("backoff")
    return RetryPolicy(
        limit=fields.integer("limit", DEFAULT_RETRY_LIMIT, minimum=0),
        backoff=_parse_backoff(backoff) if backoff is not None else Backoff(),
    )


@dataclass(frozen=True)
class SyncPolicy:
    """`syncOptions` are held parsed, e.g. {"CreateNamespace": "true"}, in written order."""

    automated: AutomatedSync | None = None
    sync_options: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy | None = None

    def option(self, name: str) -> str | None:
        return self.sync_options.get(name)

    def option_enabled(self, name: str) -> bool:
        """True when the option is set to `true` (any case), as in `PruneLast=true`."""
        return (self.option(name) or "").lower() == "true"

    def to_dict(self) -> dict[str, Any]:
        options = [f"{name}={value}" for name, value in self.sync_options.items()]
        return drop_none(
            {
                "automated": self.automated.to_dict() if self.automated is not None else None,
                "syncOptions": list_or_none(options),
                "retry": self.retry.to_dict() if self.retry is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPolicy:
        return parse_alone(_parse_sync_policy, data, "syncPolicy")


def _parse_sync_policy(fields: Fields) -> SyncPolicy:
    fields.only(("automated", "syncOptions", "retry"))
    # `automated: {}` turns auto-sync on with every option off; `automated: null` is
    # absent, as the API server would store it.
    automated, retry = fields.child("automated"), fields.child("retry")
    return SyncPolicy(
        automated=_parse_automated(automated) if automated is not None else None,
        sync_options=_parse_sync_option_list(fields, "syncOptions"),
        retry=_parse_retry(retry) if retry is not None else None,
    )


# ------------------------------------------------------------------- ignore differences


@dataclass(frozen=True)
class IgnoreDifference:
    """Fields of matching objects that are not compared. `group`/`kind` are globs
    (`"*"`), `name`/`namespace` exact; the empty group is the core API group."""

    kind: str
    group: str = ""
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "group": self.group or None,
                "kind": self.kind,
                "name": self.name,
                "namespace": self.namespace,
                "jsonPointers": list_or_none(self.json_pointers),
                "jqPathExpressions": list_or_none(self.jq_path_expressions),
                "managedFieldsManagers": list_or_none(self.managed_fields_managers),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IgnoreDifference:
        return parse_alone(_parse_ignore_difference, data, "ignoreDifferences item")


def _parse_ignore_difference(fields: Fields) -> IgnoreDifference:
    fields.only(
        (
            "group",
            "kind",
            "name",
            "namespace",
            "jsonPointers",
            "jqPathExpressions",
            "managedFieldsManagers",
        )
    )
    rule = IgnoreDifference(
        kind=fields.required_string("kind"),
        group=fields.string("group"),
        name=fields.optional_string("name"),
        namespace=fields.optional_string("namespace"),
        json_pointers=fields.strings("jsonPointers"),
        jq_path_expressions=fields.strings("jqPathExpressions"),
        managed_fields_managers=fields.strings("managedFieldsManagers"),
    )
    for index, pointer in enumerate(rule.json_pointers):
        if not pointer.startswith("/") or _BAD_POINTER_ESCAPE.search(pointer):
            fields.problems.add(
                f"{fields.path_of('jsonPointers')}[{index}]",
                f"must be an RFC 6901 JSON pointer like /spec/replicas, got {show(pointer)}",
            )
    for index, expression in enumerate(rule.jq_path_expressions):
        if not expression.strip():
            fields.problems.add(f"{fields.path_of('jqPathExpressions')}[{index}]", "is empty")
    if not (rule.json_pointers or rule.jq_path_expressions or rule.managed_fields_managers):
        fields.problems.add(
            fields.path,
            "must list jsonPointers, jqPathExpressions or managedFieldsManagers "
            "(otherwise it ignores nothing)",
        )
    return rule


# ------------------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class Dependency:
    """An Application that must be Synced and Healthy before this one syncs (Flux-style
    ordering); the namespace defaults to this Application's."""

    name: str
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none({"name": self.name, "namespace": self.namespace})


def _parse_dependency(fields: Fields) -> Dependency:
    fields.only(("name", "namespace"))
    name = fields.required_string("name")
    check_name(fields, "name", name)
    namespace = fields.optional_string("namespace")
    check_namespace(fields, "namespace", namespace)
    return Dependency(name=name, namespace=namespace or None)


# -------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class ApplicationSpec:
    source: Source
    destination: Destination = field(default_factory=Destination)
    sync_policy: SyncPolicy = field(default_factory=SyncPolicy)
    ignore_differences: tuple[IgnoreDifference, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    suspend: bool = False  # no writes at all; status is still computed
    interval: str = DEFAULT_INTERVAL  # git poll interval, jittered by the controller
    timeout: str = DEFAULT_TIMEOUT  # sync plus health wait
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT
    project: str = DEFAULT_PROJECT  # a Project in the project namespace (docs/security.md)
    # Every apply, dry-run and delete impersonates this ServiceAccount of the app's
    # namespace (Flux's serviceAccountName): RBAC then bounds what the app may touch.
    service_account_name: str | None = None
    # Custom health rules (jq or CEL) for this app's objects, before the namespace's
    # tether-health-rules ConfigMap (docs/health.md).
    health_checks: tuple[HealthCheck, ...] = ()

    @property
    def auto_sync_enabled(self) -> bool:
        return self.sync_policy.automated is not None

    @property
    def self_heal(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.self_heal

    @property
    def auto_prune(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.prune

    @property
    def allow_empty(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.allow_empty

    @property
    def sync_options(self) -> Mapping[str, str]:
        return self.sync_policy.sync_options

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    def to_dict(self) -> dict[str, Any]:
        sync_policy = self.sync_policy.to_dict()
        return drop_none(
            {
                "source": self.source.to_dict(),
                "destination": self.destination.to_dict() or None,
                "syncPolicy": sync_policy or None,
                "ignoreDifferences": list_or_none(
                    [rule.to_dict() for rule in self.ignore_differences]
                ),
                "dependsOn": list_or_none([dep.to_dict() for dep in self.depends_on]),
                "suspend": self.suspend,
                "interval": self.interval,
                "timeout": self.timeout,
                "revisionHistoryLimit": self.revision_history_limit,
                "project": self.project if self.project != DEFAULT_PROJECT else None,
                "serviceAccountName": self.service_account_name,
                "healthChecks": list_or_none([rule.to_dict() for rule in self.health_checks]),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationSpec:
        return parse_alone(
            lambda f: _parse_spec(f, app_namespace=None, app_name=None), data, "spec"
        )


_SPEC_FIELDS = (
    "source",
    "destination",
    "syncPolicy",
    "ignoreDifferences",
    "dependsOn",
    "suspend",
    "interval",
    "timeout",
    "revisionHistoryLimit",
    "project",
    "serviceAccountName",
    "healthChecks",
)


def _parse_spec(fields: Fields, app_namespace: str | None, app_name: str | None) -> ApplicationSpec:
    fields.only(_SPEC_FIELDS)
    source = fields.child("source")
    if source is None:
        fields.problem("source", "is required")
    destination, sync_policy = fields.child("destination"), fields.child("syncPolicy")
    spec = ApplicationSpec(
        source=_parse_source(source) if source is not None else Source(repo_url=""),
        destination=_parse_destination(destination) if destination is not None else Destination(),
        sync_policy=_parse_sync_policy(sync_policy) if sync_policy is not None else SyncPolicy(),
        ignore_differences=tuple(
            _parse_ignore_difference(rule) for rule in fields.children("ignoreDifferences")
        ),
        depends_on=tuple(_parse_dependency(dep) for dep in fields.children("dependsOn")),
        suspend=fields.boolean("suspend"),
        interval=fields.duration("interval", DEFAULT_INTERVAL),
        timeout=fields.duration("timeout", DEFAULT_TIMEOUT),
        revision_history_limit=fields.integer(
            "revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT, minimum=0
        ),
        project=fields.string("project", DEFAULT_PROJECT) or DEFAULT_PROJECT,
        service_account_name=fields.optional_string("serviceAccountName") or None,
        health_checks=tuple(parse_health_check(rule) for rule in fields.children("healthChecks")),
    )
    check_name(fields, "project", spec.project)
    if spec.service_account_name is not None:
        check_name(fields, "serviceAccountName", spec.service_account_name)
    _check_not_self_dependent(fields, spec.depends_on, app_namespace, app_name)
    return spec


def _check_not_self_dependent(
    fields: Fields,
    depends_on: Sequence[Dependency],
    app_namespace: str | None,
    app_name: str | None,
) -> None:
    # An application waiting for itself would never become ready.
    for index, dep in enumerate(depends_on):
        if dep.name == app_name and (dep.namespace or app_namespace) == app_namespace:
            fields.problems.add(
                f"{fields.path_of('dependsOn')}[{index}]", "names the application itself"
            )


# ------------------------------------------------------------------------------ status


class SyncStatusCode(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatusCode(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


class OperationPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# Condition types DESIGN §3 names; other layers may add their own.
CONDITION_HISTORY_REWRITTEN = "HistoryRewritten"
CONDITION_BREAK_GLASS = "BreakGlass"
# Raised by the controller: self-heal keeps being undone, or dependencies are not ready.
CONDITION_SELF_HEAL_FAILING = "SelfHealFailing"
CONDITION_WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
CONDITION_SYNC_ERROR = "SyncError"
CONDITION_PROJECT_VIOLATION = "ProjectViolation"
CONDITION_ADOPTION_REQUIRED = "AdoptionRequired"

# `tether app reconcile` asks the controller for a reconcile by setting this annotation to
# a fresh token; the controller echoes the token in `status.lastHandledReconcileAt` (Flux's
# requestedAt protocol). With `--with-source` the second annotation carries the same token.
RECONCILE_REQUESTED_ANNOTATION = "tether.dev/reconcile-requested-at"
RECONCILE_WITH_SOURCE_ANNOTATION = "tether.dev/reconcile-with-source"


@dataclass(frozen=True)
class SyncStatus:
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    revision: str | None = None  # the commit compared against
    compared_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {"status": self.status.value, "revision": self.revision, "comparedAt": self.compared_at}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncStatus:
        return parse_alone(_parse_sync_status, data, "sync status")


def _parse_sync_status(fields: Fields) -> SyncStatus:
    return SyncStatus(
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        revision=fields.optional_string("revision"),
        compared_at=fields.timestamp("comparedAt"),
    )


@dataclass(frozen=True)
class HealthStatus:
    status: HealthStatusCode = HealthStatusCode.UNKNOWN
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none({"status": self.status.value, "message": self.message})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthStatus:
        return parse_alone(_parse_health_status, data, "health status")


def _parse_health_status(fields: Fields) -> HealthStatus:
    return HealthStatus(
        status=fields.choice("status", HealthStatusCode, HealthStatusCode.UNKNOWN),
        message=fields.optional_string("message"),
    )


@dataclass(frozen=True)
class ResourceStatus:
    """One managed object as last compared; `drift` lists the paths that differ, and
    `driftCause`/`driftWriter` say why (DESIGN "drift forensics"; `tether drift` has
    the evidence per path)."""

    kind: str
    name: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    health: HealthStatus | None = None
    drift: tuple[str, ...] = ()
    drift_cause: str | None = None
    drift_writer: str | None = None

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "group": self.group or None,
                "version": self.version or None,
                "kind": self.kind,
                "namespace": self.namespace or None,
                "name": self.name,
                "status": self.status.value,
                "health": self.health.to_dict() if self.health is not None else None,
                "drift": list_or_none(self.drift),
                "driftCause": self.drift_cause,
                "driftWriter": self.drift_writer,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceStatus:
        return parse_alone(_parse_resource_status, data, "resource status")


def _parse_resource_status(fields: Fields) -> ResourceStatus:
    health = fields.child("health")
    return ResourceStatus(
        kind=fields.required_string("kind"),
        name=fields.required_string("name"),
        group=fields.string("group"),
        version=fields.string("version"),
        namespace=fields.string("namespace"),
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        health=_parse_health_status(health) if health is not None else None,
        drift=fields.strings("drift"),
        drift_cause=fields.optional_string("driftCause"),
        drift_writer=fields.optional_string("driftWriter"),
    )


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition. Build new ones with an empty transition time and
    let `set_condition` stamp it."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "type": self.type,
                "status": self.status.value,
                "reason": self.reason,
                "message": self.message,
                "lastTransitionTime": self.last_transition_time or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return parse_alone(_parse_condition, data, "condition")


def _parse_condition(fields: Fields) -> Condition:
    return Condition(
        type=fields.required_string("type"),
        status=fields.choice("status", ConditionStatus, ConditionStatus.UNKNOWN),
        reason=fields.string("reason"),
        message=fields.string("message"),
        last_transition_time=fields.timestamp("lastTransitionTime") or "",
    )


def set_condition(conditions: Sequence[Condition], new: Condition, now: str) -> list[Condition]:
    """`conditions` with `new` in place of the condition of its type (or appended).

    The transition time moves to `now` only when the status changes: reason and message
    updates are not transitions, and a stable time is what tells how long a state lasts.
    """
    updated: list[Condition] = []
    replaced = False
    for current in conditions:
        if current.type != new.type:
            updated.append(current)
            continue
        if replaced:  # a duplicate of the type: keep one condition per type
            continue
        unchanged = current.status == new.status and current.last_transition_time
        since = current.last_transition_time if unchanged else now
        updated.append(replace(new, last_transition_time=since))
        replaced = True
    if not replaced:
        updated.append(replace(new, last_transition_time=now))
    return updated


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def remove_condition(conditions: Iterable[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


@dataclass(frozen=True)
class OperationState:
    """The current or last sync operation. `retryCount` counts failed attempts of this
    operation so that `syncPolicy.retry.limit` can be honoured across reconciles."""

    phase: OperationPhase
    revision: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    initiated_by: str | None = None
    retry_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "phase": self.phase.value,
                "revision": self.revision,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "message": self.message,
                "initiatedBy": self.initiated_by,
                "retryCount": self.retry_count or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationState:
        return parse_alone(_parse_operation_state, data, "operation state")


def _parse_operation_state(fields: Fields) -> OperationState:
    if not fields.has("phase"):
        fields.problem("phase", "is required")
    return OperationState(
        phase=fields.choice("phase", OperationPhase, OperationPhase.ERROR),
        revision=fields.optional_string("revision"),
        started_at=fields.timestamp("startedAt"),
        finished_at=fields.timestamp("finishedAt"),
        message=fields.optional_string("message"),
        initiated_by=fields.optional_string("initiatedBy"),
        retry_count=fields.integer("retryCount", 0),
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One successful full sync. `manifestsRef` names the Secret holding its rendered
    manifests. `health` (beyond DESIGN §2's list) records the health the sync reached,
    so "the last Healthy revision" can be found without Git."""

    id: int
    revision: str
    deployed_at: str
    deploy_started_at: str | None = None
    initiated_by: str | None = None
    manifests_ref: str | None = None
    health: HealthStatusCode | None = None
    # sha256 of the stored manifests, kept here and not only beside them: whoever can
    # rewrite the history Secret cannot make a rollback apply what they wrote.
    manifests_digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "id": self.id,
                "revision": self.revision,
                "deployedAt": self.deployed_at,
                "deployStartedAt": self.deploy_started_at,
                "initiatedBy": self.initiated_by,
                "manifestsRef": self.manifests_ref,
                "manifestsDigest": self.manifests_digest,
                "health": self.health.value if self.health is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        return parse_alone(_parse_history_entry, data, "history entry")


def _parse_history_entry(fields: Fields) -> HistoryEntry:
    history_id = fields.optional_integer("id")
    if history_id is None and not fields.has("id"):
        fields.problem("id", "is required")
    deployed_at = fields.timestamp("deployedAt")
    if not fields.has("deployedAt"):
        fields.problem("deployedAt", "is required")
    health = fields.choice("health", HealthStatusCode, HealthStatusCode.UNKNOWN)
    return HistoryEntry(
        id=history_id or 0,
        revision=fields.required_string("revision"),
        deployed_at=deployed_at or "",
        deploy_started_at=fields.timestamp("deployStartedAt"),
        initiated_by=fields.optional_string("initiatedBy"),
        manifests_ref=fields.optional_string("manifestsRef"),
        health=health if fields.has("health") else None,
        manifests_digest=fields.optional_string("manifestsDigest"),
    )


@dataclass(frozen=True)
class BreakGlass:
    """A rollback from history is in force and Git does not match the cluster yet."""

    active: bool = False
    history_id: int | None = None
    since: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "active": self.active,
                "historyId": self.history_id,
                "since": self.since,
                "message": self.message,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakGlass:
        return parse_alone(_parse_break_glass, data, "break-glass state")


def _parse_break_glass(fields: Fields) -> BreakGlass:
    return BreakGlass(
        active=fields.boolean("active"),
        history_id=fields.optional_integer("historyId"),
        since=fields.timestamp("since"),
        message=fields.optional_string("message"),
    )


@dataclass(frozen=True)
class ApplicationStatus:
    """Status as the controller writes it. Unknown status fields are ignored on read (a
    newer controller may write more); lists are always written, even when empty, so a
    merge patch clears them."""

    sync: SyncStatus = field(default_factory=SyncStatus)
    health: HealthStatus = field(default_factory=HealthStatus)
    out_of_sync_since: str | None = None
    resources: tuple[ResourceStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()
    operation_state: OperationState | None = None
    history: tuple[HistoryEntry, ...] = ()
    break_glass: BreakGlass | None = None
    last_handled_reconcile_at: str | None = None  # the last reconcile-request token handled

    def to_dict(self) -> dict[str, Any]:
        return drop_none(
            {
                "sync": self.sync.to_dict(),
                "health": self.health.to_dict(),
                "outOfSyncSince": self.out_of_sync_since,
                "resources": [r.to_dict() for r in self.resources],
                "conditions": [c.to_dict() for c in self.conditions],
                "operationState": (
                    self.operation_state.to_dict() if self.operation_state is not None else None
                ),
                "history": [h.to_dict() for h in self.history],
                "breakGlass": self.break_glass.to_dict() if self.break_glass is not None else None,
                "lastHandledReconcileAt": self.last_handled_reconcile_at,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationStatus:
        return parse_alone(_parse_status, data, "Application status")


def _parse_status(fields: Fields) -> ApplicationStatus:
    sync, health = fields.child("sync"), fields.child("health")
    operation, break_glass = fields.child("operationState"), fields.child("breakGlass")
    return ApplicationStatus(
        sync=_parse_sync_status(sync) if sync is not None else SyncStatus(),
        health=_parse_health_status(health) if health is not None else HealthStatus(),
        out_of_sync_since=fields.timestamp("outOfSyncSince"),
        resources=tuple(_parse_resource_status(r) for r in fields.children("resources")),
        conditions=tuple(_parse_condition(c) for c in fields.children("conditions")),
        operation_state=_parse_operation_state(operation) if operation is not None else None,
        history=tuple(_parse_history_entry(h) for h in fields.children("history")),
        break_glass=_parse_break_glass(break_glass) if break_glass is not None else None,
        last_handled_reconcile_at=fields.optional_string("lastHandledReconcileAt"),
    )


# ------------------------------------------------------------------------- application

_METADATA_OWN_FIELDS = ("name", "namespace", "labels", "annotations")


@dataclass(frozen=True)
class Application:
    """An Application resource. `extra_metadata` keeps the server's metadata (uid,
    resourceVersion, finalizers, ...) so that a read-modify-write round-trips it."""

    name: str
    spec: ApplicationSpec
    namespace: str = DEFAULT_APP_NAMESPACE
    status: ApplicationStatus | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(API_GROUP, KIND, self.namespace, self.name)

    @property
    def auto_sync_enabled(self) -> bool:
        return self.spec.auto_sync_enabled

    @property
    def self_heal(self) -> bool:
        return self.spec.self_heal

    @property
    def auto_prune(self) -> bool:
        return self.spec.auto_prune

    @property
    def resource_version(self) -> str | None:
        value = self.extra_metadata.get("resourceVersion")
        return str(value) if value is not None else None

    def dependencies(self) -> list[tuple[str, str]]:
        """`dependsOn` as (namespace, name), the namespace defaulting to this one's."""
        return [(dep.namespace or self.namespace, dep.name) for dep in self.spec.depends_on]

    def tracking_id_for(self, key: ResourceKey) -> str:
        """The tracking annotation value for one object this application manages."""
        return tracking_id(self.namespace, self.name, key.group, key.kind, key.namespace, key.name)

    def to_dict(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        metadata.update(self.extra_metadata)
        wire: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata,
            "spec": self.spec.to_dict(),
        }
        if self.status is not None:
            wire["status"] = self.status.to_dict()
        return wire

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Application:
        """Parse and validate a whole resource; raise one InputError listing every problem."""
        problems = Problems()
        fields = Fields(obj, "", problems)
        _check_type_meta(fields)
        metadata = Fields(fields.data.get("metadata"), "metadata", problems)
        name = metadata.required_string("name")
        check_name(metadata, "name", name)
        namespace = metadata.string("namespace") or DEFAULT_APP_NAMESPACE
        check_namespace(metadata, "namespace", namespace)
        spec = fields.child("spec")
        if spec is None:
            fields.problem("spec", "is required")
            # Parse an empty spec quietly: its "is required" messages would repeat this one.
            spec = Fields({}, "spec", Problems())
        status = fields.child("status")
        application = cls(
            name=name,
            namespace=namespace,
            spec=_parse_spec(spec, app_namespace=namespace, app_name=name),
            status=_parse_status(status) if status is not None else None,
            labels=metadata.string_map("labels"),
            annotations=metadata.string_map("annotations"),
            extra_metadata=copy.deepcopy(
                {k: v for k, v in metadata.data.items() if k not in _METADATA_OWN_FIELDS}
            ),
        )
        problems.raise_if_any(f"Application {name}" if name else "Application")
        return application


def _check_type_meta(fields: Fields) -> None:
    api_version, kind = fields.data.get("apiVersion"), fields.data.get("kind")
    if api_version is None:
        fields.problem("apiVersion", f"is required (use {API_VERSION})")
    elif api_version != API_VERSION:
        fields.problem("apiVersion", f"must be {API_VERSION}, got {show(api_version)}")
    if kind is None:
        fields.problem("kind", f"is required (use {KIND})")
    elif kind != KIND:
        fields.problem("kind", f"must be {KIND}, got {show(kind)}")


# ----------------------------------------------------------------------- tracking ids


@dataclass(frozen=True)
class TrackingId:
    """`<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>`: which application manages an
    object, and which object the annotation was written for. The second half matters:
    an annotation copied onto another object (kubectl get -o yaml | edit | apply) must
    not make that object prunable."""

    app_namespace: str
    app_name: str
    group: str
    kind: str
    namespace: str
    name: str

    @property
    def resource_key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def describes(self, obj: Mapping[str, Any]) -> bool:
        """True when the id names `obj` itself (cluster-scoped: empty namespace)."""
        return ResourceKey.of(dict(obj)) == self.resource_key

    def belongs_to(self, app_namespace: str, app_name: str) -> bool:
        return (self.app_namespace, self.app_name) == (app_namespace, app_name)

    def __str__(self) -> str:
        return tracking_id(
            self.app_namespace, self.app_name, self.group, self.kind, self.namespace, self.name
        )


def tracking_id(
    app_namespace: str, app_name: str, group: str, kind: str, ns: str, name: str
) -> str:
    """The tracking annotation value. The core group and cluster scope are empty strings:
    `tether-system/web:/ConfigMap:prod/cfg`,
    `tether-system/web:rbac.authorization.k8s.io/ClusterRole:/view`."""
    return f"{app_namespace}/{app_name}:{group}/{kind}:{ns}/{name}"


def parse_tracking_id(value: str) -> TrackingId:
    """Inverse of `tracking_id`; InputError when `value` is not one. Namespaces, groups,
    kinds and app names never contain ':' or '/', and object names never '/'; an object
    name may contain ':' (RBAC names such as `cert-manager-webhook:subjectaccessreviews`),
    so only the first two ':' separate."""
    parts = value.split(":", 2)
    if len(parts) == 3:
        app, group_kind, object_ref = (part.split("/") for part in parts)
        if len(app) == 2 and len(group_kind) == 2 and len(object_ref) == 2:
            (app_namespace, app_name), (group, kind), (namespace, name) = (
                app,
                group_kind,
                object_ref,
            )
            if app_namespace and app_name and kind and name:
                return TrackingId(app_namespace, app_name, group, kind, namespace, name)
    raise InputError(
        f"invalid tracking id {show(value)}: "
        "expected <app-ns>/<app-name>:<group>/<kind>:<ns>/<name>"
    )


def tracking_id_of(obj: Mapping[str, Any]) -> TrackingId | None:
    """The tracking id of a live object, or None when the object is not tether's: no
    annotation, a malformed one, or one that describes some other object."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TRACKING_ANNOTATION)
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_tracking_id(value)
    except InputError:
        return None
    return parsed if parsed.describes(obj) else None


def is_managed_by(obj: Mapping[str, Any], app_namespace: str, app_name: str) -> bool:
    """Whether `obj` belongs to the application (the only objects it may ever prune)."""
    parsed = tracking_id_of(obj)
    return parsed is not None and parsed.belongs_to(app_namespace, app_name)
