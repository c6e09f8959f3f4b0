"""The Application model: parsing, defaults, validation, round trips, tracking ids, the CRD."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.errors import InputError
from tether.model.application import (
    API_VERSION,
    DEFAULT_APP_NAMESPACE,
    FIELD_MANAGER,
    TRACKING_ANNOTATION,
    Application,
    ApplicationStatus,
    Backoff,
    Condition,
    ConditionStatus,
    HealthStatusCode,
    OperationPhase,
    SyncStatusCode,
    TrackingId,
    find_condition,
    is_managed_by,
    parse_sync_options,
    parse_tracking_id,
    remove_condition,
    set_condition,
    tracking_id,
    tracking_id_of,
)
from tether.model.crd import CRD_FILES, application_crd, application_crd_text
from tether.model.fields import parse_duration
from tether.model.keys import ResourceKey
from tether.model.names import (
    COLUMN_EMPTY_RENDER,
    COLUMN_HEALTH,
    COLUMN_MESSAGE,
    COLUMN_OUT_OF_SYNC_SINCE,
    COLUMN_REVISION,
    COLUMN_SYNC,
    MODES,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_CRD = REPO_ROOT / "deploy" / "crds" / "application.yaml"
PACKAGE_CRD = REPO_ROOT / "src" / "tether" / "model" / "crds" / "application.yaml"

# DESIGN §2, every field set.
DESIGN_EXAMPLE = """
apiVersion: tether.dev/v1alpha1
kind: Application
metadata:
  name: api-service
  namespace: tether-system
spec:
  source:
    repoURL: file:///srv/gitops.git
    targetRevision: main
    path: apps/api-service
    directory: {recurse: true}
    decryption: {provider: sops, secretRef: {name: sops-age}}
  destination: {namespace: production}
  syncPolicy:
    automated: {prune: true, selfHeal: true, allowEmpty: false}
    syncOptions: [CreateNamespace=true, PruneLast=true, ServerSideApply=true,
                  RespectIgnoreDifferences=true]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
  ignoreDifferences:
  - {group: apps, kind: Deployment, name: api-service, jsonPointers: [/spec/replicas]}
  - {kind: Secret, jqPathExpressions: ['.data["rotated-key"]']}
  - {group: "*", kind: "*", managedFieldsManagers: [kube-controller-manager]}
  dependsOn: [{name: crds}]
  suspend: false
  interval: 3m
  timeout: 5m
  revisionHistoryLimit: 10
"""

FULL_STATUS: dict[str, Any] = {
    "sync": {"status": "OutOfSync", "revision": "a" * 40, "comparedAt": "2024-05-01T12:00:00Z"},
    "health": {"status": "Degraded", "message": "Deployment api-service: 0/3 available"},
    "outOfSyncSince": "2024-05-01T11:59:00Z",
    "resources": [
        {
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": "production",
            "name": "api-service",
            "status": "OutOfSync",
            "health": {"status": "Degraded", "message": "0/3 available"},
            "drift": ["/spec/template/spec/containers/0/image"],
        },
        {"version": "v1", "kind": "Namespace", "name": "production", "status": "Synced"},
    ],
    "conditions": [
        {
            "type": "HistoryRewritten",
            "status": "True",
            "reason": "NotDescendant",
            "message": "main was force-pushed",
            "lastTransitionTime": "2024-05-01T11:00:00Z",
        }
    ],
    "operationState": {
        "phase": "Failed",
        "revision": "b" * 40,
        "startedAt": "2024-05-01T11:58:00Z",
        "finishedAt": "2024-05-01T11:59:00Z",
        "message": "health wait timed out",
        "initiatedBy": "automated",
        "retryCount": 2,
    },
    "history": [
        {
            "id": 7,
            "revision": "c" * 40,
            "deployedAt": "2024-04-30T10:01:00Z",
            "deployStartedAt": "2024-04-30T10:00:00Z",
            "initiatedBy": "alice",
            "manifestsRef": "api-service-history-7",
            "health": "Healthy",
        }
    ],
    "breakGlass": {
        "active": True,
        "historyId": 7,
        "since": "2024-05-01T12:00:00Z",
        "message": "rolled back to history 7",
    },
}


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DESIGN_EXAMPLE)
    return loaded


def minimal(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"source": {"repoURL": "https://git.example.com/org/repo.git"}, **spec},
    }


def error_of(obj: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        Application.from_dict(obj)
    return str(caught.value)


# ------------------------------------------------------------------------------ parsing


def test_parses_every_field_of_the_design_example() -> None:
    app = Application.from_dict(example())
    spec = app.spec

    assert (app.namespace, app.name) == ("tether-system", "api-service")
    assert spec.source.repo_url == "file:///srv/gitops.git"
    assert spec.source.target_revision == "main"
    assert spec.source.path == "apps/api-service"
    assert spec.source.directory is not None and spec.source.directory.recurse
    assert spec.source.render_type == "directory"
    assert spec.source.decryption is not None
    assert spec.source.decryption.provider == "sops"
    assert spec.source.decryption.secret_ref is not None
    assert spec.source.decryption.secret_ref.name == "sops-age"
    assert spec.destination.namespace == "production"
    assert (app.auto_sync_enabled, app.self_heal, app.auto_prune) == (True, True, True)
    assert not spec.allow_empty
    assert spec.sync_options == {
        "CreateNamespace": "true",
        "PruneLast": "true",
        "ServerSideApply": "true",
        "RespectIgnoreDifferences": "true",
    }
    assert spec.sync_policy.option_enabled("PruneLast")
    retry = spec.sync_policy.retry
    assert retry is not None and retry.limit == 5
    assert (retry.backoff.duration_seconds, retry.backoff.factor) == (5.0, 2.0)
    assert retry.backoff.max_duration_seconds == 180.0
    deployment, secret, managers = spec.ignore_differences
    assert (deployment.group, deployment.kind, deployment.name) == (
        "apps",
        "Deployment",
        "api-service",
    )
    assert deployment.json_pointers == ("/spec/replicas",)
    assert (secret.group, secret.jq_path_expressions) == ("", ('.data["rotated-key"]',))
    assert (managers.group, managers.kind) == ("*", "*")
    assert managers.managed_fields_managers == ("kube-controller-manager",)
    assert app.dependencies() == [("tether-system", "crds")]
    assert not spec.suspend
    assert (spec.interval_seconds, spec.timeout_seconds) == (180.0, 300.0)
    assert spec.revision_history_limit == 10
    assert app.status is None


def test_minimal_application_gets_the_documented_defaults() -> None:
    app = Application.from_dict(minimal())

    assert app.namespace == DEFAULT_APP_NAMESPACE == "tether-system"
    assert app.spec.source.target_revision == "HEAD"
    assert app.spec.source.path == "."
    assert app.spec.source.render_type is None  # detected from the tree
    assert app.spec.destination.namespace is None
    assert not (app.auto_sync_enabled or app.self_heal or app.auto_prune)
    assert app.spec.sync_policy.retry is None
    assert app.spec.sync_options == {}
    assert (app.spec.interval, app.spec.timeout) == ("3m", "5m")
    assert app.spec.revision_history_limit == 10
    assert not app.spec.suspend


def test_empty_automated_turns_auto_sync_on_with_options_off() -> None:
    app = Application.from_dict(minimal(syncPolicy={"automated": {}}))
    assert app.auto_sync_enabled
    assert not (app.self_heal or app.auto_prune or app.spec.allow_empty)


def test_retry_without_backoff_uses_the_default_backoff() -> None:
    app = Application.from_dict(minimal(syncPolicy={"retry": {"limit": 2}}))
    retry = app.spec.sync_policy.retry
    assert retry is not None and retry.limit == 2
    assert retry.backoff == Backoff(duration="5s", factor=2.0, max_duration="3m")


@pytest.mark.parametrize(
    ("renderer", "settings"),
    [
        ("kustomize", {}),
        ("kustomize", {"namePrefix": "dev-", "images": ["nginx=nginx:1.27"]}),
        ("helm", {"releaseName": "x", "valueFiles": ["values-prod.yaml"], "values": "a: 1\n"}),
        ("helm", {"parameters": [{"name": "image.tag", "value": "1.2.3"}]}),
    ],
)
def test_kustomize_and_helm_sources(renderer: str, settings: dict[str, Any]) -> None:
    obj = minimal()
    obj["spec"]["source"][renderer] = settings
    app = Application.from_dict(obj)
    assert app.spec.source.render_type == renderer
    assert app.to_dict()["spec"]["source"][renderer] == settings


def test_metadata_is_kept_for_read_modify_write() -> None:
    obj = minimal()
    obj["metadata"].update(
        namespace="team-a",
        labels={"team": "a"},
        annotations={"note": "x"},
        resourceVersion="42",
        uid="1234",
        finalizers=["tether.dev/cascade"],
    )
    app = Application.from_dict(obj)
    assert app.resource_version == "42"
    assert app.labels == {"team": "a"}
    assert app.key == ResourceKey("tether.dev", "Application", "team-a", "web")
    assert app.to_dict()["metadata"] == obj["metadata"]


def test_depends_on_defaults_to_own_namespace() -> None:
    obj = minimal(dependsOn=[{"name": "crds"}, {"name": "db", "namespace": "data"}])
    obj["metadata"]["namespace"] = "apps"
    assert Application.from_dict(obj).dependencies() == [("apps", "crds"), ("data", "db")]


# --------------------------------------------------------------------------- round trips


def test_design_example_round_trips_exactly() -> None:
    obj = example()
    app = Application.from_dict(obj)
    assert app.to_dict() == obj
    assert Application.from_dict(app.to_dict()) == app


def test_minimal_round_trips_with_defaults_written_out() -> None:
    app = Application.from_dict(minimal())
    wire = app.to_dict()
    assert wire["spec"]["source"] == {
        "repoURL": "https://git.example.com/org/repo.git",
        "targetRevision": "HEAD",
        "path": ".",
    }
    assert "syncPolicy" not in wire["spec"]  # unset optionals are omitted
    assert "ignoreDifferences" not in wire["spec"]
    assert Application.from_dict(wire) == app


def test_status_round_trips() -> None:
    obj = minimal()
    obj["status"] = copy.deepcopy(FULL_STATUS)
    app = Application.from_dict(obj)
    status = app.status
    assert status is not None
    assert status.sync.status is SyncStatusCode.OUT_OF_SYNC
    assert status.health.status is HealthStatusCode.DEGRADED
    assert status.resources[0].key == ResourceKey("apps", "Deployment", "production", "api-service")
    assert status.operation_state is not None
    assert status.operation_state.phase is OperationPhase.FAILED
    assert status.history[0].health is HealthStatusCode.HEALTHY
    assert status.break_glass is not None and status.break_glass.history_id == 7
    assert app.to_dict()["status"] == FULL_STATUS
    assert ApplicationStatus.from_dict(status.to_dict()) == status


def test_empty_status_is_unknown_and_writes_its_lists() -> None:
    status = ApplicationStatus.from_dict({"outOfSyncSince": None, "someNewField": 1})
    assert status.sync.status is SyncStatusCode.UNKNOWN
    assert status.to_dict() == {
        "sync": {"status": "Unknown"},
        "health": {"status": "Unknown"},
        "resources": [],
        "conditions": [],
        "history": [],
    }


def test_to_dict_is_plain_data_yaml_can_dump() -> None:
    obj = minimal()
    obj["status"] = copy.deepcopy(FULL_STATUS)
    wire = Application.from_dict(obj).to_dict()
    # StrEnum members would make safe_dump fail; the wire form holds plain str.
    assert yaml.safe_load(yaml.safe_dump(wire)) == wire


# ---------------------------------------------------------------------------- validation


DELETE = object()  # a case that removes the field instead of setting it


def _mutated(path: str, value: Any) -> dict[str, Any]:
    """The DESIGN example with the dotted `path` set to `value` (or deleted)."""
    obj = example()
    *parents, last = path.split(".")
    target = obj
    for key in parents:
        target = target.setdefault(key, {})
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return obj


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            "apiVersion",
            "argoproj.io/v1alpha1",
            'apiVersion must be tether.dev/v1alpha1, got "argoproj.io/v1alpha1"',
        ),
        ("apiVersion", DELETE, "apiVersion is required"),
        ("kind", "Kustomization", 'kind must be Application, got "Kustomization"'),
        ("metadata.name", DELETE, "metadata.name is required"),
        ("metadata.name", "Api_Service", "metadata.name must be a DNS-1123 subdomain"),
        ("metadata.name", "a" * 254, "metadata.name must be a DNS-1123 subdomain"),
        ("metadata.namespace", "team.a", "metadata.namespace must be a DNS-1123 label"),
        ("metadata.labels", {"a": 1}, "metadata.labels.a must be a string"),
        ("spec", DELETE, "spec is required"),
        ("spec.extra", 1, "spec.extra is not a known field"),
        ("spec.source", DELETE, "spec.source is required"),
        ("spec.source.repoURL", DELETE, "spec.source.repoURL is required"),
        ("spec.source.repoURL", "ftp://x/y", "spec.source.repoURL must be a git URL"),
        (
            "spec.source.repoURL",
            3,
            "spec.source.repoURL must be a string (quote it in YAML), got 3",
        ),
        ("spec.source.targetRevision", 1.0, "spec.source.targetRevision must be a string"),
        ("spec.source.targetRevision", "", "spec.source.targetRevision must not be empty"),
        ("spec.source.path", "/etc", "spec.source.path must be a relative path"),
        ("spec.source.path", "apps/../../x", "spec.source.path must be a relative path"),
        (
            "spec.source.kustomize",
            {},
            "spec.source may set only one of directory, kustomize, helm, got directory, kustomize",
        ),
        (
            "spec.source.directory.recurse",
            "yes",
            'spec.source.directory.recurse must be true or false, got "yes"',
        ),
        (
            "spec.source.decryption.provider",
            "vault",
            'spec.source.decryption.provider must be one of sops, got "vault"',
        ),
        (
            "spec.source.decryption.secretRef",
            {},
            "spec.source.decryption.secretRef.name is required",
        ),
        (
            "spec.destination.namespace",
            "Prod",
            "spec.destination.namespace must be a DNS-1123 label",
        ),
        ("spec.destination.server", "https://k", ""),  # alone it is fine
        (
            "spec.destination",
            {"server": "https://k", "name": "c"},
            "spec.destination may set server or name, not both",
        ),
        (
            "spec.syncPolicy.automated.selfHeal",
            1,
            "spec.syncPolicy.automated.selfHeal must be true or false, got 1",
        ),
        (
            "spec.syncPolicy.syncOptions",
            ["PruneLast"],
            "spec.syncPolicy.syncOptions[0] must look like Name=value "
            '(e.g. CreateNamespace=true), got "PruneLast"',
        ),
        (
            "spec.syncPolicy.syncOptions",
            "CreateNamespace=true",
            "spec.syncPolicy.syncOptions must be a list of strings",
        ),
        (
            "spec.syncPolicy.retry.limit",
            -1,
            "spec.syncPolicy.retry.limit must be an integer >= 0, got -1",
        ),
        (
            "spec.syncPolicy.retry.limit",
            True,
            "spec.syncPolicy.retry.limit must be an integer >= 0, got true",
        ),
        (
            "spec.syncPolicy.retry.backoff.factor",
            "x",
            'spec.syncPolicy.retry.backoff.factor must be a number >= 1, got "x"',
        ),
        (
            "spec.syncPolicy.retry.backoff.factor",
            0.5,
            "spec.syncPolicy.retry.backoff.factor must be a number >= 1, got 0.5",
        ),
        (
            "spec.syncPolicy.retry.backoff.duration",
            "5 s",
            "spec.syncPolicy.retry.backoff.duration must be a duration like "
            '"90s", "5m" or "1h30m", got "5 s"',
        ),
        (
            "spec.syncPolicy.retry.backoff.maxDuration",
            "1s",
            "spec.syncPolicy.retry.backoff.maxDuration must not be shorter than duration (5s)",
        ),
        (
            "spec.ignoreDifferences",
            [{"jsonPointers": ["/a"]}],
            "spec.ignoreDifferences[0].kind is required",
        ),
        (
            "spec.ignoreDifferences",
            [{"kind": "X"}],
            "spec.ignoreDifferences[0] must list jsonPointers, jqPathExpressions "
            "or managedFieldsManagers",
        ),
        (
            "spec.ignoreDifferences",
            [{"kind": "X", "jsonPointers": ["spec/replicas"]}],
            "spec.ignoreDifferences[0].jsonPointers[0] must be an RFC 6901 JSON pointer",
        ),
        (
            "spec.ignoreDifferences",
            [{"kind": "X", "jsonPointers": ["/a~2b"]}],
            "spec.ignoreDifferences[0].jsonPointers[0] must be an RFC 6901 JSON pointer",
        ),
        ("spec.ignoreDifferences", {"kind": "X"}, "spec.ignoreDifferences must be a list"),
        ("spec.dependsOn", [{"namespace": "x"}], "spec.dependsOn[0].name is required"),
        (
            "spec.dependsOn",
            [{"name": "api-service"}],
            "spec.dependsOn[0] names the application itself",
        ),
        ("spec.suspend", "false", 'spec.suspend must be true or false, got "false"'),
        (
            "spec.interval",
            300,
            'spec.interval must be a duration like "90s", "5m" or "1h30m", got 300',
        ),
        ("spec.interval", "0s", 'spec.interval must be longer than zero, got "0s"'),
        ("spec.timeout", "5 minutes", "spec.timeout must be a duration"),
        (
            "spec.revisionHistoryLimit",
            "10",
            'spec.revisionHistoryLimit must be an integer >= 0, got "10"',
        ),
        (
            "status.sync.status",
            "Fine",
            'status.sync.status must be one of Synced, OutOfSync, Unknown, got "Fine"',
        ),
        (
            "status.health.status",
            "OK",
            "status.health.status must be one of Healthy, Suspended, Progressing",
        ),
        (
            "status.conditions",
            [{"type": "X", "status": "yes"}],
            "status.conditions[0].status must be one of True, False, Unknown",
        ),
        ("status.operationState", {"revision": "abc"}, "status.operationState.phase is required"),
        (
            "status.history",
            [{"revision": "abc", "deployedAt": "2024-01-01T00:00:00Z"}],
            "status.history[0].id is required",
        ),
        ("status.outOfSyncSince", "yesterday", "status.outOfSyncSince must be an RFC 3339 time"),
    ],
)
def test_each_validation_error_names_its_field(path: str, value: Any, expected: str) -> None:
    obj = _mutated(path, value)
    if not expected:
        Application.from_dict(obj)
        return
    message = error_of(obj)
    assert expected in message
    assert "\n" not in message


def test_error_names_the_application_and_the_field() -> None:
    obj = example()
    del obj["spec"]["source"]["repoURL"]
    assert error_of(obj) == "Application api-service: spec.source.repoURL is required"


def test_all_problems_are_reported_at_once_on_one_line() -> None:
    obj = example()
    del obj["spec"]["source"]["repoURL"]
    obj["spec"]["interval"] = "soon"
    obj["spec"]["syncPolicy"]["retry"]["backoff"]["factor"] = "x"
    message = error_of(obj)
    assert message.startswith("Application api-service: ")
    assert message.count("; ") == 2
    assert "\n" not in message


def test_unknown_field_suggests_the_right_spelling() -> None:
    obj = minimal()
    obj["spec"]["source"]["repoUrl"] = obj["spec"]["source"].pop("repoURL")
    assert "spec.source.repoUrl is not a known field (did you mean repoURL?)" in error_of(obj)


def test_multiline_values_stay_on_one_line_in_errors() -> None:
    obj = minimal()
    obj["spec"]["source"]["helm"] = {"values": {"replicas": 3}, "releaseName": "Bad\nName"}
    message = error_of(obj)
    assert "spec.source.helm.values must be a string of YAML" in message
    assert "spec.source.helm.releaseName must be a valid Helm release name" in message
    assert "\n" not in message


def test_non_mapping_resource_is_rejected() -> None:
    with pytest.raises(InputError, match="must be an object"):
        Application.from_dict([1, 2])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2h45m30.5s", 9930.5),
        ("10us", 1e-5),
        ("0", 0.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5 m", "-5m", "5min", "1d", "1h30", "five"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(InputError, match="invalid duration"):
        parse_duration(text)


def test_backoff_delay_grows_and_is_capped() -> None:
    backoff = Backoff(duration="5s", factor=2, max_duration="1m")
    assert [backoff.delay_seconds(n) for n in range(5)] == [5, 10, 20, 40, 60]
    assert backoff.delay_seconds(10_000) == 60
    assert backoff.to_dict() == {"duration": "5s", "factor": 2, "maxDuration": "1m"}


@pytest.mark.parametrize("factor", [float("nan"), float("inf"), [2]])
def test_backoff_factor_must_be_a_finite_number(factor: Any) -> None:
    obj = minimal(syncPolicy={"retry": {"backoff": {"factor": factor}}})
    assert "spec.syncPolicy.retry.backoff.factor must be a number >= 1" in error_of(obj)


def test_enum_fields_reject_non_strings() -> None:
    obj = minimal()
    obj["status"] = {"sync": {"status": ["Synced"]}}
    assert "status.sync.status must be one of Synced, OutOfSync, Unknown" in error_of(obj)


# -------------------------------------------------------------------------- sync options


def test_sync_options_keep_unknown_options_and_last_value_wins() -> None:
    parsed = parse_sync_options(["CreateNamespace=true", "FutureOption=x=y", "Prune=false"])
    assert parsed == {"CreateNamespace": "true", "FutureOption": "x=y", "Prune": "false"}
    assert parse_sync_options(["Prune=false", "Prune=confirm"]) == {"Prune": "confirm"}


def test_sync_options_round_trip_through_the_spec() -> None:
    options = ["CreateNamespace=true", "Adopt=false"]
    app = Application.from_dict(minimal(syncPolicy={"syncOptions": options}))
    assert app.spec.sync_policy.option("Adopt") == "false"
    assert not app.spec.sync_policy.option_enabled("PruneLast")
    assert app.to_dict()["spec"]["syncPolicy"]["syncOptions"] == options


def test_an_unknown_sync_option_is_refused_with_a_suggestion() -> None:
    with pytest.raises(
        InputError,
        match=r"syncOptions\[1\] \"CreateNamspace\" is not a known"
        r" sync option \(did you mean CreateNamespace\?\)",
    ):
        Application.from_dict(
            minimal(syncPolicy={"syncOptions": ["PruneLast=true", "CreateNamspace=true"]})
        )
    with pytest.raises(InputError, match='CreateNamespace must be true or false, got "yes"'):
        Application.from_dict(minimal(syncPolicy={"syncOptions": ["CreateNamespace=yes"]}))
    # A known option is accepted: the refusal is about the name, not the list.
    Application.from_dict(minimal(syncPolicy={"syncOptions": ["CreateNamespace=true"]}))


def test_project_and_service_account_round_trip() -> None:
    app = Application.from_dict(minimal(project="payments", serviceAccountName="deployer"))
    assert (app.spec.project, app.spec.service_account_name) == ("payments", "deployer")
    assert app.to_dict()["spec"]["project"] == "payments"
    assert app.to_dict()["spec"]["serviceAccountName"] == "deployer"
    plain = Application.from_dict(minimal())
    assert (plain.spec.project, plain.spec.service_account_name) == ("default", None)
    assert "project" not in plain.to_dict()["spec"]
    with pytest.raises(InputError, match=r"spec\.serviceAccountName must be a DNS-1123"):
        Application.from_dict(minimal(serviceAccountName="Not_Valid"))


def test_malformed_sync_option_is_an_input_error() -> None:
    with pytest.raises(InputError, match="Name=value"):
        parse_sync_options(["=true"])


# -------------------------------------------------------------------------- tracking ids


def _obj(api: str, kind: str, name: str, ns: str | None, tid: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns is not None:
        meta["namespace"] = ns
    if tid is not None:
        meta["annotations"] = {TRACKING_ANNOTATION: tid}
    return {"apiVersion": api, "kind": kind, "metadata": meta}


def test_constants() -> None:
    assert TRACKING_ANNOTATION == "tether.dev/tracking-id"
    assert FIELD_MANAGER == "tether"
    assert API_VERSION == "tether.dev/v1alpha1"


def test_tracking_id_format() -> None:
    assert (
        tracking_id("tether-system", "api", "apps", "Deployment", "prod", "api")
        == "tether-system/api:apps/Deployment:prod/api"
    )
    assert tracking_id("t", "a", "", "ConfigMap", "prod", "cfg") == "t/a:/ConfigMap:prod/cfg"
    assert (
        tracking_id("t", "a", "rbac.authorization.k8s.io", "ClusterRole", "", "view")
        == "t/a:rbac.authorization.k8s.io/ClusterRole:/view"
    )


@pytest.mark.parametrize(
    "value",
    [
        "tether-system/api:apps/Deployment:prod/api",
        "t/a:/ConfigMap:prod/cfg",
        "t/a:rbac.authorization.k8s.io/ClusterRole:/view",
        # RBAC object names may contain ':' (cert-manager's ClusterRoles do)
        "t/a:rbac.authorization.k8s.io/ClusterRole:/cert-manager-webhook:subjectaccessreviews",
        "t/a:rbac.authorization.k8s.io/Role:kube-system/cert-manager:leaderelection",
    ],
)
def test_parse_tracking_id_round_trips(value: str) -> None:
    assert str(parse_tracking_id(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "api",
        "t/a:apps/Deployment",
        "t/a:Deployment:prod/api",
        "/a:apps/Deployment:prod/api",
        "t/:apps/Deployment:prod/api",
        "t/a:apps/:prod/api",
        "t/a:apps/Deployment:prod/",
        "t/a:apps/Deployment:prod/api/extra",
        "t/a/b:apps/Deployment:prod/api",
    ],
)
def test_parse_tracking_id_rejects_malformed(value: str) -> None:
    with pytest.raises(InputError, match="invalid tracking id"):
        parse_tracking_id(value)


def test_tracking_id_describes_the_object_itself() -> None:
    tid = "t/web:apps/Deployment:prod/api"
    parsed = parse_tracking_id(tid)
    assert parsed.describes(_obj("apps/v1", "Deployment", "api", "prod", tid))
    assert tracking_id_of(_obj("apps/v1", "Deployment", "api", "prod", tid)) == parsed
    assert is_managed_by(_obj("apps/v1", "Deployment", "api", "prod", tid), "t", "web")
    assert not is_managed_by(_obj("apps/v1", "Deployment", "api", "prod", tid), "t", "other")


@pytest.mark.parametrize(
    ("api", "kind", "name", "ns"),
    [
        ("apps/v1", "Deployment", "api-copy", "prod"),  # annotation copied to another object
        ("apps/v1", "Deployment", "api", "staging"),  # same name, other namespace
        ("apps/v1", "StatefulSet", "api", "prod"),  # other kind
        ("extensions/v1beta1", "Deployment", "api", "prod"),  # other group
    ],
)
def test_object_whose_tracking_id_describes_another_is_not_ours(
    api: str, kind: str, name: str, ns: str
) -> None:
    obj = _obj(api, kind, name, ns, "t/web:apps/Deployment:prod/api")
    assert tracking_id_of(obj) is None
    assert not is_managed_by(obj, "t", "web")


def test_cluster_scoped_objects_have_an_empty_namespace() -> None:
    tid = tracking_id("t", "web", "rbac.authorization.k8s.io", "ClusterRole", "", "view")
    cluster_role = _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "view", None, tid)
    assert tracking_id_of(cluster_role) == TrackingId(
        "t", "web", "rbac.authorization.k8s.io", "ClusterRole", "", "view"
    )
    # An empty-string namespace on the object counts as none.
    cluster_role["metadata"]["namespace"] = ""
    assert is_managed_by(cluster_role, "t", "web")
    # A tracking id that claims a namespace does not describe a cluster-scoped object.
    claims_ns = tracking_id("t", "web", "rbac.authorization.k8s.io", "ClusterRole", "prod", "view")
    assert not is_managed_by(
        _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "view", None, claims_ns), "t", "web"
    )


def test_core_group_objects() -> None:
    tid = tracking_id("t", "web", "", "Namespace", "", "prod")
    assert is_managed_by(_obj("v1", "Namespace", "prod", None, tid), "t", "web")


@pytest.mark.parametrize("annotation", [None, "garbage", "t/web:apps/Deployment"])
def test_objects_without_a_valid_tracking_id_are_not_ours(annotation: str | None) -> None:
    assert tracking_id_of(_obj("apps/v1", "Deployment", "api", "prod", annotation)) is None


def test_application_builds_tracking_ids_for_its_objects() -> None:
    app = Application.from_dict(example())
    key = ResourceKey("apps", "Deployment", "production", "api-service")
    assert (
        app.tracking_id_for(key)
        == "tether-system/api-service:apps/Deployment:production/api-service"
    )


# ---------------------------------------------------------------------------- conditions

T0, T1 = "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"


def test_new_condition_gets_now() -> None:
    ready = Condition("Ready", ConditionStatus.TRUE, "Synced", "all good")
    (stored,) = set_condition([], ready, T0)
    assert stored.last_transition_time == T0


def test_condition_keeps_transition_time_when_status_unchanged() -> None:
    conditions = set_condition([], Condition("Ready", ConditionStatus.TRUE, "A", "a"), T0)
    conditions = set_condition(conditions, Condition("Ready", ConditionStatus.TRUE, "B", "b"), T1)
    (stored,) = conditions
    assert (stored.reason, stored.message, stored.last_transition_time) == ("B", "b", T0)


def test_condition_transition_time_moves_when_status_changes() -> None:
    conditions = set_condition([], Condition("Ready", ConditionStatus.TRUE), T0)
    conditions = set_condition(conditions, Condition("Ready", ConditionStatus.FALSE), T1)
    assert conditions[0].last_transition_time == T1


def test_set_condition_keeps_others_in_place_and_one_per_type() -> None:
    a = Condition("A", ConditionStatus.TRUE, last_transition_time=T0)
    b = Condition("B", ConditionStatus.TRUE, last_transition_time=T0)
    duplicate_a = Condition("A", ConditionStatus.FALSE, last_transition_time=T0)
    updated = set_condition([a, b, duplicate_a], Condition("A", ConditionStatus.TRUE), T1)
    assert [(c.type, c.last_transition_time) for c in updated] == [("A", T0), ("B", T0)]
    assert set_condition([a], b, T1) == [a, Condition("B", ConditionStatus.TRUE, "", "", T1)]


def test_find_and_remove_condition() -> None:
    a = Condition("A", ConditionStatus.TRUE, last_transition_time=T0)
    assert find_condition([a], "A") == a
    assert find_condition([a], "B") is None
    assert remove_condition([a], "A") == []


def test_condition_round_trip() -> None:
    wire = {"type": "A", "status": "False", "reason": "R", "message": "m", "lastTransitionTime": T0}
    assert Condition.from_dict(wire).to_dict() == wire


# ----------------------------------------------------------------------------------- CRD


def _schemas(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node under an OpenAPI v3 schema, with a readable path."""
    yield path or "<root>", node
    for name, child in (node.get("properties") or {}).items():
        yield from _schemas(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _schemas(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _schemas(node["additionalProperties"], f"{path}{{}}")


def _version() -> dict[str, Any]:
    (version,) = application_crd()["spec"]["versions"]
    assert isinstance(version, dict)
    return version


def _schema_at(*path: str) -> dict[str, Any]:
    node: dict[str, Any] = _version()["schema"]["openAPIV3Schema"]
    for name in path:
        node = node["properties"][name]
    return node


def test_crd_files_are_byte_identical() -> None:
    assert DEPLOY_CRD.read_bytes() == PACKAGE_CRD.read_bytes()
    assert application_crd_text().encode() == DEPLOY_CRD.read_bytes()
    for name in CRD_FILES:
        assert (DEPLOY_CRD.parent / name).read_bytes() == (PACKAGE_CRD.parent / name).read_bytes()


def test_crd_identity() -> None:
    crd = application_crd()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "applications.tether.dev"
    spec = crd["spec"]
    assert (spec["group"], spec["scope"]) == ("tether.dev", "Namespaced")
    assert spec["names"]["kind"] == "Application"
    assert spec["names"]["plural"] == "applications"
    assert spec["names"]["shortNames"] == ["tapp", "tapps"]
    assert spec["names"]["categories"] == ["tether"]
    version = _version()
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    # `app list` reads these by name from the server's table (tether.model.names).
    assert columns == {
        COLUMN_SYNC: ".status.sync.status",
        COLUMN_HEALTH: ".status.health.status",
        COLUMN_REVISION: ".status.sync.revision",
        "Age": ".metadata.creationTimestamp",
        COLUMN_MESSAGE: ".status.message",
        COLUMN_OUT_OF_SYNC_SINCE: ".status.outOfSyncSince",
        COLUMN_EMPTY_RENDER: '.status.conditions[?(@.type=="EmptyRender")].status',
    }
    # kubectl shows the message; the two columns only `app list` needs are wide-only.
    wide_only = {c["name"] for c in version["additionalPrinterColumns"] if c.get("priority")}
    assert wide_only == {COLUMN_OUT_OF_SYNC_SINCE, COLUMN_EMPTY_RENDER}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["message"]["type"] == "string"


def test_crd_schema_is_structural() -> None:
    root = _version()["schema"]["openAPIV3Schema"]
    for path, node in _schemas(root):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "array":
            assert "items" in node, path
        for required in node.get("required", []):
            assert required in node.get("properties", {}), f"{path} requires {required}"


def test_crd_application_copy_is_independent() -> None:
    first = application_crd()
    first["metadata"]["name"] = "changed"
    assert application_crd()["metadata"]["name"] == "applications.tether.dev"


def _apply_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """The API server's structural defaulting, enough for this schema."""
    if isinstance(value, dict):
        for name, child in (schema.get("properties") or {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = _apply_defaults(value[name], child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_apply_defaults(item, schema["items"]) for item in value]
    return value


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"syncPolicy": {"automated": {}, "retry": {}}},
        {"syncPolicy": {"retry": {"backoff": {}}}},
    ],
)
def test_crd_defaults_match_the_model_defaults(spec: dict[str, Any]) -> None:
    obj = minimal(**spec)
    obj["spec"]["source"]["decryption"] = {}
    obj["spec"]["source"]["directory"] = {}
    defaulted = _apply_defaults(copy.deepcopy(obj), _version()["schema"]["openAPIV3Schema"])
    assert Application.from_dict(defaulted) == Application.from_dict(obj)
    assert defaulted["spec"] == Application.from_dict(obj).to_dict()["spec"]


def test_crd_enums_match_the_model() -> None:
    def enum(*path: str) -> list[str]:
        node = _schema_at(*path)
        values: list[str] = node["enum"]
        return values

    assert enum("status", "sync", "status") == [s.value for s in SyncStatusCode]
    assert enum("status", "health", "status") == [s.value for s in HealthStatusCode]
    assert enum("status", "operationState", "phase") == [s.value for s in OperationPhase]
    assert tuple(enum("spec", "mode")) == MODES
    conditions = _schema_at("status", "conditions")["items"]["properties"]["status"]["enum"]
    assert conditions == [s.value for s in ConditionStatus]


def test_crd_spec_fields_match_the_model_fields() -> None:
    spec = _schema_at("spec")
    every = example()
    every["spec"].update(
        project="payments",
        serviceAccountName="deployer",
        healthChecks=[{"group": "example.com", "kind": "Widget", "cel": {"current": "true"}}],
        kubeConfig={"secretRef": {"name": "spoke-kubeconfig"}},
        mode="detect-only",
        postBuild={"substitute": {"env": "prod"}},
    )
    assert set(spec["properties"]) == set(Application.from_dict(every).to_dict()["spec"])
    assert _schema_at("spec", "source", "helm")["properties"]["values"]["type"] == "string"
    ignore = _schema_at("spec", "ignoreDifferences")["items"]["properties"]
    assert set(ignore) == {
        "group",
        "kind",
        "name",
        "namespace",
        "jsonPointers",
        "jqPathExpressions",
        "managedFieldsManagers",
    }
