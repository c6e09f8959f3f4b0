"""Compare (refresh): source → render → live → diff → health → status, for one app.

This is the read-only half of a reconcile. It never writes to managed objects; the only
API write it makes is the server-side dry-run apply that predicts what an apply would
store (DESIGN §3), and optionally the Application's status.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.core.desired import prepare_desired, without_tracking_id
from tether.core.diff import AppDiff, ObjectDiff, Verdict
from tether.core.drift import explain_app
from tether.core.drift_findings import DriftFinding
from tether.core.drift_suggestions import object_causes
from tether.core.health import (
    ResourceHealth,
    aggregate_health,
    health_of_missing,
)
from tether.core.plan import hook_keys, object_key
from tether.core.policy import ProjectViolation, check_project
from tether.core.status import (
    compared_status,
    empty_render_warning,
    failed_status,
)
from tether.core.undeclared import strict_in_annotations
from tether.errors import InputError, TetherError, UnreachableError
from tether.git import GitCredentials
from tether.kube import KubeClient
from tether.model.application import (
    CONDITION_ADOPTION_REQUIRED,
    CONDITION_CLUSTER_UNREACHABLE,
    CONDITION_EMPTY_RENDER,
    CONDITION_HISTORY_REWRITTEN,
    CONDITION_PROJECT_VIOLATION,
    CONDITION_SHARED_RESOURCE,
    Application,
    ApplicationStatus,
    OperationPhase,
)
from tether.model.keys import ResourceKey, split_api_version
from tether.model.project import (
    Project,
)
from tether.render import (
    RenderRequest,
)

from .app_data import substitutions, values_from
from .apps import write_status
from .facts import helm_capabilities, renders_helm
from .live import (
    allowed_scopes,
    live_objects,
)
from .predict import (
    is_immutable_field_error,
    predict_existing,
)
from .rerender import unstable_render_paths
from .runtime import (
    HEALTH_RULES_CONFIGMAP,
    Engine,
    PredictionCache,
    now_rfc3339,
)
from .source import load_source

# Recent core/v1 Events of the given namespaces (drift evidence).
EventSource = Callable[[set[str]], Awaitable[list[dict[str, Any]]]]


@dataclass
class Comparison:
    """Everything one compare found out about an app."""

    app: Application
    revision: str | None
    desired: list[dict[str, Any]] = field(default_factory=list)
    live: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    predicted: dict[ResourceKey, dict[str, Any]] = field(default_factory=dict)
    diff: AppDiff | None = None
    health: dict[ResourceKey, ResourceHealth | None] = field(default_factory=dict)
    app_health: ResourceHealth | None = None
    shared: dict[ResourceKey, str] = field(default_factory=dict)  # key -> owner's tracking id
    # Desired objects that exist but were not created by tether (no tracking id of this
    # app): a sync refuses to take them over unless the app or object says Adopt=true.
    unmanaged: dict[ResourceKey, str] = field(default_factory=dict)  # key -> why
    # Hooks among `desired` and `live`: a sync runs them, but like Argo CD tether leaves
    # them out of the diff, the health and status.resources (a hook-succeeded Job is
    # gone after the sync, a test hook never runs).
    hooks: frozenset[ResourceKey] = frozenset()
    project: Project | None = None
    status: ApplicationStatus | None = None
    error: TetherError | None = None
    # Drifted pointers on which two renders of the commit differ (non-deterministic-render).
    unstable: dict[ResourceKey, frozenset[str]] = field(default_factory=dict)
    # Drift attribution of every object that differs (who, when, why): run once per
    # compare; status.resources[], `app diff` and `tether drift` all read it from here.
    findings: list[DriftFinding] = field(default_factory=list)


async def refresh(
    engine: Engine,
    app: Application,
    *,
    revision: str | None = None,
    local_dir: Path | None = None,
    fetch: bool = True,
    hard_refresh: bool = False,
) -> Comparison:
    """Compare `app` and store what was found in its status: the one "compare, then
    persist". A comparison against another revision or a local directory describes
    something other than the app's own target and is not stored."""
    result = await compare(
        engine, app, revision=revision, local_dir=local_dir, fetch=fetch, hard_refresh=hard_refresh
    )
    if result.status is not None and revision is None and local_dir is None:
        await write_status(engine.apps, app, result.status)
    return result


async def compare(
    engine: Engine,
    app: Application,
    *,
    revision: str | None = None,
    local_dir: Path | None = None,
    fetch: bool = True,
    hard_refresh: bool = False,
    events: EventSource | None = None,
) -> Comparison:
    """Compare one app; failures end up in `Comparison.error` and a failed status.

    `hard_refresh` fetches and re-runs every server-side dry-run instead of reusing
    cached predictions. `events` lists recent Events of the given namespaces: evidence
    for the drift attribution (`tether drift` asks for it; a reconcile does not).
    """
    engine.compares += 1
    result = Comparison(app, None)
    try:
        await _compare_into(
            engine,
            app,
            result,
            revision=revision,
            local_dir=local_dir,
            fetch=fetch or hard_refresh,
            hard_refresh=hard_refresh,
            events=events,
        )
    except TetherError as exc:
        remote = engine.hub is not None and isinstance(exc, UnreachableError)
        return failed_comparison(app, exc, result, cluster_unreachable=remote)
    return result


def failed_comparison(
    app: Application,
    error: TetherError,
    result: Comparison | None = None,
    *,
    cluster_unreachable: bool = False,
) -> Comparison:
    """A compare that could not be made: the error, and a status that says why (with
    ProjectViolation or ClusterUnreachable as its own condition)."""
    result = result or Comparison(app, None)
    result.error = error
    condition = None
    if isinstance(error, ProjectViolation):
        condition = CONDITION_PROJECT_VIOLATION
    elif cluster_unreachable:
        condition = CONDITION_CLUSTER_UNREACHABLE
    result.status = failed_status(
        app.status, message=_one_line(error), now=now_rfc3339(), condition=condition
    )
    return result


async def _compare_into(
    engine: Engine,
    app: Application,
    result: Comparison,
    *,
    revision: str | None,
    local_dir: Path | None,
    fetch: bool,
    hard_refresh: bool,
    events: EventSource | None,
) -> None:
    engine = await engine.for_app(app)
    source = app.spec.source
    if hard_refresh:  # a CRD or APIService change the watches missed is seen now
        engine.refresh_cluster_facts()
    # The project first: a repository it does not allow is not even fetched.
    project = await engine.project_of(app)
    result.project = project
    check_project(project, app, [], lambda _group, _kind: None)
    credentials = None if local_dir else await engine.repo_credentials(app, source.repo_url)
    # The tree is leased for the render only: cache eviction never removes it meanwhile.
    async with load_source(
        engine.repos,
        source.repo_url,
        source.target_revision,
        credentials=credentials,
        revision=revision,
        local_dir=local_dir,
        fetch=fetch,
    ) as tree:
        result.revision = tree.revision
        rewritten = await _history_rewritten(engine, app, tree.revision, credentials)
        # `--local DIR` is the app directory itself, as with `argocd app diff --local`.
        app_path = "." if local_dir is not None else app.spec.source.path
        request = await _render_request(engine, app, tree.root, app_path)
        cacheable = tree.revision is not None and not hard_refresh
        rendered = await engine.render_cached(request, cacheable=cacheable)
    scopes = await allowed_scopes(engine.kube, rendered)
    desired = prepare_desired(
        rendered,
        app_namespace=app.namespace,
        app_name=app.name,
        destination_namespace=app.spec.destination.namespace,
        scope=lambda group, kind: scopes.get((group, kind)),
    )
    result.desired = desired

    def scope_of(group: str, kind: str) -> bool | None:
        return scopes.get((group, kind))

    # Before any API call about them: a dry-run is a request in the object's namespace.
    check_project(project, app, desired, scope_of)
    live, shared, unmanaged = await live_objects(engine, app, desired)
    if app.spec.detect_only:  # objects tether tracks keep their id; another tool's have none
        desired = [without_tracking_id(o) if ResourceKey.of(o) in unmanaged else o for o in desired]
        result.desired = desired
    # What the app tracks outside its render would be pruned: a write like any other.
    check_project(project, app, [o for k, o in live.items() if k not in shared], scope_of)
    result.live = live
    result.shared = shared
    result.unmanaged = unmanaged
    # Hooks stay in result.desired/live (a sync runs and prunes them) but not in the
    # diff, the health or status.resources: no dry-run for them either.
    result.hooks = hooks = hook_keys(desired, live)
    compared = [o for o in desired if object_key(o) not in hooks]
    compared_live = {k: o for k, o in live.items() if k not in hooks}
    predicted = await predict_existing(
        engine,
        app.name,
        engine.writer_for(app),
        compared,
        compared_live,
        use_cache=not hard_refresh,
    )
    result.predicted = predicted
    diff = await engine.evaluator.compare_app(
        compared,
        compared_live,
        predicted,
        [d.to_dict() for d in app.spec.ignore_differences],
        what=f"Application {app.name}",
        strict_manual_edits=strict_in_annotations(app.annotations),
    )
    result.diff = diff

    desired_keys = {ResourceKey.of(o) for o in compared}
    health_rules = await engine.health_rules(app.namespace, app)
    keys = sorted(desired_keys | compared_live.keys())
    present = [key for key in keys if key in live]
    assessed = await engine.evaluator.assess_health(
        [live[key] for key in present], health_rules, what=f"Application {app.name}"
    )
    health: dict[ResourceKey, ResourceHealth | None] = dict(zip(present, assessed, strict=True))
    for key in keys:
        health.setdefault(key, health_of_missing())
    health = {key: health[key] for key in keys}
    result.health = health
    result.app_health = aggregate_health((k, h) for k, h in health.items() if k in desired_keys)
    versions = {
        ResourceKey.of(o): split_api_version(str(o.get("apiVersion", "")))[1]
        for o in (*desired, *live.values())
    }
    warnings = {}
    if rewritten:
        warnings[CONDITION_HISTORY_REWRITTEN] = rewritten
    if shared:
        first = sorted(shared)[0]
        warnings[CONDITION_SHARED_RESOURCE] = (
            f"{first} is managed by {shared[first]}; tether will not touch it"
            + (f" (and {len(shared) - 1} more)" if len(shared) > 1 else "")
        )
    if unmanaged and not app.spec.detect_only:  # detect-only never takes objects over
        first = sorted(unmanaged)[0]
        warnings[CONDITION_ADOPTION_REQUIRED] = (
            f"{first} exists and {unmanaged[first]}"
            + (f" (and {len(unmanaged) - 1} more)" if len(unmanaged) > 1 else "")
            + "; a sync will not take it over unless the app or the object sets the sync"
            " option Adopt=true"
        )
    empty = empty_render_warning(app_path, tree.revision, objects=len(desired), shared=len(shared))
    if empty:
        warnings[CONDITION_EMPTY_RENDER] = empty
    # Who caused each drift (recent Events as extra evidence when the caller lists them).
    rows = drift_rows(result)
    found_events: list[dict[str, Any]] = (
        await events(_namespaces(result)) if events is not None and rows else []
    )
    findings = explain_app(rows, found_events) if rows else []
    # Drift tether wrote itself may be a chart that renders differently every time.
    result.unstable = await unstable_render_paths(
        engine, app, request, rendered, findings, revision=tree.revision, credentials=credentials
    )
    if result.unstable:
        findings = explain_app(rows, found_events, unstable=result.unstable)
    result.findings = findings
    # status.resources[] names a cause for objects that exist and differ (or were edited).
    modified = {d.key for d, *_ in rows if d.verdict in (Verdict.OUT_OF_SYNC, Verdict.SYNCED)}
    causes = object_causes(f for f in findings if f.key in modified)
    result.status = compared_status(
        app.status,
        revision=tree.revision,
        diff=diff,
        health=health,
        app_health=result.app_health,
        versions=versions,
        now=now_rfc3339(),
        warnings=warnings,
        causes=causes,
    )


def _namespaces(comparison: Comparison) -> set[str]:
    keys = [ResourceKey.of(o) for o in comparison.desired] + list(comparison.live)
    return {k.namespace for k in keys if k.namespace}


def drift_rows(
    comparison: Comparison,
) -> list[tuple[ObjectDiff, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]]:
    """(diff, desired, live, predicted) of every object that differs or carries
    undeclared manual edits, as drift attribution takes them."""
    if comparison.diff is None:
        return []
    desired = {ResourceKey.of(o): o for o in comparison.desired}
    return [
        (d, desired.get(d.key), comparison.live.get(d.key), comparison.predicted.get(d.key))
        for d in comparison.diff.objects
        if not d.in_sync or d.manual_edits
    ]


def last_synced_revision(app: Application) -> str | None:
    """The revision the cluster was last (or is being) synced to on purpose.

    A running or succeeded operation is the newest word (a sync of a rewritten branch's
    new head is what clears HistoryRewritten); otherwise the newest history entry.
    """
    status = app.status
    if status is None:
        return None
    state = status.operation_state
    if (
        state is not None
        and state.revision
        and state.phase
        in (
            OperationPhase.RUNNING,
            OperationPhase.SUCCEEDED,
        )
    ):
        return state.revision
    return status.history[-1].revision if status.history else None


async def _history_rewritten(
    engine: Engine, app: Application, head: str | None, credentials: GitCredentials | None
) -> str | None:
    """A message when the tracked branch no longer descends from the last synced commit.

    tether never rewrites history; when someone else did (a force push), the commit the
    cluster runs is no longer in the branch's past, and automatic syncs must stop until a
    person syncs the new head on purpose.
    """
    last = last_synced_revision(app)
    if head is None or last is None or last == head:
        return None
    if await engine.repos.is_ancestor(
        app.spec.source.repo_url, last, head, credentials=credentials
    ):
        return None
    return (
        f"{app.spec.source.target_revision} moved to {head[:8]}, which does not descend from"
        f" the last synced revision {last[:8]} (history was rewritten, e.g. by a force push);"
        " auto-sync is frozen until an explicit `tether app sync`"
    )


async def _render_request(
    engine: Engine, app: Application, root: Path, app_path: str
) -> RenderRequest:
    source = app.spec.source
    helm = source.helm
    directory = source.directory
    kustomize = source.kustomize
    jsonnet = directory.jsonnet if directory else None
    age_key = None
    if source.decryption is not None:
        age_key = await _age_key(engine.home_kube, app)
    # A chart sees the target cluster's version and APIs (cached, part of the cache key).
    kube_version: str | None = None
    api_versions: tuple[str, ...] = ()
    if renders_helm(source.render_type, root, app_path):
        kube_version, api_versions = helm_capabilities(await engine.cluster_facts(), helm)
    return RenderRequest(
        root=root,
        path=app_path,
        kind=source.render_type,  # type: ignore[arg-type]
        recurse=bool(directory and directory.recurse),
        include=directory.include if directory else None,
        exclude=directory.exclude if directory else None,
        jsonnet_ext_vars=tuple((v.name, v.value, v.code) for v in jsonnet.ext_vars)
        if jsonnet
        else (),
        jsonnet_tlas=tuple((v.name, v.value, v.code) for v in jsonnet.tlas) if jsonnet else (),
        jsonnet_libs=jsonnet.libs if jsonnet else (),
        substitute=tuple((await substitutions(engine.home_kube, app)).items()),
        helm_release_name=(helm.release_name if helm else None) or app.name,
        helm_value_files=tuple(helm.value_files) if helm else (),
        helm_values_from=await values_from(engine.home_kube, app) if helm else (),
        helm_values=helm.values if helm else None,
        helm_parameters=tuple((p.name, p.value) for p in helm.parameters) if helm else (),
        helm_kube_version=kube_version,
        helm_api_versions=api_versions,
        helm_skip_crds=helm.skip_crds if helm else False,
        helm_skip_tests=helm.skip_tests if helm else True,
        kustomize_name_prefix=kustomize.name_prefix if kustomize else None,
        kustomize_name_suffix=kustomize.name_suffix if kustomize else None,
        kustomize_images=tuple(kustomize.images) if kustomize else (),
        kustomize_common_labels=tuple(kustomize.common_labels.items()) if kustomize else (),
        kustomize_common_annotations=(
            tuple(kustomize.common_annotations.items()) if kustomize else ()
        ),
        namespace=(helm.namespace if helm else None) or app.spec.destination.namespace,
        app_name=app.name,
        sops_age_key=age_key,
        limits=engine.render_limits,
        allow_remote_bases=engine.allow_remote_bases,
    )


async def _age_key(kube: KubeClient, app: Application) -> str:
    """The age private key(s) from the decryption Secret (keys ending in `.agekey`, like Flux)."""
    decryption = app.spec.source.decryption
    ref = decryption.secret_ref if decryption else None
    if ref is None:
        raise InputError(
            f"Application {app.name}: spec.source.decryption.secretRef.name is required for sops"
        )
    secret = await kube.get("v1", "Secret", ref.name, app.namespace)
    if secret is None:
        raise InputError(
            f"Application {app.name}: decryption Secret {app.namespace}/{ref.name} not found"
        )
    keys = [
        base64.b64decode(value).decode()
        for name, value in sorted((secret.get("data") or {}).items())
        if name.endswith(".agekey")
    ]
    if not keys:
        raise InputError(
            f"Application {app.name}: Secret {app.namespace}/{ref.name} has no *.agekey entry"
        )
    return "\n".join(k.strip() for k in keys)


def _one_line(exc: TetherError) -> str:
    return exc.message.splitlines()[0] if exc.message else type(exc).__name__


__all__ = [
    "HEALTH_RULES_CONFIGMAP",
    "Comparison",
    "Engine",
    "PredictionCache",
    "compare",
    "drift_rows",
    "is_immutable_field_error",
    "last_synced_revision",
    "now_rfc3339",
    "refresh",
]
