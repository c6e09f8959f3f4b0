"""What a render is asked to do, with which tools, and how a render fails."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tether.render.limits import RenderLimits

RenderKind = Literal["directory", "kustomize", "helm"]


JSONNET_PROGRAM = "tether-jsonnet"  # go-jsonnet, imports confined (tools/controlplane/jsonnet)


@dataclass(frozen=True)
class RenderTools:
    """Where the helm, kustomize, sops and tether-jsonnet binaries are."""

    helm: Path
    kustomize: Path
    sops: Path
    jsonnet: Path = Path(JSONNET_PROGRAM)

    @classmethod
    def from_dir(cls, path: Path | str) -> RenderTools:
        base = Path(path)
        return cls(
            helm=base / "helm",
            kustomize=base / "kustomize",
            sops=base / "sops",
            jsonnet=base / JSONNET_PROGRAM,
        )

    @classmethod
    def from_path(cls) -> RenderTools:
        # A tool missing from PATH only matters to sources that need it; the runner then
        # reports it by name, so a directory-only user needs no helm.
        def find(name: str) -> Path:
            return Path(shutil.which(name) or name)

        return cls(
            helm=find("helm"),
            kustomize=find("kustomize"),
            sops=find("sops"),
            jsonnet=find(JSONNET_PROGRAM),
        )


@dataclass(frozen=True, kw_only=True)
class RenderRequest:
    """What to render. `kind=None` detects it from the files at `path`, as Argo CD does.

    Hashable: the engine caches renders by request.
    """

    root: Path  # the extracted repository tree
    app_name: str
    path: str = "."
    kind: RenderKind | None = None
    # directory
    recurse: bool = False
    include: str | None = None  # glob on the path relative to `path`; `{a,b}` allowed
    exclude: str | None = None
    # jsonnet (*.jsonnet files of a directory): (name, value, is_code) of external
    # variables and top-level arguments; library directories relative to the root
    jsonnet_ext_vars: tuple[tuple[str, str, bool], ...] = ()
    jsonnet_tlas: tuple[tuple[str, str, bool], ...] = ()
    jsonnet_libs: tuple[str, ...] = ()
    # helm
    helm_release_name: str | None = None  # default: app_name
    helm_value_files: tuple[str, ...] = ()  # relative to the chart directory
    # helm.valuesFrom, read from the cluster: YAML texts after the value files (repr
    # off: a Secret's values never reach a log)
    helm_values_from: tuple[str, ...] = field(default=(), repr=False)
    helm_values: str | None = None  # inline YAML, layered after the value files
    helm_parameters: tuple[tuple[str, str], ...] = ()  # --set name=value, layered last
    # The target cluster's facts (or the app's overrides): part of the request, so a
    # render is cached per cluster version and set of served APIs.
    helm_kube_version: str | None = None  # .Capabilities.KubeVersion (default: helm's)
    helm_api_versions: tuple[str, ...] = ()  # extra .Capabilities.APIVersions
    helm_skip_crds: bool = False  # leave out the chart's crds/ (no --include-crds)
    helm_skip_tests: bool = True  # leave out `helm.sh/hook: test` hooks (--skip-tests)
    # kustomize: applied with `kustomize edit` on a copy, like Argo CD's kustomize options
    kustomize_name_prefix: str | None = None
    kustomize_name_suffix: str | None = None
    kustomize_images: tuple[str, ...] = ()  # "nginx=nginx:1.27", "nginx:1.27"
    kustomize_common_labels: tuple[tuple[str, str], ...] = ()
    kustomize_common_annotations: tuple[tuple[str, str], ...] = ()
    # Remote kustomize resources, bases and components (git and http(s) URLs). Off by
    # default, as Flux's `--no-remote-bases`: a build then reads the repository only, and
    # runs without network. On, kustomize fetches them, with network, and only those
    # three fields may name a URL.
    allow_remote_bases: bool = False
    namespace: str | None = None  # helm's --namespace only (.Release.Namespace)
    # (name, value) of Flux's post-build variables (substitute, and substituteFrom read
    # from the cluster: repr off, a Secret's values never reach a log).
    substitute: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    sops_age_key: str | None = field(default=None, repr=False)  # age identity (secret)
    timeout: float = 60  # seconds for the whole render
    limits: RenderLimits = field(default_factory=RenderLimits)

    @property
    def has_kustomize_options(self) -> bool:
        return bool(
            self.kustomize_name_prefix is not None
            or self.kustomize_name_suffix is not None
            or self.kustomize_images
            or self.kustomize_common_labels
            or self.kustomize_common_annotations
        )


class RenderProblem(Exception):
    """A render failure, reported by `render` as one InputError prefixed with the app."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
