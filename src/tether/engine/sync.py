"""Sync: turn a comparison into a safe change of the cluster (DESIGN §3 "Sync").

preflight (server-side dry-run of every object) → waves (apply with field manager
`tether`, wait for health) → prunes → PostSync; SyncFail hooks on failure. One sync per
app at a time: the operation is claimed by writing `status.operationState` with the
Application's resourceVersion, so a second CLI racing for it gets a conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from tether.core.plan import SyncPhase, SyncPlan, SyncTask, Wave, check_prune_guards, plan_sync
from tether.core.status import empty_render_note
from tether.errors import ClusterError, InputError, TetherError
from tether.kube import KubeClient
from tether.model.application import (
    FIELD_MANAGER,
    Application,
    OperationPhase,
)
from tether.model.keys import ResourceKey, resource_version_of, split_api_version

from .apps import write_status
from .compare import (
    Comparison,
    Engine,
    PredictionCache,
    compare,
    is_immutable_field_error,
    now_rfc3339,
)
from .health_gate import (
    CRD_KIND,
    wait_established,
    wait_healthy,
)
from .hints import rejection_hint
from .hooks import (
    dry_run_hook,
    phase_succeeded,
    run_hook,
    sync_failed,
    wait_for_hooks,
    watch_earlier_hook_kinds,
)
from .operation import (
    SyncInProgress,
    SyncRefused,
    SyncRequest,
    SyncResult,
    claim_operation,
    finish_operation,
)
from .sync_errors import SyncFailed
from .takeover import take_over_person_fields
from .waiting import timeout_report

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def refuse_detect_only(app: Application, what: str) -> None:
    """A detect-only app's objects belong to another tool (Argo CD, Flux): tether
    compares and explains them, and never writes, prunes or deletes one."""
    if app.spec.detect_only:
        raise InputError(
            f"Application {app.name} is detect-only: {what} would write to objects another"
            " tool manages",
            hint="tether reports their drift (tether drift); set spec.mode: normal to manage"
            " them with tether",
        )


async def sync_app(
    engine: Engine,
    app: Application,
    request: SyncRequest,
    progress: Progress = _noop,
    *,
    comparison: Comparison | None = None,
    claimed: bool = False,
) -> SyncResult:
    """Sync `app`. A `comparison` just made of the same spec (the controller's reconcile)
    is planned from as it is; otherwise the app is compared first. `claimed`: `app` is
    the copy the caller's claim stored (operation Running); the caller ends the claim if
    this raises before the operation records its outcome (engine/operation.release_claim)."""
    if not request.dry_run:
        refuse_detect_only(app, "sync")
    engine = await engine.for_app(app)
    if request.prune or app.auto_prune:
        await watch_earlier_hook_kinds(engine, app)  # leftover hooks are pruned too
    if not _reusable(comparison, app, request):
        comparison = await compare(engine, app, revision=request.revision, fetch=request.fetch)
    assert comparison is not None
    if comparison.error is not None:
        if comparison.status is not None:
            await write_status(engine.apps, app, comparison.status)
        raise comparison.error
    assert comparison.diff is not None
    revision = comparison.revision
    plan = _plan(app, comparison, request)
    created_ns = _namespace_to_create(app)
    if request.dry_run:
        await _preflight(
            engine.writer_for(app), plan, request, progress, created_ns, app_name=app.name
        )
        return SyncResult(app, OperationPhase.SUCCEEDED, "dry run: nothing applied", revision, plan)

    return await run_operation(
        engine,
        app,
        plan,
        revision,
        request,
        progress,
        comparison=comparison,
        created_ns=created_ns,
        claimed=claimed,
    )


def _reusable(comparison: Comparison | None, app: Application, request: SyncRequest) -> bool:
    return (
        comparison is not None
        and comparison.error is None
        and request.revision is None
        and comparison.app.spec == app.spec
        and comparison.app.annotations == app.annotations
    )


async def run_operation(
    engine: Engine,
    app: Application,
    plan: SyncPlan,
    revision: str | None,
    request: SyncRequest,
    progress: Progress = _noop,
    *,
    comparison: Comparison | None = None,
    created_ns: str | None = None,
    record: bool = True,
    action: str = "sync",
    verb: str = "synced",
    claimed: bool = False,
) -> SyncResult:
    """Claim the app (unless `claimed`: the caller did), preflight, run the waves, finish
    (status, history when `record`)."""
    state = app.status.operation_state if app.status else None
    if claimed and state is not None and state.phase is OperationPhase.RUNNING:
        started = state.started_at or now_rfc3339()
    else:
        started = now_rfc3339()
        app = await claim_operation(
            engine.apps, app, revision, started, request.initiated_by, request.retry_count
        )
    result = SyncResult(app, OperationPhase.RUNNING, "", revision, plan, comparison=comparison)
    result.writer = engine.writer_for(app)
    timeout = request.timeout or app.spec.timeout_seconds
    try:
        # CreateNamespace=true: the destination namespace exists before the preflight, so
        # that every object in it is dry-run like any other.
        if created_ns and await engine.kube.get("v1", "Namespace", created_ns) is None:
            await engine.kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": created_ns}},
                field_manager=FIELD_MANAGER,
            )
            progress(f"created namespace {created_ns} (CreateNamespace=true)")
        await _preflight(result.writer, plan, request, progress, app_name=app.name)
        await asyncio.wait_for(_execute(engine, plan, request, result, progress), timeout)
    except TimeoutError:
        result.phase = OperationPhase.FAILED
        result.message, result.hint = timeout_report(timeout, result.waiting)
    except SyncFailed as exc:
        result.phase, result.message, result.hint = OperationPhase.FAILED, exc.message, exc.hint
    except TetherError as exc:
        result.phase = OperationPhase.FAILED if result.applied else OperationPhase.ERROR
        result.message, result.hint = exc.message, exc.hint
    else:
        result.phase = OperationPhase.SUCCEEDED
        result.message = (
            f"{verb} {len(result.applied)} objects"
            + (f", pruned {len(result.pruned)}" if result.pruned else "")
            + (f" at {revision[:8]}" if revision else "")
            + empty_render_note(comparison.status if comparison else None)
        )
    if result.phase is not OperationPhase.SUCCEEDED:
        await sync_failed(engine, result, progress)
    if result.phase is not OperationPhase.SUCCEEDED and plan.fail_hooks:
        progress("running SyncFail hooks")
        try:
            await asyncio.wait_for(
                _run_fail_hooks(engine, plan, request, result, progress), timeout
            )
        except (TetherError, TimeoutError) as exc:
            progress(f"SyncFail hook failed: {exc}")
            await sync_failed(engine, result, progress)
    await finish_operation(engine, app, result, started, request, record=record)
    if result.phase is not OperationPhase.SUCCEEDED:
        error_type = InputError if result.phase is OperationPhase.ERROR else SyncFailed
        raise error_type(f"{action} of {app.name} failed: {result.message}", hint=result.hint)
    return result


def _plan(app: Application, comparison: Comparison, request: SyncRequest) -> SyncPlan:
    assert comparison.diff is not None
    desired = [o for o in comparison.desired if ResourceKey.of(o) not in comparison.shared]
    desired_keys = {ResourceKey.of(o) for o in comparison.desired}
    extraneous = [o for k, o in comparison.live.items() if k not in desired_keys]
    prune = request.prune or app.auto_prune
    plan = plan_sync(
        desired,
        extraneous,
        prune=prune,
        prune_last=app.spec.sync_policy.option_enabled("PruneLast"),
    )
    tracked = len([k for k in comparison.live if k not in comparison.shared])
    guard = check_prune_guards(
        desired_count=len(comparison.desired),
        tracked_count=tracked,
        prune_count=len(plan.prunes),
        allow_empty=app.spec.allow_empty,
        confirmed=request.confirm_prune,
    )
    if not guard.allowed:
        raise SyncRefused(f"sync of {app.name} refused: {guard.reason}", hint="nothing was changed")
    if comparison.unmanaged:
        keys = sorted(comparison.unmanaged)
        shown = ", ".join(str(k) for k in keys[:3]) + (
            f" (and {len(keys) - 3} more)" if len(keys) > 3 else ""
        )
        raise SyncRefused(
            f"sync of {app.name} refused: {shown} already exist"
            f"{'s' if len(keys) == 1 else ''} and {'was' if len(keys) == 1 else 'were'}"
            " not created by tether; taking over existing objects needs the sync option"
            " Adopt=true",
            hint="add Adopt=true to spec.syncPolicy.syncOptions (or the object's"
            " tether.dev/sync-options annotation) to take them over; nothing was changed",
        )
    if plan.needs_confirm and not request.confirm_prune:
        names = ", ".join(str(k) for k in plan.needs_confirm)
        raise SyncRefused(
            f"sync of {app.name} refused: {names} marked Prune=confirm",
            hint="pass --confirm-prune to delete them",
        )
    return plan


def _namespace_to_create(app: Application) -> str | None:
    if app.spec.sync_policy.option_enabled("CreateNamespace"):
        return app.spec.destination.namespace
    return None


async def _preflight(
    kube: KubeClient,
    plan: SyncPlan,
    request: SyncRequest,
    progress: Progress,
    created_namespace: str | None = None,
    *,
    app_name: str,
) -> None:
    """Dry-run every object before the first write; any rejection means nothing is applied.

    Objects whose kind or namespace only comes into being during this sync (a CRD or a
    Namespace in the plan) are dry-run right before their own apply instead.
    """
    planned_kinds = {
        (
            (t.obj.get("spec") or {}).get("group", ""),
            ((t.obj.get("spec") or {}).get("names") or {}).get("kind"),
        )
        for t in plan.applies
        if t.key.kind == CRD_KIND
    }
    planned_namespaces = {t.key.name for t in plan.applies if t.key.kind == "Namespace"}
    if created_namespace:
        planned_namespaces.add(created_namespace)
    checks = []
    for task in plan.applies:
        if (task.key.group, task.key.kind) in planned_kinds:
            continue
        namespace = task.key.namespace
        if namespace in planned_namespaces and await kube.get("v1", "Namespace", namespace) is None:
            continue
        checks.append(task)

    async def check(task: SyncTask) -> None:
        try:
            if task.hook is not None:
                await dry_run_hook(kube, task)
            else:
                await kube.apply(task.obj, field_manager=FIELD_MANAGER, dry_run=True)
        except ClusterError as exc:
            if is_immutable_field_error(exc):
                if request.force or task.options.get("Replace") == "true":
                    return  # will be deleted and recreated
                raise SyncFailed(
                    f"{task.key}: {exc.message}",
                    hint="the field is immutable: sync with --force (or annotate Replace=true)"
                    " to delete and recreate the object; nothing was applied",
                ) from exc
            fix = rejection_hint(exc, app=app_name, impersonated=kube.impersonated)
            raise InputError(
                f"preflight: {task.key} rejected by the API server: {exc.message}",
                hint=f"nothing was applied; {fix}",
            ) from exc

    await asyncio.gather(*(check(t) for t in checks))
    progress(f"preflight: {len(checks)} objects accepted by a server-side dry-run")


async def _execute(
    engine: Engine, plan: SyncPlan, request: SyncRequest, result: SyncResult, progress: Progress
) -> None:
    last = len(plan.waves) - 1
    for index, wave in enumerate(plan.waves):
        gate = request.final_health_gate or index < last
        await _run_wave(engine, wave, request, result, progress, gate=gate)
        if index == last or plan.waves[index + 1].phase is not wave.phase:
            await phase_succeeded(engine, result, wave.phase, progress)


async def _run_fail_hooks(
    engine: Engine, plan: SyncPlan, request: SyncRequest, result: SyncResult, progress: Progress
) -> None:
    for wave in plan.fail_waves:
        await _run_wave(engine, wave, request, result, progress)
    await phase_succeeded(engine, result, SyncPhase.SYNC_FAIL, progress)


async def _run_wave(
    engine: Engine,
    wave: Wave,
    request: SyncRequest,
    result: SyncResult,
    progress: Progress,
    *,
    gate: bool = True,
) -> None:
    label = f"{wave.phase.value} wave {wave.wave}" + (" (prune last)" if wave.prune_last else "")
    applies = [t for t in wave.tasks if t.action == "apply"]
    for group in _by_kind(applies):
        await asyncio.gather(
            *(
                run_hook(
                    engine, t, result, replace=request.force or t.options.get("Replace") == "true"
                )
                if t.hook is not None
                else _apply(engine, t, request, result)
                for t in group
            )
        )
        if group[0].key.kind == CRD_KIND:
            await asyncio.gather(*(wait_established(engine.kube, t.key.name) for t in group))
    if applies:
        runs = {run.planned: run for run in result.hooks}
        progress(
            f"{label}: applied {len(applies)}: "
            + ", ".join(str(runs[t].key if t in runs else t.key) for t in applies)
        )
        rules = await engine.health_rules(result.app.namespace, result.app)
        # Hooks always run to completion; other objects of the last wave only when gated.
        resources = [t for t in applies if t.hook is None] if gate else []
        # One after the other (a failure of either ends the wave, no wait left running);
        # the hooks' watch events are kept meanwhile.
        await wait_healthy(
            engine, resources, label, rules, result.stored_versions, waiting=result.waiting
        )
        await wait_for_hooks(
            engine, [runs[t] for t in applies if t in runs], label, rules, waiting=result.waiting
        )
        progress(f"{label}: healthy" if gate else f"{label}: applied (health tracked in status)")
    writer = result.write_client(engine)
    for task in (t for t in wave.tasks if t.action == "prune"):
        api_version = str(task.obj.get("apiVersion", ""))
        await writer.delete(api_version, task.key.kind, task.key.name, task.key.namespace or None)
        result.pruned.append(task.key)
        progress(f"{label}: pruned {task.key}")


def _by_kind(tasks: Sequence[SyncTask]) -> list[list[SyncTask]]:
    groups: list[list[SyncTask]] = []
    for task in tasks:
        if (
            groups
            and groups[-1][0].kind_rank == task.kind_rank
            and groups[-1][0].key.kind == task.key.kind
        ):
            groups[-1].append(task)
        else:
            groups.append([task])
    return groups


async def _apply(engine: Engine, task: SyncTask, request: SyncRequest, result: SyncResult) -> None:
    kube = result.write_client(engine)  # (hooks are written by hooks.run_hook)
    replace = request.force or task.options.get("Replace") == "true"
    # Fields a person's kubectl owns would survive the apply: make them tether's first.
    await take_over_person_fields(engine, kube, result.app, task.obj, result.comparison)
    try:
        stored = await kube.apply(task.obj, field_manager=FIELD_MANAGER, force=True)
    except ClusterError as exc:
        if not is_immutable_field_error(exc):
            raise SyncFailed(f"{task.key}: {exc.message}") from exc
        if not replace:  # (preflight catches this first; kept for races)
            raise SyncFailed(
                f"{task.key}: {exc.message}",
                hint="the field is immutable: sync with --force (or annotate Replace=true)"
                " to delete and recreate the object",
            ) from exc
        await _delete_and_wait(kube, task)
        stored = await kube.apply(task.obj, field_manager=FIELD_MANAGER, force=True)
    # What the apply stored is what a dry-run of the same manifest against it predicts:
    # the compare after the sync reuses it instead of asking again.
    engine.predictions.put(PredictionCache.cache_key(task.obj, stored), stored)
    result.applied.append(task.key)
    result.stored_versions[task.key] = resource_version_of(stored)
    result.stored_objects[task.key] = stored
    group, _ = split_api_version(str(task.obj.get("apiVersion", "")))
    if not engine.cache.watched(group, task.key.kind):
        with contextlib.suppress(ClusterError):
            await engine.cache.watch_kind(str(task.obj["apiVersion"]), task.key.kind)


async def _delete_and_wait(kube: KubeClient, task: SyncTask, timeout: float = 60.0) -> None:
    api_version = str(task.obj.get("apiVersion", ""))
    namespace = task.key.namespace or None
    if not await kube.delete(
        api_version, task.key.kind, task.key.name, namespace, propagation="Foreground"
    ):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await kube.get(api_version, task.key.kind, task.key.name, namespace) is not None:
        if loop.time() > deadline:
            raise SyncFailed(f"{task.key}: still being deleted after {timeout:.0f}s")
        await asyncio.sleep(0.2)


def describe_plan(plan: SyncPlan) -> list[str]:
    lines = []
    for wave in plan.waves:
        label = f"{wave.phase.value} wave {wave.wave}" + (
            " (prune last)" if wave.prune_last else ""
        )
        for task in wave.tasks:
            lines.append(f"{label}: {task.action} {task.key}")
    for key in plan.skipped:
        lines.append(f"skip: {key}")
    return lines


__all__ = [
    "CRD_KIND",
    "SyncFailed",
    "SyncInProgress",
    "SyncRefused",
    "SyncRequest",
    "SyncResult",
    "describe_plan",
    "sync_app",
]


async def delete_cascade(engine: Engine, app: Application, progress: Progress = _noop) -> int:
    """Delete every object this app tracks, in reverse sync order; returns how many."""
    refuse_detect_only(app, "delete --cascade")
    engine = await engine.for_app(app)
    await watch_earlier_hook_kinds(engine, app)  # its hooks go as well
    comparison = await compare(engine, app, fetch=False)
    owned = [o for k, o in comparison.live.items() if k not in comparison.shared]
    if comparison.error is not None and not owned:
        # No render (Git down, path gone): fall back to what the watch index says is ours.
        owned = list(engine.cache.tracked_by(f"{app.namespace}/{app.name}").values())
    plan = plan_sync([], owned, prune=True)
    count = 0
    writer = engine.writer_for(app)
    for wave in reversed(plan.waves):
        for task in wave.tasks:
            api_version = str(task.obj.get("apiVersion", ""))
            if await writer.delete(
                api_version, task.key.kind, task.key.name, task.key.namespace or None
            ):
                count += 1
                progress(f"deleted {task.key}")
    return count
