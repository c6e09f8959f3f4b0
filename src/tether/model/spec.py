"""`spec` of an Application besides its source: destination, sync policy and options,
ignore rules, dependencies; parsed and validated as a whole."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.model.fields import (
    Fields,
    check_name,
    check_namespace,
    drop_none,
    list_or_none,
    parse_alone,
    parse_duration,
    show,
)
from tether.model.health_checks import HealthCheck, parse_health_check
from tether.model.names import (
    DEFAULT_INTERVAL,
    DEFAULT_PROJECT,
    DEFAULT_REVISION_HISTORY_LIMIT,
    DEFAULT_TIMEOUT,
    MODE_DETECT_ONLY,
    MODE_NORMAL,
    MODES,
)
from tether.model.post_build import PostBuild, parse_post_build
from tether.model.source import Source, parse_source
from tether.model.sync_policy import (
    APP_SYNC_OPTIONS,
    AutomatedSync,
    Backoff,
    RetryPolicy,
    SyncPolicy,
    parse_sync_options,
    parse_sync_policy,
)

_BAD_POINTER_ESCAPE = re.compile(r"~(?![01])")  # RFC 6901: "~" only as ~0 or ~1

# ------------------------------------------------------------------------ sync options


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


@dataclass(frozen=True)
class KubeConfigRef:
    """Flux's `kubeConfig.secretRef`: a kubeconfig in a Secret of the Application's
    namespace, read again on every reconcile (a rotated token is used at once). `key`
    empty: `value`, then `value.yaml`."""

    name: str
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"secretRef": drop_none({"name": self.name, "key": self.key or None})}


def _parse_kube_config(fields: Fields) -> KubeConfigRef | None:
    fields.only(("secretRef",))
    ref = fields.child("secretRef")
    if ref is None:
        fields.problem("secretRef", "is required")
        return None
    ref.only(("name", "key"))
    name = ref.required_string("name")
    check_name(ref, "name", name)
    return KubeConfigRef(name=name, key=ref.optional_string("key") or "")


def _parse_destination(fields: Fields) -> Destination:
    fields.only(("namespace", "server", "name"))
    namespace = fields.optional_string("namespace")
    check_namespace(fields, "namespace", namespace)
    server, name = fields.optional_string("server"), fields.optional_string("name")
    if server and name:
        fields.problems.add(fields.path, "may set server or name, not both")
    return Destination(namespace=namespace or None, server=server or None, name=name or None)


# ------------------------------------------------------------------------- sync policy


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
    # Another cluster reached through a kubeconfig Secret (Flux's shape), instead of a
    # registered destination.name/server.
    kube_config: KubeConfigRef | None = None
    # Flux's variable substitution in the rendered objects (docs/compare.md).
    post_build: PostBuild | None = None
    mode: str = MODE_NORMAL  # MODE_DETECT_ONLY: compare and explain, never write

    @property
    def detect_only(self) -> bool:
        return self.mode == MODE_DETECT_ONLY

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
                "kubeConfig": self.kube_config.to_dict() if self.kube_config else None,
                "postBuild": self.post_build.to_dict() if self.post_build else None,
                "mode": self.mode if self.mode != MODE_NORMAL else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationSpec:
        return parse_alone(lambda f: parse_spec(f, app_namespace=None, app_name=None), data, "spec")


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
    "kubeConfig",
    "postBuild",
    "mode",
)


def parse_spec(fields: Fields, app_namespace: str | None, app_name: str | None) -> ApplicationSpec:
    fields.only(_SPEC_FIELDS)
    source = fields.child("source")
    if source is None:
        fields.problem("source", "is required")
    destination, sync_policy = fields.child("destination"), fields.child("syncPolicy")
    spec = ApplicationSpec(
        source=parse_source(source) if source is not None else Source(repo_url=""),
        destination=_parse_destination(destination) if destination is not None else Destination(),
        sync_policy=parse_sync_policy(sync_policy) if sync_policy is not None else SyncPolicy(),
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
        kube_config=(
            _parse_kube_config(kube) if (kube := fields.child("kubeConfig")) is not None else None
        ),
        post_build=(
            parse_post_build(post) if (post := fields.child("postBuild")) is not None else None
        ),
        mode=fields.string("mode", MODE_NORMAL) or MODE_NORMAL,
    )
    if spec.mode not in MODES:
        fields.problem("mode", f"must be one of {', '.join(MODES)}, got {spec.mode!r}")
    if spec.kube_config is not None and (spec.destination.server or spec.destination.name):
        fields.problem("kubeConfig", "may not be set with destination.server or destination.name")
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


__all__ = [
    "APP_SYNC_OPTIONS",
    "ApplicationSpec",
    "AutomatedSync",
    "Backoff",
    "Dependency",
    "Destination",
    "IgnoreDifference",
    "KubeConfigRef",
    "RetryPolicy",
    "SyncPolicy",
    "parse_spec",
    "parse_sync_options",
]
