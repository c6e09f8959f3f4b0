"""Running hooks as Argo CD and Helm define them (DESIGN §2; docs/sync.md "Hooks").

The plan orders hooks (phase, then weight: `helm.sh/hook-weight` or the sync-wave); each
weight is a wave of its own and health-gated, a Job or Pod hook must complete. Here:

- a hook is (re)created by every sync that runs it: `before-hook-creation` (the default
  of Argo CD and Helm 3) deletes the earlier object first and waits until it is gone; a
  `generateName` hook is a new object each time (named here, as Argo CD does, so that
  its tracking id can describe it in the same create), and before-hook-creation then
  deletes every earlier run of it;
- `hook-succeeded` deletes a hook once *every* hook of its phase succeeded, not after
  its own weight (Helm's rule: a chart's weight -5 ServiceAccount must still be there
  when its weight 1 Job runs);
- `hook-failed` deletes the hooks of a sync that failed (or timed out);
- completion is watched, not polled: the watch cache's events are followed from before
  the create, the deletion included, so a Job removed by its `ttlSecondsAfterFinished`
  right after it completed has completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.core.health import CustomHealthRule, HealthStatus
from tether.core.plan import SyncPhase, SyncTask, generate_name_of, is_hook
from tether.errors import ClusterError, TetherError
from tether.kube import KubeClient, LiveCache
from tether.model.application import (
    FIELD_MANAGER,
    TRACKING_ANNOTATION,
    Application,
    tracking_id_of,
)
from tether.model.keys import ResourceKey, resource_version_of, split_api_version

from .compare import Engine, is_immutable_field_error
from .history import load_manifests
from .sync_errors import SyncFailed
from .waiting import WaitedFor, Waiting

if TYPE_CHECKING:
    from .operation import SyncResult

BEFORE_HOOK_CREATION = "BeforeHookCreation"
HOOK_SUCCEEDED = "HookSucceeded"
HOOK_FAILED = "HookFailed"
# The API server's own generateName suffix: 5 characters of this alphabet after a
# prefix cut to fit 63 characters (the longest name every kind accepts).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
_MAX_NAME = 63
_DONE = (HealthStatus.HEALTHY, HealthStatus.SUSPENDED)
_USUAL_HOOK_KINDS = (("batch/v1", "Job"), ("v1", "Pod"))
_POLL = 1.0  # seconds between looks when no watch event arrives (or the kind is unwatched)
Progress = Any  # Callable[[str], None]; sync.Progress, kept loose to avoid the import cycle


@dataclass
class HookRun:
    """One hook object created (or applied) by this sync."""

    planned: SyncTask  # as planned: a generateName hook is keyed `<prefix>*`
    key: ResourceKey  # the object written
    obj: dict[str, Any]  # the manifest written, under its real name
    uid: str
    stored: dict[str, Any]  # what the write returned
    succeeded: bool = False
    deleted: bool = False

    @property
    def policies(self) -> frozenset[str]:
        return self.planned.hook.delete_policies if self.planned.hook else frozenset()

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))


# --- following hook objects through the watch cache ---------------------------------------


class _Observer:
    """The newest copy, and the deletion, of followed objects as the watch reports them
    (and which history entries' hook kinds this cache watches already).

    One per LiveCache (a listener cannot be removed): syncs follow the keys of their
    hooks for as long as they wait on them.
    """

    def __init__(self) -> None:
        self._follows: dict[ResourceKey, int] = {}
        self._newest: dict[tuple[ResourceKey, str], dict[str, Any]] = {}
        self._gone: set[tuple[ResourceKey, str]] = set()
        self._wakeups: set[asyncio.Event] = set()
        # (app namespace, app name, history id) whose hook kinds are watched already
        self.history_read: set[tuple[str, str, int]] = set()

    def on_event(self, event: str, obj: dict[str, Any]) -> None:
        key = ResourceKey.of(obj)
        if key not in self._follows:
            return
        seen = (key, _uid(obj))
        newest = self._newest.get(seen)
        if newest is None or resource_version_of(obj) >= resource_version_of(newest):
            self._newest[seen] = obj
        if event == "DELETED":
            self._gone.add(seen)
        for wakeup in self._wakeups:
            wakeup.set()

    def follow(self, key: ResourceKey) -> None:
        self._follows[key] = self._follows.get(key, 0) + 1

    def unfollow(self, key: ResourceKey) -> None:
        left = self._follows.get(key, 0) - 1
        if left > 0:
            self._follows[key] = left
            return
        self._follows.pop(key, None)
        for seen in [s for s in self._newest if s[0] == key]:
            del self._newest[seen]
        self._gone = {s for s in self._gone if s[0] != key}

    def newest(self, key: ResourceKey, uid: str) -> dict[str, Any] | None:
        return self._newest.get((key, uid))

    def gone(self, key: ResourceKey, uid: str) -> bool:
        return (key, uid) in self._gone

    @contextlib.contextmanager
    def wakeup(self) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._wakeups.add(event)
        try:
            yield event
        finally:
            self._wakeups.discard(event)


_observers: weakref.WeakKeyDictionary[LiveCache, _Observer] = weakref.WeakKeyDictionary()


def _observer(cache: LiveCache) -> _Observer:
    found = _observers.get(cache)
    if found is None:
        found = _observers[cache] = _Observer()
        cache.add_listener(found.on_event)
    return found


def _uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


# --- finding leftover hooks -----------------------------------------------------------------


async def watch_earlier_hook_kinds(engine: Engine, app: Application) -> None:
    """Watch the kinds of the hooks the app ran before, so that a prune sees them.

    Hooks are not in status.resources, which is what tells a fresh process (the CLI, a
    restarted controller) the kinds of the app's objects that it no longer renders: a
    leftover hook of such a kind would be missed. The kinds come from the manifests of
    the app's history entries (each read once per process), plus Job and Pod, the kinds
    of nearly every hook.
    """
    observer = _observer(engine.cache)
    kinds = set(_USUAL_HOOK_KINDS)
    for entry in app.status.history if app.status else []:
        seen = (app.namespace, app.name, entry.id)
        if seen in observer.history_read:
            continue
        try:
            manifests = await load_manifests(engine.home_kube, app, entry.id)
        except TetherError:
            continue  # best effort: an unreadable entry names no kinds
        observer.history_read.add(seen)
        kinds |= {
            (str(o.get("apiVersion", "")), str(o.get("kind", ""))) for o in manifests if is_hook(o)
        }
    for api_version, kind in sorted(kinds):
        group, _ = split_api_version(api_version)
        if not engine.cache.watched(group, kind):
            with contextlib.suppress(ClusterError):
                await engine.cache.watch_kind(api_version, kind)


# --- creating hooks -------------------------------------------------------------------------


async def run_hook(engine: Engine, task: SyncTask, result: SyncResult, *, replace: bool) -> None:
    """Create the hook object of `task` (after deleting what before-hook-creation says)."""
    writer = result.write_client(engine)
    group, _ = split_api_version(str(task.obj.get("apiVersion", "")))
    if not engine.cache.watched(group, task.key.kind):
        # Watched before the write: the watch then sees every state of the new object.
        with contextlib.suppress(ClusterError):
            await engine.cache.watch_kind(str(task.obj["apiVersion"]), task.key.kind)
    prefix = generate_name_of(task.obj)
    recreate = BEFORE_HOOK_CREATION in (task.hook.delete_policies if task.hook else ())
    observer = _observer(engine.cache)
    if prefix is not None:
        if recreate:
            await _delete_earlier_runs(engine, writer, task, prefix, result)
        obj, stored = await _create_run(writer, task, prefix, result, observer)
    else:
        if recreate:
            await _delete_and_wait_gone(writer, task.key, str(task.obj["apiVersion"]))
        obj = task.obj
        observer.follow(task.key)
        try:
            stored = await _apply_hook(writer, task, replace=replace)
        except BaseException:
            observer.unfollow(task.key)
            raise
    key = ResourceKey.of(stored) if prefix is not None else task.key
    result.hooks.append(HookRun(task, key, obj, _uid(stored), stored))
    result.applied.append(key)
    result.stored_versions[key] = resource_version_of(stored)


async def _apply_hook(writer: KubeClient, task: SyncTask, *, replace: bool) -> dict[str, Any]:
    try:
        return await writer.apply(task.obj, field_manager=FIELD_MANAGER, force=True)
    except ClusterError as exc:
        if not is_immutable_field_error(exc):
            raise SyncFailed(f"{task.key}: {exc.message}") from exc
        if not replace:
            raise SyncFailed(
                f"{task.key}: {exc.message}",
                hint="the hook is kept between syncs (no before-hook-creation policy) and the"
                " field is immutable: add BeforeHookCreation to its hook-delete-policy, or"
                " sync with --force",
            ) from exc
    await _delete_and_wait_gone(writer, task.key, str(task.obj["apiVersion"]))
    return await writer.apply(task.obj, field_manager=FIELD_MANAGER, force=True)


async def _create_run(
    writer: KubeClient,
    task: SyncTask,
    prefix: str,
    result: SyncResult,
    observer: _Observer,
    attempts: int = 5,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new object of a generateName hook, created under a name picked as the API server
    would, with a tracking id that describes it."""
    for attempt in range(attempts):
        name = prefix[: _MAX_NAME - _SUFFIX_LENGTH] + "".join(
            secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH)
        )
        obj = copy.deepcopy(task.obj)
        meta = obj["metadata"]
        meta["name"] = name
        key = ResourceKey.of(obj)
        meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = result.app.tracking_id_for(key)
        observer.follow(key)
        try:
            return obj, await writer.create(obj, field_manager=FIELD_MANAGER)
        except ClusterError as exc:
            observer.unfollow(key)
            if exc.status == 409 and attempt < attempts - 1:
                continue  # the name is taken: pick another, as the API server does
            raise SyncFailed(f"{task.key}: {exc.message}") from exc
        except BaseException:
            observer.unfollow(key)
            raise
    raise AssertionError("unreachable")


async def _delete_earlier_runs(
    engine: Engine, writer: KubeClient, task: SyncTask, prefix: str, result: SyncResult
) -> None:
    """before-hook-creation for a generateName hook: every earlier run of it goes."""
    app = result.app
    for key, obj in engine.cache.tracked_by(f"{app.namespace}/{app.name}").items():
        owner = tracking_id_of(obj)
        if (
            owner is None
            or not owner.belongs_to(app.namespace, app.name)
            or (key.group, key.kind, key.namespace)
            != (task.key.group, task.key.kind, task.key.namespace)
            or (obj.get("metadata") or {}).get("generateName") != prefix
        ):
            continue
        await writer.delete(
            str(obj.get("apiVersion", "")),
            key.kind,
            key.name,
            key.namespace or None,
            propagation="Background",
        )


async def _delete_and_wait_gone(
    writer: KubeClient, key: ResourceKey, api_version: str, timeout: float = 60.0
) -> None:
    """Delete (Background: its pods go with the garbage collector) and wait until the
    name is free again for the new object."""
    namespace = key.namespace or None
    if not await writer.delete(
        api_version, key.kind, key.name, namespace, propagation="Background"
    ):
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await writer.get(api_version, key.kind, key.name, namespace) is not None:
        if loop.time() > deadline:
            raise SyncFailed(
                f"{key}: the earlier hook object is still being deleted after {timeout:.0f}s",
                hint="a finalizer holds it: see its metadata.finalizers",
            )
        await asyncio.sleep(0.1)


async def dry_run_hook(writer: KubeClient, task: SyncTask) -> None:
    """The preflight of a hook: a generateName hook is dry-run as a create; a hook that
    before-hook-creation replaces may differ from its earlier object in immutable fields."""
    if generate_name_of(task.obj) is not None:
        await writer.create(task.obj, field_manager=FIELD_MANAGER, dry_run=True)
        return
    try:
        await writer.apply(task.obj, field_manager=FIELD_MANAGER, dry_run=True)
    except ClusterError as exc:
        recreated = BEFORE_HOOK_CREATION in (task.hook.delete_policies if task.hook else ())
        if not (recreated and is_immutable_field_error(exc)):
            raise


# --- waiting for hooks ----------------------------------------------------------------------


async def wait_for_hooks(
    engine: Engine,
    runs: Sequence[HookRun],
    label: str,
    rules: Sequence[CustomHealthRule],
    *,
    waiting: Waiting | None = None,
) -> None:
    """Wait until every hook of the wave is Healthy (a Job or Pod: completed); a Degraded
    hook, or one deleted before it completed, fails the sync at once."""
    observer = _observer(engine.cache)
    pending = [run for run in runs if not run.succeeded]
    with observer.wakeup() as wakeup:
        while pending:
            wakeup.clear()
            if waiting is not None:
                waiting.clear()
            copies = [await _copy_of(engine, observer, run) for run in pending]
            assessed = await engine.evaluator.assess_health(
                [_as_finished(obj) for obj, _ in copies], rules, what=label
            )
            still: list[HookRun] = []
            for run, (obj, gone), health in zip(pending, copies, assessed, strict=True):
                status = health.status if health is not None else HealthStatus.HEALTHY
                message = health.message if health is not None else ""
                if status in _DONE:
                    run.succeeded = True
                    observer.unfollow(run.key)
                elif status is HealthStatus.DEGRADED:
                    raise SyncFailed(f"{label}: hook {run.key} failed: {message}")
                elif gone:
                    last = f" (last seen: {message})" if message else ""
                    raise SyncFailed(
                        f"{label}: hook {run.key} was deleted before it completed{last}"
                    )
                else:
                    still.append(run)
                    if waiting is not None:
                        shown = f"{status.value}: {message}".rstrip(": ")
                        waiting[run.key] = WaitedFor(obj, f"hook {shown}")
            pending = still
            if pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), _POLL)


def _as_finished(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` without its deletion marks: a hook that is being deleted (a Job its TTL
    controller removes, foreground) is judged by what it did, not as Pending deletion."""
    meta = obj.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        return obj
    kept = {k: v for k, v in meta.items() if k not in ("deletionTimestamp", "finalizers")}
    return {**obj, "metadata": kept}


async def _copy_of(
    engine: Engine, observer: _Observer, run: HookRun
) -> tuple[dict[str, Any], bool]:
    """The newest copy of the hook object this sync wrote, and whether it is gone. The
    copy a deletion event carries counts: a Job its TTL removed had completed first."""
    key = run.key
    if not engine.cache.watched(key.group, key.kind):  # the watch failed: ask the server
        live = await engine.kube.get(run.api_version, key.kind, key.name, key.namespace or None)
        if live is None or _uid(live) != run.uid:
            return run.stored, True
        return live, False
    candidates = [run.stored]
    seen = observer.newest(key, run.uid)
    if seen is not None:
        candidates.append(seen)
    cached = engine.cache.get(key)
    if cached is not None and _uid(cached) == run.uid:
        candidates.append(cached)
    return max(candidates, key=resource_version_of), observer.gone(key, run.uid)


# --- delete policies after a phase or an operation --------------------------------------------


async def phase_succeeded(
    engine: Engine, result: SyncResult, phase: SyncPhase, progress: Progress
) -> None:
    """hook-succeeded: every hook of the phase succeeded, those that ask for it go now."""
    done = [
        run
        for run in result.hooks
        if run.planned.phase is phase and not run.deleted and HOOK_SUCCEEDED in run.policies
    ]
    await _delete_runs(result.write_client(engine), done)
    if done:
        progress(
            f"{phase.value}: deleted {len(done)} hooks (hook-succeeded): "
            + ", ".join(str(run.key) for run in done)
        )


async def sync_failed(engine: Engine, result: SyncResult, progress: Progress) -> None:
    """hook-failed: the sync failed, the hooks it ran that ask for it go now. Never
    raises: the failure that got here is what the operation reports."""
    observer = _observer(engine.cache)
    for run in result.hooks:
        if not run.succeeded:
            observer.unfollow(run.key)
    failed = [run for run in result.hooks if not run.deleted and HOOK_FAILED in run.policies]
    try:
        await _delete_runs(result.write_client(engine), failed)
    except TetherError as exc:
        progress(f"hook-failed: could not delete a hook: {exc.message}")
        return
    if failed:
        progress(
            f"deleted {len(failed)} hooks (hook-failed): "
            + ", ".join(str(run.key) for run in failed)
        )


async def _delete_runs(writer: KubeClient, runs: Sequence[HookRun]) -> None:
    async def delete(run: HookRun) -> None:
        key = run.key
        await writer.delete(
            run.api_version, key.kind, key.name, key.namespace or None, propagation="Background"
        )
        run.deleted = True

    await asyncio.gather(*(delete(run) for run in runs))
