"""Disaster recovery: rebuild a cluster from Git (timed) and lint a repo for hazards."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.core.drcheck import check_repository
from tether.core.importing import Conversion, Outcome, detect_tool
from tether.core.plan import wave_of
from tether.errors import ConditionNotMet, InputError, TetherError
from tether.git import GitCredentials, GitRepos
from tether.model.application import (
    API_VERSION,
    DEFAULT_APP_NAMESPACE,
    FIELD_MANAGER,
    Application,
)
from tether.model.keys import ResourceKey
from tether.model.names import SECRET_TYPE_LABEL, SECRET_TYPE_REPOSITORY, is_application_manifest

from .apps import crd_installed, create_app, ensure_namespace, get_app, install_crd
from .compare import Engine, compare
from .drscan import RepositoryScan, scan_repository
from .importing import import_definitions, read_definitions
from .sync import Progress, SyncRequest, sync_app
from .wait import not_ready, wait_for_apps

ROOT_APP = "root"
AGE_SECRET = "sops-age"


@dataclass(frozen=True)
class AppTiming:
    """One application synced in a wave: how long its sync took and how it ended."""

    name: str
    seconds: float
    outcome: str


@dataclass(frozen=True)
class PhaseTiming:
    phase: str
    seconds: float
    detail: str = ""
    apps: tuple[AppTiming, ...] = ()


@dataclass
class RecoveryReport:
    """The phases that finished (or failed) so far: a failed bootstrap still has one."""

    phases: list[PhaseTiming] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(p.seconds for p in self.phases)


class PhaseClock:
    def __init__(self, report: RecoveryReport) -> None:
        self.phases = report.phases
        self._start = time.monotonic()

    @property
    def total(self) -> float:
        return sum(p.seconds for p in self.phases)

    def lap(self, phase: str, detail: str = "", apps: Sequence[AppTiming] = ()) -> None:
        now = time.monotonic()
        self.phases.append(PhaseTiming(phase, now - self._start, detail, tuple(apps)))
        self._start = now


async def bootstrap(
    engine: Engine,
    *,
    repo_url: str,
    path: str,
    revision: str = "HEAD",
    timeout: float = 600.0,
    age_key: str | None = None,
    progress: Progress = lambda _: None,
    report: RecoveryReport | None = None,
) -> RecoveryReport:
    """Install the CRD, secrets and the root app-of-apps, sync every app in order, wait.

    `report` (returned) is filled phase by phase: when the bootstrap fails, it holds what
    finished and the phase that failed, and the error says what it was waiting for.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    report = report if report is not None else RecoveryReport()
    clock = PhaseClock(report)
    kube = engine.kube

    await ensure_namespace(kube, DEFAULT_APP_NAMESPACE)
    made = await _secrets(engine, repo_url, age_key)
    clock.lap("secrets", ", ".join(made) or "none given")
    if not await crd_installed(kube):
        await install_crd(kube)
    clock.lap("crds", "Application CRD")
    progress(f"secrets: {', '.join(made) or 'none'}; Application CRD installed")

    foreign = await foreign_root(engine, repo_url, path, revision)
    if foreign is not None:
        return await _bootstrap_converted(engine, foreign, deadline, clock, report, progress)

    spec: dict[str, Any] = {
        "source": {"repoURL": repo_url, "path": path, "targetRevision": revision},
        "destination": {"namespace": DEFAULT_APP_NAMESPACE},
    }
    if age_key:
        spec["source"]["decryption"] = {"provider": "sops", "secretRef": {"name": AGE_SECRET}}
    root = await create_app(
        kube,
        Application.from_dict(
            {
                "apiVersion": API_VERSION,
                "kind": "Application",
                "metadata": {"name": ROOT_APP, "namespace": DEFAULT_APP_NAMESPACE},
                "spec": spec,
            }
        ),
        upsert=True,
    )
    try:
        # foreign_root fetched the repository a moment ago: no second fetch.
        request = SyncRequest(initiated_by="dr-bootstrap", fetch=False)
        result = await sync_app(engine, root, request, progress)
    except TetherError as exc:
        clock.lap("root", f"failed: {exc.message}")
        raise
    manifests = result.comparison.desired if result.comparison else []
    children = [ResourceKey.of(o) for o in manifests if is_application_manifest(o)]
    clock.lap("root", f"{len(children)} applications")

    apps = [await get_app(kube, k.namespace or DEFAULT_APP_NAMESPACE, k.name) for k in children]
    report.apps = [a.name for a in apps]
    await sync_in_order(
        engine, recovery_steps(apps, manifests), deadline, clock, progress, "recovery"
    )

    return await wait_recovered(engine, [root, *apps], deadline, clock, report)


async def foreign_root(
    engine: Engine, repo_url: str, path: str, revision: str
) -> Conversion | None:
    """The root converted to tether Applications when it holds Argo CD Applications or
    Flux Kustomizations (a cluster that Argo CD or Flux managed, rebuilt by tether
    alone); None for a tether root. An object that cannot be converted stops here."""
    credentials = engine.credentials
    await engine.repos.fetch(repo_url, credentials)
    sha = await engine.repos.resolve(repo_url, revision, credentials=credentials)
    async with engine.repos.lease_tree(repo_url, sha, credentials=credentials) as tree:
        where = (tree / (path.strip("/") or ".")).resolve()
        if not where.is_relative_to(tree) or not where.is_dir():
            return None  # the root app's own render says what is wrong
        objects = read_definitions(str(where), engine.render_limits)
    tool = detect_tool(objects)
    if tool is None:
        return None
    conversion = await import_definitions(
        tool, objects, DEFAULT_APP_NAMESPACE, engine.repos, lambda _url: credentials
    )
    failed = [f for f in conversion.findings if f.outcome is Outcome.ERROR]
    if failed:
        raise InputError(
            f"{path}: {tool} root: {failed[0].source}: {failed[0].reason}",
            hint=f"tether import {tool} DIR lists every finding",
        )
    return conversion


async def _bootstrap_converted(
    engine: Engine,
    conversion: Conversion,
    deadline: float,
    clock: PhaseClock,
    report: RecoveryReport,
    progress: Progress,
) -> RecoveryReport:
    apps = [
        await create_app(engine.kube, Application.from_dict(a), upsert=True)
        for a in conversion.applications
    ]
    unsupported = len(conversion.unsupported)
    clock.lap("root", f"{len(apps)} applications converted ({unsupported} fields unsupported)")
    progress(f"root: {len(apps)} applications converted, {unsupported} fields not carried over")
    report.apps = [a.name for a in apps]
    steps = recovery_steps(apps, conversion.applications)
    await sync_in_order(engine, steps, deadline, clock, progress, "recovery")
    return await wait_recovered(engine, apps, deadline, clock, report)


async def wait_recovered(
    engine: Engine,
    apps: Sequence[Application],
    deadline: float,
    clock: PhaseClock,
    report: RecoveryReport,
    what: str = "recovery",
) -> RecoveryReport:
    """The last phase of a rebuild: until every app is Synced and Healthy, or the error
    naming each app still waited for (with its sync, health and first problem)."""
    loop = asyncio.get_running_loop()
    waiting = await wait_for_apps(
        engine, apps, want_sync=True, want_health=True, timeout=max(deadline - loop.time(), 1)
    )
    if waiting:
        states = await app_states(engine, apps)
        clock.lap("health", f"waited for {len(states)} applications")
        raise ConditionNotMet(
            f"{what} incomplete after {report.total:.1f}s, still waiting for: "
            + "; ".join(states or waiting)
        )
    clock.lap("health", "all Synced + Healthy")
    return report


FAILED = "failed: "


async def sync_in_order(
    engine: Engine,
    steps: Sequence[RecoveryStep],
    deadline: float,
    clock: PhaseClock,
    progress: Progress,
    what: str,
) -> None:
    """Sync each step's apps together, a step after the other, each step a phase of
    `clock`; the first step with a failed app stops it (later waves depend on it)."""
    loop = asyncio.get_running_loop()
    for step in steps:
        names = ", ".join(a.name for a in step.apps)
        progress(f"{step.label}: syncing {names}")
        remaining = max(deadline - loop.time(), 1.0)
        timings = await asyncio.gather(
            *(sync_child(engine, app, remaining, progress) for app in step.apps)
        )
        failed = [t for t in timings if t.outcome.startswith(FAILED)]
        count = f"{len(step.apps)} application{'s' if len(step.apps) != 1 else ''}"
        clock.lap(step.label, count + (f", {len(failed)} failed" if failed else ""), timings)
        if failed:
            states = await app_states(engine, [a for a in step.apps if a.name in names_of(failed)])
            raise ConditionNotMet(
                f"{what} stopped at {step.label} after {clock.total:.1f}s: "
                + "; ".join(f"{t.name}: {t.outcome.removeprefix(FAILED)}" for t in failed)
                + (f" (now {'; '.join(states)})" if states else ""),
                hint="later waves depend on this one; fix the app and run dr bootstrap again",
            )


@dataclass(frozen=True)
class RecoveryStep:
    """Applications synced together: one sync wave of one dependsOn level."""

    level: int
    wave: int
    apps: list[Application]

    @property
    def label(self) -> str:
        return f"wave {self.wave}" + (f" (dependsOn level {self.level})" if self.level else "")


async def sync_child(
    engine: Engine, app: Application, timeout: float, progress: Progress
) -> AppTiming:
    started = time.monotonic()
    try:
        result = await sync_app(
            engine, app, SyncRequest(initiated_by="dr-bootstrap", timeout=timeout), progress
        )
    except TetherError as exc:
        return AppTiming(app.name, time.monotonic() - started, FAILED + exc.message)
    return AppTiming(app.name, time.monotonic() - started, result.message)


def names_of(timings: Sequence[AppTiming]) -> set[str]:
    return {t.name for t in timings}


async def app_states(engine: Engine, apps: Sequence[Application]) -> list[str]:
    """`name: sync/health: the first object out of sync, the first unhealthy one` of every
    app that is not Synced+Healthy (hooks are no part of either)."""
    states = []
    for app in apps:
        result = await compare(engine, app, fetch=False)
        if not not_ready(result, want_sync=True, want_health=True):
            continue
        if result.error is not None or result.diff is None or result.app_health is None:
            message = result.error.message if result.error else "not compared"
            states.append(f"{app.name}: comparison failed: {message}")
            continue
        parts = [f"{result.diff.verdict.value}/{result.app_health.status.value}"]
        drifted = result.diff.out_of_sync
        if drifted:
            first = drifted[0]
            more = f" and {len(drifted) - 1} more" if len(drifted) > 1 else ""
            parts.append(f"{first.key} {first.verdict.value}{more}")
        if result.app_health.status.value != "Healthy":
            parts.append(result.app_health.message)
        states.append(f"{app.name}: " + ", ".join(parts))
    return states


def recovery_steps(
    apps: Sequence[Application], manifests: Sequence[dict[str, Any]]
) -> list[RecoveryStep]:
    """The steps of a recovery, in order: dependsOn levels, then the apps' sync waves."""
    by_name = {a.name: a for a in apps}
    waves = {
        str((m.get("metadata") or {}).get("name")): wave_of(m)
        for m in manifests
        if m.get("kind") == "Application"
    }
    level: dict[str, int] = {}

    def depth(name: str, seen: frozenset[str]) -> int:
        if name in level:
            return level[name]
        if name in seen:
            raise InputError(f"dependsOn cycle through Application {name}")
        deps_names = [dep for _, dep in by_name[name].dependencies()] if name in by_name else []
        value = 1 + max((depth(d, seen | {name}) for d in deps_names if d in by_name), default=-1)
        level[name] = value
        return value

    groups: dict[tuple[int, int], list[Application]] = {}
    for app in apps:
        groups.setdefault((depth(app.name, frozenset()), waves.get(app.name, 0)), []).append(app)
    return [
        RecoveryStep(lvl, wave, sorted(groups[(lvl, wave)], key=lambda a: a.name))
        for lvl, wave in sorted(groups)
    ]


async def _secrets(engine: Engine, repo_url: str, age_key: str | None) -> list[str]:
    made = []
    if age_key:
        await engine.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": AGE_SECRET, "namespace": DEFAULT_APP_NAMESPACE},
                "type": "Opaque",
                "data": {"age.agekey": base64.b64encode(age_key.encode()).decode()},
            },
            field_manager=FIELD_MANAGER,
        )
        made.append(f"Secret {DEFAULT_APP_NAMESPACE}/{AGE_SECRET}")
    creds = engine.credentials
    if creds is not None and (creds.password or creds.ssh_private_key):
        name = "repo-" + hashlib.sha256(repo_url.encode()).hexdigest()[:10]
        data = {"url": repo_url}
        if creds.username:
            data["username"] = creds.username
        if creds.password:
            data["password"] = creds.password
        if creds.ssh_private_key:
            data["sshPrivateKey"] = creds.ssh_private_key
        await engine.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": DEFAULT_APP_NAMESPACE,
                    "labels": {SECRET_TYPE_LABEL: SECRET_TYPE_REPOSITORY},
                },
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            },
            field_manager=FIELD_MANAGER,
        )
        made.append(f"Secret {DEFAULT_APP_NAMESPACE}/{name} (repository credentials)")
    return made


def check_path(root: Path) -> RepositoryScan:
    """The recovery hazards of the repository checked out at `root`."""
    scan = scan_repository(root)
    scan.findings = sorted({*scan.findings, *check_repository(scan.objects)})
    return scan


async def check_remote(
    repos: GitRepos, repo_url: str, revision: str, credentials: GitCredentials | None = None
) -> tuple[str, RepositoryScan]:
    """The commit `revision` of `repo_url` resolves to, and its recovery hazards."""
    await repos.fetch(repo_url, credentials)
    sha = await repos.resolve(repo_url, revision, credentials=credentials)
    async with repos.lease_tree(repo_url, sha, credentials=credentials) as tree:
        return sha, await asyncio.to_thread(check_path, tree)
