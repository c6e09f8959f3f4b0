"""Project policy: may this Application deploy these objects? (pure)

Checked on every comparison, so a violation is visible as the `ProjectViolation`
condition before anything is applied, and a sync of a violating app applies nothing.
Every message names the object and the rule that refuses it, and says what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tether.errors import InputError
from tether.model.application import Application
from tether.model.keys import ResourceKey
from tether.model.project import GroupKind, Project, glob_match
from tether.model.urls import strip_userinfo

# (group, kind) -> namespaced?  None when unknown.
ScopeLookup = Callable[[str, str], bool | None]
_SHOWN = 3  # violations named in one message; the rest are counted


class ProjectViolation(InputError):
    """The app, or an object it renders, is outside what its project allows."""


def _describe(project: Project) -> str:
    where = "built-in default project" if project.builtin else f"project {project.name}"
    return where


def _kinds_match(patterns: Iterable[GroupKind], group: str, kind: str) -> bool:
    return any(p.matches(group, kind) for p in patterns)


def app_violations(project: Project, app: Application) -> list[str]:
    """Why the Application itself may not use `project` (its namespace, repository,
    destination); empty when it may."""
    spec = project.spec
    found: list[str] = []
    if app.namespace != project.namespace and not any(
        glob_match(pattern, app.namespace) for pattern in spec.source_namespaces
    ):
        found.append(
            f"Applications in namespace {app.namespace} may not use it"
            " (not in its sourceNamespaces)"
        )
    repo = strip_userinfo(app.spec.source.repo_url)
    if not any(glob_match(strip_userinfo(pattern), repo) for pattern in spec.source_repos):
        found.append(f"repository {repo} is not in its sourceRepos")
    destination = app.spec.destination.namespace
    if destination and not namespace_allowed(project, destination):
        found.append(f"destination namespace {destination} is not one of its destinations")
    return found


def namespace_allowed(project: Project, namespace: str) -> bool:
    return any(glob_match(d.namespace, namespace) for d in project.spec.destinations)


def object_violation(project: Project, key: ResourceKey, namespaced: bool) -> str | None:
    """Why `project` does not allow the object, or None."""
    spec = project.spec
    if not namespaced:
        if not _kinds_match(spec.cluster_resource_whitelist, key.group, key.kind) or (
            _kinds_match(spec.cluster_resource_blacklist, key.group, key.kind)
        ):
            return f"{key}: cluster-scoped kind {_group_kind(key)} is not allowed"
        return None
    if not namespace_allowed(project, key.namespace):
        return f"{key}: namespace {key.namespace} is not a destination"
    whitelist = spec.namespace_resource_whitelist
    if (whitelist is not None and not _kinds_match(whitelist, key.group, key.kind)) or (
        _kinds_match(spec.namespace_resource_blacklist, key.group, key.kind)
    ):
        return f"{key}: kind {_group_kind(key)} is not allowed"
    return None


def _group_kind(key: ResourceKey) -> str:
    return f"{key.kind}.{key.group}" if key.group else key.kind


def check_project(
    project: Project,
    app: Application,
    objects: Sequence[Mapping[str, Any]],
    scope: ScopeLookup,
) -> None:
    """Raise ProjectViolation naming the first violations; nothing when all is allowed.

    `objects` are the prepared desired objects and the live objects the app tracks (a
    prune is a write too); `scope` tells which kinds are namespaced.
    """
    problems = app_violations(project, app)
    if not problems:
        for obj in objects:
            key = ResourceKey.of(dict(obj))
            namespaced = scope(key.group, key.kind)
            if namespaced is None:
                namespaced = bool(key.namespace)
            problem = object_violation(project, key, namespaced)
            if problem is not None:
                problems.append(problem)
    if not problems:
        return
    shown = "; ".join(problems[:_SHOWN])
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    raise ProjectViolation(
        f"Application {app.name}: {shown}{more} in {_describe(project)}",
        hint=_hint(project),
    )


def _hint(project: Project) -> str:
    if project.builtin:
        return (
            "the default project allows only the app's destination namespace and no"
            " cluster-scoped kinds: set spec.project to a Project that allows them"
            " (docs/security.md)"
        )
    return f"change the manifests, or widen Project {project.namespace}/{project.name}"


__all__ = [
    "ProjectViolation",
    "app_violations",
    "check_project",
    "namespace_allowed",
    "object_violation",
]
