"""The Project resource: what the Applications of a project may deploy, and where (pure).

`apiVersion: tether.dev/v1alpha1`, `kind: Project`, namespaced. Field names follow Argo
CD's AppProject, with its semantics: `sourceRepos` and `destinations` list what is
allowed (nothing when empty); `clusterResourceWhitelist` lists the cluster-scoped kinds
allowed (none when empty), `clusterResourceBlacklist` removes kinds from that;
`namespaceResourceWhitelist` restricts namespaced kinds (every kind when absent) and
`namespaceResourceBlacklist` removes kinds. `sourceNamespaces` lists the namespaces,
besides the Project's own, whose Applications may use the project.

Projects are read from one namespace the operator controls (the project namespace,
default `tether-system`): a Project anywhere else means nothing, so a tenant who may
write Applications in a namespace of its own cannot make a Project that lets them out.

When no Project named `default` exists, the built-in default applies: any repository,
only the Application's own destination namespace (and, for an Application outside the
project namespace, only when that is the Application's own namespace), no cluster-scoped
kinds.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.model.application import API_VERSION, DEFAULT_PROJECT
from tether.model.fields import Fields, Problems, check_name, drop_none, list_or_none

PROJECT_KIND = "Project"
DEFAULT_PROJECT_NAMESPACE = "tether-system"


def glob_match(pattern: str, value: str) -> bool:
    """Argo CD's project globs: `*` matches anything (also "/"), `?` one character."""
    return fnmatch.fnmatchcase(value, pattern)


@dataclass(frozen=True)
class GroupKind:
    """A kind pattern; `group` "" is the core group, `*` (or a glob) matches any."""

    group: str
    kind: str

    def matches(self, group: str, kind: str) -> bool:
        return glob_match(self.group, group) and glob_match(self.kind, kind)

    def to_dict(self) -> dict[str, str]:
        return {"group": self.group, "kind": self.kind}


@dataclass(frozen=True)
class ProjectDestination:
    """Where a project's apps may deploy: a namespace glob (clusters come later)."""

    namespace: str
    server: str = "*"
    name: str = ""

    def to_dict(self) -> dict[str, str]:
        return drop_none(
            {"namespace": self.namespace, "server": self.server, "name": self.name or None}
        )


@dataclass(frozen=True)
class ProjectSpec:
    description: str = ""
    source_repos: tuple[str, ...] = ()
    source_namespaces: tuple[str, ...] = ()
    destinations: tuple[ProjectDestination, ...] = ()
    cluster_resource_whitelist: tuple[GroupKind, ...] = ()
    cluster_resource_blacklist: tuple[GroupKind, ...] = ()
    namespace_resource_whitelist: tuple[GroupKind, ...] | None = None
    namespace_resource_blacklist: tuple[GroupKind, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def kinds(items: Sequence[GroupKind] | None) -> list[dict[str, str]] | None:
            return None if items is None else [item.to_dict() for item in items]

        return drop_none(
            {
                "description": self.description or None,
                "sourceRepos": list_or_none(self.source_repos),
                "sourceNamespaces": list_or_none(self.source_namespaces),
                "destinations": list_or_none([d.to_dict() for d in self.destinations]),
                "clusterResourceWhitelist": list_or_none(
                    kinds(self.cluster_resource_whitelist) or []
                ),
                "clusterResourceBlacklist": list_or_none(
                    kinds(self.cluster_resource_blacklist) or []
                ),
                "namespaceResourceWhitelist": kinds(self.namespace_resource_whitelist),
                "namespaceResourceBlacklist": list_or_none(
                    kinds(self.namespace_resource_blacklist) or []
                ),
            }
        )


@dataclass(frozen=True)
class Project:
    name: str
    namespace: str
    spec: ProjectSpec = field(default_factory=ProjectSpec)
    builtin: bool = False  # the built-in default (no Project object exists)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Project:
        problems = Problems()
        fields = Fields(data, "", problems)
        meta = fields.child("metadata")
        name = meta.required_string("name") if meta is not None else ""
        namespace = meta.string("namespace") if meta is not None else ""
        if meta is not None:
            check_name(meta, "name", name)
        spec_fields = fields.child("spec")
        spec = _parse_spec(spec_fields) if spec_fields is not None else ProjectSpec()
        problems.raise_if_any(f"Project {namespace}/{name}".rstrip("/"))
        return cls(name=name, namespace=namespace, spec=spec)

    @classmethod
    def builtin_default(
        cls, *, project_namespace: str, app_namespace: str, destination_namespace: str | None
    ) -> Project:
        """The default project when none named `default` exists (see the module doc)."""
        allowed: tuple[ProjectDestination, ...] = ()
        if destination_namespace and app_namespace in (project_namespace, destination_namespace):
            allowed = (ProjectDestination(namespace=destination_namespace),)
        return cls(
            name=DEFAULT_PROJECT,
            namespace=project_namespace,
            spec=ProjectSpec(
                description="built-in default: the app's own destination namespace only",
                source_repos=("*",),
                source_namespaces=("*",),
                destinations=allowed,
            ),
            builtin=True,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": PROJECT_KIND,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self.spec.to_dict(),
        }


_SPEC_FIELDS = (
    "description",
    "sourceRepos",
    "sourceNamespaces",
    "destinations",
    "clusterResourceWhitelist",
    "clusterResourceBlacklist",
    "namespaceResourceWhitelist",
    "namespaceResourceBlacklist",
)


def _group_kinds(fields: Fields, key: str) -> tuple[GroupKind, ...]:
    found = []
    for item in fields.children(key):
        item.only(("group", "kind"))
        found.append(GroupKind(group=item.string("group"), kind=item.required_string("kind")))
    return tuple(found)


def _parse_spec(fields: Fields) -> ProjectSpec:
    fields.only(_SPEC_FIELDS)
    destinations = []
    for item in fields.children("destinations"):
        item.only(("namespace", "server", "name"))
        destinations.append(
            ProjectDestination(
                namespace=item.required_string("namespace"),
                server=item.string("server", "*"),
                name=item.string("name"),
            )
        )
    whitelist = (
        _group_kinds(fields, "namespaceResourceWhitelist")
        if fields.has("namespaceResourceWhitelist")
        else None
    )
    return ProjectSpec(
        description=fields.string("description"),
        source_repos=fields.strings("sourceRepos"),
        source_namespaces=fields.strings("sourceNamespaces"),
        destinations=tuple(destinations),
        cluster_resource_whitelist=_group_kinds(fields, "clusterResourceWhitelist"),
        cluster_resource_blacklist=_group_kinds(fields, "clusterResourceBlacklist"),
        namespace_resource_whitelist=whitelist,
        namespace_resource_blacklist=_group_kinds(fields, "namespaceResourceBlacklist"),
    )


__all__ = [
    "DEFAULT_PROJECT",
    "DEFAULT_PROJECT_NAMESPACE",
    "PROJECT_KIND",
    "GroupKind",
    "Project",
    "ProjectDestination",
    "ProjectSpec",
    "glob_match",
]
