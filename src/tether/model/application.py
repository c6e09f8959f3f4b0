"""The Application resource (DESIGN §2): the envelope (metadata, spec, status) and its
parsing; the parts live in names, source, spec, status and tracking, and are re-exported
here so that `tether.model.application` stays the one import for an Application.

Everything here is pure: objects come in as plain dicts (the wire form) and go back out
through `to_dict()`. Parsing collects every problem it finds and raises a single
`InputError` naming each field path, so a user fixes a manifest in one round trip.

Times in status are RFC 3339 strings supplied by the caller: this layer has no clock.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.model.fields import (
    Fields,
    Problems,
    check_name,
    check_namespace,
    show,
)
from tether.model.keys import ResourceKey
from tether.model.names import (
    API_GROUP,
    API_VERSION,
    DECRYPTION_PROVIDERS,
    DEFAULT_APP_NAMESPACE,
    DEFAULT_BACKOFF_DURATION,
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_BACKOFF_MAX_DURATION,
    DEFAULT_INTERVAL,
    DEFAULT_PATH,
    DEFAULT_PROJECT,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_REVISION_HISTORY_LIMIT,
    DEFAULT_TARGET_REVISION,
    DEFAULT_TIMEOUT,
    FIELD_MANAGER,
    KIND,
    RECONCILE_REQUESTED_ANNOTATION,
    RECONCILE_WITH_SOURCE_ANNOTATION,
    RENDERERS,
    TRACKING_ANNOTATION,
)
from tether.model.source import (
    Decryption,
    DirectorySource,
    HelmParameter,
    HelmSource,
    KustomizeSource,
    SecretRef,
    Source,
)
from tether.model.spec import (
    ApplicationSpec,
    Dependency,
    Destination,
    IgnoreDifference,
    parse_spec,
)
from tether.model.status import (
    CONDITION_ADOPTION_REQUIRED,
    CONDITION_BREAK_GLASS,
    CONDITION_CLUSTER_UNREACHABLE,
    CONDITION_COMPARISON_ERROR,
    CONDITION_EMPTY_RENDER,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_INVALID_SPEC,
    CONDITION_PROJECT_VIOLATION,
    CONDITION_SELF_HEAL_FAILING,
    CONDITION_SHARED_RESOURCE,
    CONDITION_SOURCE_ERROR,
    CONDITION_SYNC_ERROR,
    CONDITION_WAITING_FOR_DEPENDENCIES,
    ApplicationStatus,
    BreakGlass,
    Condition,
    ConditionStatus,
    HealthStatus,
    HealthStatusCode,
    HistoryEntry,
    OperationPhase,
    OperationState,
    ResourceStatus,
    SyncStatus,
    SyncStatusCode,
    find_condition,
    parse_status,
    remove_condition,
    set_condition,
)
from tether.model.sync_policy import (
    APP_SYNC_OPTIONS,
    AutomatedSync,
    Backoff,
    RetryPolicy,
    SyncPolicy,
    parse_sync_options,
)
from tether.model.tracking import (
    TrackingId,
    is_managed_by,
    parse_tracking_id,
    tracking_id,
    tracking_id_of,
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
            spec=parse_spec(spec, app_namespace=namespace, app_name=name),
            status=parse_status(status) if status is not None else None,
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


__all__ = [
    "API_GROUP",
    "API_VERSION",
    "APP_SYNC_OPTIONS",
    "CONDITION_ADOPTION_REQUIRED",
    "CONDITION_BREAK_GLASS",
    "CONDITION_CLUSTER_UNREACHABLE",
    "CONDITION_COMPARISON_ERROR",
    "CONDITION_EMPTY_RENDER",
    "CONDITION_HISTORY_REWRITTEN",
    "CONDITION_INVALID_SPEC",
    "CONDITION_PROJECT_VIOLATION",
    "CONDITION_SELF_HEAL_FAILING",
    "CONDITION_SHARED_RESOURCE",
    "CONDITION_SOURCE_ERROR",
    "CONDITION_SYNC_ERROR",
    "CONDITION_WAITING_FOR_DEPENDENCIES",
    "DECRYPTION_PROVIDERS",
    "DEFAULT_APP_NAMESPACE",
    "DEFAULT_BACKOFF_DURATION",
    "DEFAULT_BACKOFF_FACTOR",
    "DEFAULT_BACKOFF_MAX_DURATION",
    "DEFAULT_INTERVAL",
    "DEFAULT_PATH",
    "DEFAULT_PROJECT",
    "DEFAULT_RETRY_LIMIT",
    "DEFAULT_REVISION_HISTORY_LIMIT",
    "DEFAULT_TARGET_REVISION",
    "DEFAULT_TIMEOUT",
    "FIELD_MANAGER",
    "KIND",
    "RECONCILE_REQUESTED_ANNOTATION",
    "RECONCILE_WITH_SOURCE_ANNOTATION",
    "RENDERERS",
    "TRACKING_ANNOTATION",
    "Application",
    "ApplicationSpec",
    "ApplicationStatus",
    "AutomatedSync",
    "Backoff",
    "BreakGlass",
    "Condition",
    "ConditionStatus",
    "Decryption",
    "Dependency",
    "Destination",
    "DirectorySource",
    "HealthStatus",
    "HealthStatusCode",
    "HelmParameter",
    "HelmSource",
    "HistoryEntry",
    "IgnoreDifference",
    "KustomizeSource",
    "OperationPhase",
    "OperationState",
    "ResourceStatus",
    "RetryPolicy",
    "SecretRef",
    "Source",
    "SyncPolicy",
    "SyncStatus",
    "SyncStatusCode",
    "TrackingId",
    "find_condition",
    "is_managed_by",
    "parse_sync_options",
    "parse_tracking_id",
    "remove_condition",
    "set_condition",
    "tracking_id",
    "tracking_id_of",
]
