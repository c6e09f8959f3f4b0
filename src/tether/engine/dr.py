"""Disaster recovery: rebuild a cluster from Git (timed) and lint a repo for hazards."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.core.drcheck import Finding, SourcedObject, check_repository
from tether.core.plan import wave_of
from tether.errors import ConditionNotMet, InputError
from tether.git import SECRET_TYPE_LABEL, SECRET_TYPE_REPOSITORY
from tether.model.application import (
    API_VERSION,
    DEFAULT_APP_NAMESPACE,
    FIELD_MANAGER,
    Application,
)
from tether.model.keys import ResourceKey
from tether.render import load_untrusted_yaml

from .apps import crd_installed, create_app, ensure_namespace, get_app, install_crd
from .compare import Engine
from .sync import Progress, SyncRequest, sync_app
from .wait import wait_for_apps

ROOT_APP = "root"
AGE_SECRET = "sops-age"


@dataclass(frozen=True)
class PhaseTiming:
    phase: str
    seconds: float
    detail: str = ""


@dataclass
class RecoveryReport:
    phases: list[PhaseTiming]
    apps: list[str]

    @property
    def total(self) -> float:
        return sum(p.seconds for p in self.phases)


class _Clock:
    def __init__(self) -> None:
        self.phases: list[PhaseTiming] = []
        self._start = time.monotonic()

    def lap(self, phase: str, detail: str = "") -> None:
        now = time.monotonic()
        self.phases.append(PhaseTiming(phase, now - self._start, detail))
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
) -> RecoveryReport:
    """Install the CRD, secrets and the root app-of-apps, sync every app in order, wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    clock = _Clock()
    kube = engine.kube

    await ensure_namespace(kube, DEFAULT_APP_NAMESPACE)
    made = await _secrets(engine, repo_url, age_key)
    clock.lap("secrets", ", ".join(made) or "none given")
    if not await crd_installed(kube):
        await install_crd(kube)
    clock.lap("crds", "Application CRD")
    progress(f"secrets: {', '.join(made) or 'none'}; Application CRD installed")

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
    result = await sync_app(engine, root, SyncRequest(initiated_by="dr-bootstrap"), progress)
    children = [
        ResourceKey.of(o)
        for o in (result.comparison.desired if result.comparison else [])
        if o.get("kind") == "Application" and str(o.get("apiVersion", "")).startswith("tether.dev/")
    ]
    clock.lap("root", f"{len(children)} applications")

    apps = [await get_app(kube, k.namespace or DEFAULT_APP_NAMESPACE, k.name) for k in children]
    for group in order_for_recovery(apps, result.comparison.desired if result.comparison else []):
        names = ", ".join(a.name for a in group)
        progress(f"syncing {names}")
        remaining = max(deadline - loop.time(), 1.0)
        await asyncio.gather(
            *(
                sync_app(
                    engine, a, SyncRequest(initiated_by="dr-bootstrap", timeout=remaining), progress
                )
                for a in group
            )
        )
        clock.lap(f"wave {_group_label(group)}", names)

    waiting = await wait_for_apps(
        engine,
        [root, *apps],
        want_sync=True,
        want_health=True,
        timeout=max(deadline - loop.time(), 1.0),
    )
    clock.lap("health", "all Synced + Healthy" if not waiting else "; ".join(waiting))
    report = RecoveryReport(clock.phases, [a.name for a in apps])
    if waiting:
        raise ConditionNotMet(
            f"recovery incomplete after {report.total:.1f}s: {'; '.join(waiting)}"
        )
    return report


def order_for_recovery(
    apps: Sequence[Application], manifests: Sequence[dict[str, Any]]
) -> list[list[Application]]:
    """Groups to sync one after another: dependsOn levels, then the apps' sync waves."""
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
    return [sorted(groups[k], key=lambda a: a.name) for k in sorted(groups)]


def _group_label(group: Sequence[Application]) -> str:
    return "/".join(sorted({a.name for a in group}))[:60]


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


def load_repository_files(root: Path) -> list[SourcedObject]:
    """Every YAML/JSON document under `root` (encrypted ones too) with its relative file."""
    if not root.is_dir():
        raise InputError(f"dr check {root}: not a directory")
    found: list[SourcedObject] = []
    for file in sorted(root.rglob("*")):
        if file.suffix not in (".yaml", ".yml", ".json") or not file.is_file():
            continue
        rel = str(file.relative_to(root))
        if any(part.startswith(".") for part in file.relative_to(root).parts):
            continue
        try:
            docs = load_untrusted_yaml(file.read_bytes(), rel)
        except InputError as exc:
            raise InputError(f"dr check: {exc.message} (malformed YAML)", exc.hint) from None
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "List":
                found += [(rel, item) for item in doc.get("items") or [] if isinstance(item, dict)]
            elif isinstance(doc, dict) and doc.get("kind"):
                found.append((rel, doc))
    return found


def check_path(root: Path) -> list[Finding]:
    return check_repository(load_repository_files(root))
