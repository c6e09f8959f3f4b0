"""The Application resource (DESIGN §2): typed spec and status, parsing, validation.

Everything here is pure: objects come in as plain dicts (the wire form) and go back out
through `to_dict()`. Parsing collects every problem it finds and raises a single
`InputError` naming each field path, so a user fixes a manifest in one round trip.

Times in status are RFC 3339 strings supplied by the caller: this layer has no clock.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from tether.errors import InputError
from tether.model.keys import ResourceKey

API_GROUP = "tether.dev"
API_VERSION = "tether.dev/v1alpha1"
KIND = "Application"
DEFAULT_APP_NAMESPACE = "tether-system"
TRACKING_ANNOTATION = "tether.dev/tracking-id"
FIELD_MANAGER = "tether"

DEFAULT_TARGET_REVISION = "HEAD"
DEFAULT_PATH = "."
DEFAULT_INTERVAL = "3m"
DEFAULT_TIMEOUT = "5m"
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_RETRY_LIMIT = 5
DEFAULT_BACKOFF_DURATION = "5s"
DEFAULT_BACKOFF_FACTOR = 2.0
DEFAULT_BACKOFF_MAX_DURATION = "3m"
DECRYPTION_PROVIDERS = ("sops",)
RENDERERS = ("directory", "kustomize", "helm")  # `spec.source` sets at most one of them

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


# --------------------------------------------------------------------------- durations

# One `<number><unit>` term of a Go duration; "ms" is listed before "m" and "s" so that
# the alternation does not stop at the shorter unit.
_DURATION_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_SECONDS_PER_UNIT = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,  # Go accepts both the micro sign and the Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """A Go-style duration (`90s`, `5m`, `1h30m`, `500ms`) in seconds.

    Like Go's `time.ParseDuration`, a bare `0` is allowed and every other number needs
    a unit. Negative durations are rejected: no tether setting can use one.
    """
    if text == "0":
        return 0.0
    total = 0.0
    position = 0
    while position < len(text):
        term = _DURATION_TERM.match(text, position)
        if term is None:
            break
        total += float(term.group(1)) * _SECONDS_PER_UNIT[term.group(2)]
        position = term.end()
    if not text or position != len(text):
        raise InputError(
            f"invalid duration {json.dumps(text)}: "
            "use numbers with units ns, us, ms, s, m or h, e.g. 90s, 5m or 1h30m"
        )
    return total


# ---------------------------------------------------------------- validation plumbing

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_DNS_LABEL}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_HELM_RELEASE_NAME_MAX = 53  # Helm stores releases in Secrets whose names add a suffix
_GIT_URL_SCHEMES = ("file://", "https://", "http://", "ssh://", "git://", "git+ssh://")
_SCP_LIKE_GIT_URL = re.compile(r"^[\w.-]+@[\w.-]+:.+$")  # git@host:org/repo.git
_BAD_POINTER_ESCAPE = re.compile(r"~(?![01])")
_MAX_SHOWN = 60


def is_dns1123_subdomain(value: str) -> bool:
    """The rule for most object names (`metadata.name` of an Application among them)."""
    return len(value) <= 253 and _DNS1123_SUBDOMAIN.match(value) is not None


def is_dns1123_label(value: str) -> bool:
    """The rule for namespace names."""
    return len(value) <= 63 and _DNS1123_LABEL.match(value) is not None


def _show(value: object) -> str:
    """A value as it appears in an error: JSON-quoted, one line, not too long."""
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Problems:
    """Validation problems, collected so that one error can report all of them."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"{path} {message}" if path else message)

    def raise_if_any(self, subject: str) -> None:
        if self.messages:
            raise InputError(f"{subject}: " + "; ".join(self.messages))


class _Fields:
    """Typed, path-aware reads from one JSON object.

    A missing or mistyped value is recorded as a problem and replaced by the default, so
    parsing always runs to the end and finds every problem in one pass. `None` counts as
    absent, as it does for the API server.
    """

    def __init__(self, data: object, path: str, problems: _Problems) -> None:
        self.path = path
        self.problems = problems
        if isinstance(data, Mapping):
            self.data: Mapping[str, Any] = data
        else:
            self.data = {}
            if data is not None:
                problems.add(path, f"must be an object, got {_show(data)}")

    def path_of(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def problem(self, key: str, message: str) -> None:
        self.problems.add(self.path_of(key), message)

    def _wrong_type(self, key: str, expected: str, value: object) -> None:
        # YAML turns `1.0`, `yes` and `0755` into non-strings; say how to keep them text.
        quote_hint = " (quote it in YAML)" if expected == "a string" else ""
        self.problem(key, f"must be {expected}{quote_hint}, got {_show(value)}")

    def only(self, known: Iterable[str]) -> None:
        """Unknown fields are typos more often than not: name them, suggest the field."""
        known_fields = list(known)
        for key in self.data:
            if key in known_fields:
                continue
            close = difflib.get_close_matches(str(key), known_fields, n=1)
            suggestion = f" (did you mean {close[0]}?)" if close else ""
            self.problem(str(key), f"is not a known field{suggestion}")

    def optional_string(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self._wrong_type(key, "a string", value)
            return None
        return value

    def string(self, key: str, default: str = "") -> str:
        value = self.optional_string(key)
        return default if value is None else value

    def required_string(self, key: str) -> str:
        value = self.data.get(key)
        if value is None or value == "":
            self.problem(key, "is required")
            return ""
        return self.string(key)

    def boolean(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self._wrong_type(key, "true or false", value)
            return default
        return value

    def optional_integer(self, key: str, minimum: int = 0) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        # bool is an int in Python but `true` is never a count.
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self._wrong_type(key, f"an integer >= {minimum}", value)
            return None
        return value

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        value = self.optional_integer(key, minimum)
        return default if value is None else value

    def number(self, key: str, default: float, minimum: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or not math.isfinite(value) or value < minimum:
            self._wrong_type(key, f"a number >= {minimum:g}", value)
            return default
        return float(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            self._wrong_type(key, "a list of strings", value)
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                items.append(item)
            else:
                self.problems.add(
                    f"{self.path_of(key)}[{index}]",
                    f"must be a string (quote it in YAML), got {_show(item)}",
                )
        return tuple(items)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._wrong_type(key, "a map of strings", value)
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, str):
                result[str(name)] = item
            else:
                self.problem(
                    f"{key}.{name}", f"must be a string (quote it in YAML), got {_show(item)}"
                )
        return result

    def duration(self, key: str, default: str) -> str:
        """A positive duration, kept in its wire form (`to_dict` gives back what was
        written); a zero interval or timeout would spin or never wait."""
        value = self.data.get(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(value) if isinstance(value, str) else None
        except InputError:
            seconds = None
        if seconds is None:
            self._wrong_type(key, 'a duration like "90s", "5m" or "1h30m"', value)
            return default
        if seconds <= 0:
            self.problem(key, f"must be longer than zero, got {_show(value)}")
            return default
        return str(value)

    def timestamp(self, key: str) -> str | None:
        value = self.optional_string(key)
        if value is not None and not _is_rfc3339(value):
            self._wrong_type(key, "an RFC 3339 time like 2024-05-01T12:00:00Z", value)
            return None
        return value

    def choice(self, key: str, allowed: type[E], default: E) -> E:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value not in {member.value for member in allowed}:
            names = ", ".join(member.value for member in allowed)
            self.problem(key, f"must be one of {names}, got {_show(value)}")
            return default
        return allowed(value)

    def child(self, key: str) -> _Fields | None:
        """The nested object at `key`, or None when it is absent."""
        if not self.has(key):
            return None
        return _Fields(self.data[key], self.path_of(key), self.problems)

    def children(self, key: str) -> list[_Fields]:
        """The objects of the list at `key`, each with its indexed path."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong_type(key, "a list", value)
            return []
        return [
            _Fields(item, f"{self.path_of(key)}[{index}]", self.problems)
            for index, item in enumerate(value)
        ]


def _is_rfc3339(value: str) -> bool:
    """A date, a time and a zone: what metav1.Time writes, e.g. 2024-05-01T12:00:00Z."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and len(value) > len("2024-05-01")


def _parse_alone(parser: Callable[[_Fields], T], data: object, subject: str) -> T:
    """Run one parser on its own: the public `from_dict` of every nested type."""
    problems = _Problems()
    result = parser(_Fields(data, "", problems))
    problems.raise_if_any(subject)
    return result


def _drop_none(wire: dict[str, Any]) -> dict[str, Any]:
    """Unset optionals are omitted from the wire form rather than sent as null."""
    return {key: value for key, value in wire.items() if value is not None}


def _list_or_none(items: Sequence[Any]) -> list[Any] | None:
    return list(items) if items else None


def _dict_or_none(items: Mapping[str, str]) -> dict[str, str] | None:
    return dict(items) if items else None


def _check_name(fields: _Fields, key: str, value: str) -> None:
    if value and not is_dns1123_subdomain(value):
        fields.problem(
            key,
            "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit, at most 253), got {_show(value)}",
        )


def _check_namespace(fields: _Fields, key: str, value: str | None) -> None:
    if value and not is_dns1123_label(value):
        fields.problem(
            key,
            "must be a DNS-1123 label (lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most 63), got {_show(value)}",
        )


# ------------------------------------------------------------------------ sync options


def parse_sync_options(options: Iterable[str]) -> dict[str, str]:
    """`["CreateNamespace=true", "Prune=false"]` -> `{"CreateNamespace": "true", ...}`.

    Unknown options are kept: tether ignores what it does not know instead of refusing a
    manifest written for a newer version. The last of repeated options wins. Also fits
    the comma-split value of the `…/sync-options` annotation.
    """
    parsed: dict[str, str] = {}
    for option in options:
        name, equals, value = option.partition("=")
        if not equals or not name.strip():
            raise InputError(f"sync option {_show(option)} must look like Name=value")
        parsed[name.strip()] = value.strip()
    return parsed


def _parse_sync_option_list(fields: _Fields, key: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for index, option in enumerate(fields.strings(key)):
        try:
            parsed.update(parse_sync_options([option]))
        except InputError:
            fields.problems.add(
                f"{fields.path_of(key)}[{index}]",
                f"must look like Name=value (e.g. CreateNamespace=true), got {_show(option)}",
            )
    return parsed


# ------------------------------------------------------------------------------ source


@dataclass(frozen=True)
class DirectorySource:
    """A directory of plain YAML/JSON manifests."""

    recurse: bool = False
    include: str | None = None  # glob of file names to read, e.g. "{*.yaml,*.json}"
    exclude: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {"recurse": self.recurse, "include": self.include, "exclude": self.exclude}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DirectorySource:
        return _parse_alone(_parse_directory, data, "directory")


def _parse_directory(fields: _Fields) -> DirectorySource:
    fields.only(("recurse", "include", "exclude"))
    return DirectorySource(
        recurse=fields.boolean("recurse"),
        include=fields.optional_string("include"),
        exclude=fields.optional_string("exclude"),
    )


@dataclass(frozen=True)
class KustomizeSource:
    """A kustomization; the options are applied on top of the one found at `path`."""

    name_prefix: str | None = None
    name_suffix: str | None = None
    images: tuple[str, ...] = ()  # kustomize edit set image syntax: "nginx=nginx:1.27"
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "namePrefix": self.name_prefix,
                "nameSuffix": self.name_suffix,
                "images": _list_or_none(self.images),
                "commonLabels": _dict_or_none(self.common_labels),
                "commonAnnotations": _dict_or_none(self.common_annotations),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KustomizeSource:
        return _parse_alone(_parse_kustomize, data, "kustomize")


def _parse_kustomize(fields: _Fields) -> KustomizeSource:
    fields.only(("namePrefix", "nameSuffix", "images", "commonLabels", "commonAnnotations"))
    return KustomizeSource(
        name_prefix=fields.optional_string("namePrefix"),
        name_suffix=fields.optional_string("nameSuffix"),
        images=fields.strings("images"),
        common_labels=fields.string_map("commonLabels"),
        common_annotations=fields.string_map("commonAnnotations"),
    )


@dataclass(frozen=True)
class HelmParameter:
    """One `--set name=value`."""

    name: str
    value: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


def _parse_helm_parameter(fields: _Fields) -> HelmParameter:
    fields.only(("name", "value"))
    if not fields.has("value"):
        fields.problem("value", "is required")
    return HelmParameter(name=fields.required_string("name"), value=fields.string("value"))


@dataclass(frozen=True)
class HelmSource:
    """A Helm chart at `path`. `values` is YAML text, layered after `valueFiles`."""

    release_name: str | None = None  # defaults to the Application's name
    value_files: tuple[str, ...] = ()
    values: str | None = None
    parameters: tuple[HelmParameter, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "releaseName": self.release_name,
                "valueFiles": _list_or_none(self.value_files),
                "values": self.values,
                "parameters": _list_or_none([p.to_dict() for p in self.parameters]),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HelmSource:
        return _parse_alone(_parse_helm, data, "helm")


def _parse_helm(fields: _Fields) -> HelmSource:
    fields.only(("releaseName", "valueFiles", "values", "parameters"))
    release_name = fields.optional_string("releaseName")
    if release_name is not None and not (
        len(release_name) <= _HELM_RELEASE_NAME_MAX and is_dns1123_subdomain(release_name)
    ):
        fields.problem(
            "releaseName",
            "must be a valid Helm release name (lowercase letters, digits, '-' and '.', "
            f"at most {_HELM_RELEASE_NAME_MAX}), got {_show(release_name)}",
        )
    if fields.has("values") and not isinstance(fields.data["values"], str):
        fields.problem(
            "values",
            "must be a string of YAML (write `values: |` and indent the values below it), "
            f"got {_show(fields.data['values'])}",
        )
        values = None
    else:
        values = fields.optional_string("values")
    return HelmSource(
        release_name=release_name,
        value_files=fields.strings("valueFiles"),
        values=values,
        parameters=tuple(_parse_helm_parameter(p) for p in fields.children("parameters")),
    )


@dataclass(frozen=True)
class SecretRef:
    """A Secret in the Application's namespace."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class Decryption:
    """Decrypt SOPS-encrypted manifests with keys from `secretRef` (or the controller's)."""

    provider: str = "sops"
    secret_ref: SecretRef | None = None

    def to_dict(self) -> dict[str, Any]:
        secret_ref = self.secret_ref.to_dict() if self.secret_ref is not None else None
        return _drop_none({"provider": self.provider, "secretRef": secret_ref})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decryption:
        return _parse_alone(_parse_decryption, data, "decryption")


def _parse_decryption(fields: _Fields) -> Decryption:
    fields.only(("provider", "secretRef"))
    provider = fields.string("provider", "sops")
    if provider not in DECRYPTION_PROVIDERS:
        fields.problem(
            "provider", f"must be one of {', '.join(DECRYPTION_PROVIDERS)}, got {_show(provider)}"
        )
    secret_ref = None
    ref_fields = fields.child("secretRef")
    if ref_fields is not None:
        ref_fields.only(("name",))
        name = ref_fields.required_string("name")
        _check_name(ref_fields, "name", name)
        secret_ref = SecretRef(name)
    return Decryption(provider=provider, secret_ref=secret_ref)


@dataclass(frozen=True)
class Source:
    """Where the manifests come from and how they are rendered."""

    repo_url: str
    target_revision: str = DEFAULT_TARGET_REVISION
    path: str = DEFAULT_PATH
    directory: DirectorySource | None = None
    kustomize: KustomizeSource | None = None
    helm: HelmSource | None = None
    decryption: Decryption | None = None

    @property
    def render_type(self) -> str | None:
        """`directory`, `kustomize` or `helm` when chosen; None: detect from the tree."""
        return next((name for name in RENDERERS if getattr(self, name) is not None), None)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "repoURL": self.repo_url,
                "targetRevision": self.target_revision,
                "path": self.path,
                "directory": self.directory.to_dict() if self.directory is not None else None,
                # `kustomize: {}` is meaningful (it selects the renderer), so it is kept.
                "kustomize": self.kustomize.to_dict() if self.kustomize is not None else None,
                "helm": self.helm.to_dict() if self.helm is not None else None,
                "decryption": self.decryption.to_dict() if self.decryption is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        return _parse_alone(_parse_source, data, "source")


def _parse_source(fields: _Fields) -> Source:
    fields.only(
        (
            "repoURL",
            "targetRevision",
            "path",
            "directory",
            "kustomize",
            "helm",
            "decryption",
        )
    )
    repo_url = fields.required_string("repoURL")
    _check_repo_url(fields, repo_url)
    path = fields.string("path", DEFAULT_PATH)
    _check_repo_path(fields, path)
    target_revision = fields.string("targetRevision", DEFAULT_TARGET_REVISION)
    if not target_revision:
        fields.problem("targetRevision", "must not be empty (omit it to follow HEAD)")
    chosen = [name for name in RENDERERS if fields.has(name)]
    if len(chosen) > 1:
        fields.problems.add(
            fields.path, f"may set only one of {', '.join(RENDERERS)}, got {', '.join(chosen)}"
        )
    directory, kustomize, helm, decryption = (
        fields.child("directory"),
        fields.child("kustomize"),
        fields.child("helm"),
        fields.child("decryption"),
    )
    return Source(
        repo_url=repo_url,
        target_revision=target_revision or DEFAULT_TARGET_REVISION,
        path=path,
        directory=_parse_directory(directory) if directory is not None else None,
        kustomize=_parse_kustomize(kustomize) if kustomize is not None else None,
        helm=_parse_helm(helm) if helm is not None else None,
        decryption=_parse_decryption(decryption) if decryption is not None else None,
    )


def _check_repo_url(fields: _Fields, url: str) -> None:
    if not url:
        return
    has_scheme = any(url.startswith(s) and len(url) > len(s) for s in _GIT_URL_SCHEMES)
    if not has_scheme and not _SCP_LIKE_GIT_URL.match(url):
        fields.problem(
            "repoURL",
            "must be a git URL (file://, https://, http://, ssh://, git:// or "
            f"user@host:path), got {_show(url)}",
        )


def _check_repo_path(fields: _Fields, path: str) -> None:
    # The path is read inside a checked-out tree: it must not escape it.
    if path.startswith("/") or ".." in path.split("/") or not path:
        fields.problem("path", f"must be a relative path inside the repository, got {_show(path)}")


# ------------------------------------------------------------------------- destination


@dataclass(frozen=True)
class Destination:
    """Where to apply. Only the in-cluster destination is served today; `server`/`name`
    are parsed so that manifests written for other clusters keep their meaning."""

    namespace: str | None = None  # for namespaced objects that do not name their own
    server: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"namespace": self.namespace, "server": self.server, "name": self.name})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Destination:
        return _parse_alone(_parse_destination, data, "destination")


def _parse_destination(fields: _Fields) -> Destination:
    fields.only(("namespace", "server", "name"))
    namespace = fields.optional_string("namespace")
    _check_namespace(fields, "namespace", namespace)
    server, name = fields.optional_string("server"), fields.optional_string("name")
    if server and name:
        fields.problems.add(fields.path, "may set server or name, not both")
    return Destination(namespace=namespace or None, server=server or None, name=name or None)


# ------------------------------------------------------------------------- sync policy


@dataclass(frozen=True)
class AutomatedSync:
    """Presence turns auto-sync on: sync once per new revision."""

    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False  # let an empty render prune everything

    def to_dict(self) -> dict[str, Any]:
        return {"prune": self.prune, "selfHeal": self.self_heal, "allowEmpty": self.allow_empty}


def _parse_automated(fields: _Fields) -> AutomatedSync:
    fields.only(("prune", "selfHeal", "allowEmpty"))
    return AutomatedSync(
        prune=fields.boolean("prune"),
        self_heal=fields.boolean("selfHeal"),
        allow_empty=fields.boolean("allowEmpty"),
    )


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (0-based): duration x factor^n, capped at maxDuration."""

    duration: str = DEFAULT_BACKOFF_DURATION
    factor: float = DEFAULT_BACKOFF_FACTOR
    max_duration: str = DEFAULT_BACKOFF_MAX_DURATION

    @property
    def duration_seconds(self) -> float:
        return parse_duration(self.duration)

    @property
    def max_duration_seconds(self) -> float:
        return parse_duration(self.max_duration)

    def delay_seconds(self, attempt: int) -> float:
        # Cap the exponent first: factor**attempt overflows long before it matters.
        exponent = min(max(attempt, 0), 64)
        return min(self.duration_seconds * self.factor**exponent, self.max_duration_seconds)

    def to_dict(self) -> dict[str, Any]:
        # Write `2`, not `2.0`: the form people write and the CRD's default.
        factor = float(self.factor)
        wire_factor: float | int = int(factor) if factor.is_integer() else factor
        return {"duration": self.duration, "factor": wire_factor, "maxDuration": self.max_duration}


def _parse_backoff(fields: _Fields) -> Backoff:
    fields.only(("duration", "factor", "maxDuration"))
    backoff = Backoff(
        duration=fields.duration("duration", DEFAULT_BACKOFF_DURATION),
        factor=fields.number("factor", DEFAULT_BACKOFF_FACTOR, minimum=1),
        max_duration=fields.duration("maxDuration", DEFAULT_BACKOFF_MAX_DURATION),
    )
    if backoff.max_duration_seconds < backoff.duration_seconds:
        fields.problem(
            "maxDuration",
            f"must not be shorter than duration ({backoff.duration}), "
            f"got {_show(backoff.max_duration)}",
        )
    return backoff


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a failed sync: `limit` attempts after the first (0: none)."""

    limit: int = DEFAULT_RETRY_LIMIT
    backoff: Backoff = field(default_factory=Backoff)

    def to_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "backoff": self.backoff.to_dict()}


def _parse_retry(fields: _Fields) -> RetryPolicy:
    fields.only(("limit", "backoff"))
    backoff = fields.child("backoff")
    return RetryPolicy(
        limit=fields.integer("limit", DEFAULT_RETRY_LIMIT, minimum=0),
        backoff=_parse_backoff(backoff) if backoff is not None else Backoff(),
    )


@dataclass(frozen=True)
class SyncPolicy:
    """`syncOptions` are held parsed, e.g. {"CreateNamespace": "true"}, in written order."""

    automated: AutomatedSync | None = None
    sync_options: Mapping[str, str] = field(default_factory=dict)
    retry: RetryPolicy | None = None

    def option(self, name: str) -> str | None:
        return self.sync_options.get(name)

    def option_enabled(self, name: str) -> bool:
        """True when the option is set to `true` (any case), as in `PruneLast=true`."""
        return (self.option(name) or "").lower() == "true"

    def to_dict(self) -> dict[str, Any]:
        options = [f"{name}={value}" for name, value in self.sync_options.items()]
        return _drop_none(
            {
                "automated": self.automated.to_dict() if self.automated is not None else None,
                "syncOptions": _list_or_none(options),
                "retry": self.retry.to_dict() if self.retry is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncPolicy:
        return _parse_alone(_parse_sync_policy, data, "syncPolicy")


def _parse_sync_policy(fields: _Fields) -> SyncPolicy:
    fields.only(("automated", "syncOptions", "retry"))
    # `automated: {}` turns auto-sync on with every option off; `automated: null` is
    # absent, as the API server would store it.
    automated, retry = fields.child("automated"), fields.child("retry")
    return SyncPolicy(
        automated=_parse_automated(automated) if automated is not None else None,
        sync_options=_parse_sync_option_list(fields, "syncOptions"),
        retry=_parse_retry(retry) if retry is not None else None,
    )


# ------------------------------------------------------------------- ignore differences


@dataclass(frozen=True)
class IgnoreDifference:
    """Fields of matching objects that are not compared. `group`/`kind` are globs
    (`"*"`), `name`/`namespace` exact; the empty group is the core API group."""

    kind: str
    group: str = ""
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "group": self.group or None,
                "kind": self.kind,
                "name": self.name,
                "namespace": self.namespace,
                "jsonPointers": _list_or_none(self.json_pointers),
                "jqPathExpressions": _list_or_none(self.jq_path_expressions),
                "managedFieldsManagers": _list_or_none(self.managed_fields_managers),
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IgnoreDifference:
        return _parse_alone(_parse_ignore_difference, data, "ignoreDifferences item")


def _parse_ignore_difference(fields: _Fields) -> IgnoreDifference:
    fields.only(
        (
            "group",
            "kind",
            "name",
            "namespace",
            "jsonPointers",
            "jqPathExpressions",
            "managedFieldsManagers",
        )
    )
    rule = IgnoreDifference(
        kind=fields.required_string("kind"),
        group=fields.string("group"),
        name=fields.optional_string("name"),
        namespace=fields.optional_string("namespace"),
        json_pointers=fields.strings("jsonPointers"),
        jq_path_expressions=fields.strings("jqPathExpressions"),
        managed_fields_managers=fields.strings("managedFieldsManagers"),
    )
    for index, pointer in enumerate(rule.json_pointers):
        if not pointer.startswith("/") or _BAD_POINTER_ESCAPE.search(pointer):
            fields.problems.add(
                f"{fields.path_of('jsonPointers')}[{index}]",
                f"must be an RFC 6901 JSON pointer like /spec/replicas, got {_show(pointer)}",
            )
    for index, expression in enumerate(rule.jq_path_expressions):
        if not expression.strip():
            fields.problems.add(f"{fields.path_of('jqPathExpressions')}[{index}]", "is empty")
    if not (rule.json_pointers or rule.jq_path_expressions or rule.managed_fields_managers):
        fields.problems.add(
            fields.path,
            "must list jsonPointers, jqPathExpressions or managedFieldsManagers "
            "(otherwise it ignores nothing)",
        )
    return rule


# ------------------------------------------------------------------------- dependencies


@dataclass(frozen=True)
class Dependency:
    """An Application that must be Synced and Healthy before this one syncs (Flux-style
    ordering); the namespace defaults to this Application's."""

    name: str
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"name": self.name, "namespace": self.namespace})


def _parse_dependency(fields: _Fields) -> Dependency:
    fields.only(("name", "namespace"))
    name = fields.required_string("name")
    _check_name(fields, "name", name)
    namespace = fields.optional_string("namespace")
    _check_namespace(fields, "namespace", namespace)
    return Dependency(name=name, namespace=namespace or None)


# -------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class ApplicationSpec:
    source: Source
    destination: Destination = field(default_factory=Destination)
    sync_policy: SyncPolicy = field(default_factory=SyncPolicy)
    ignore_differences: tuple[IgnoreDifference, ...] = ()
    depends_on: tuple[Dependency, ...] = ()
    suspend: bool = False  # no writes at all; status is still computed
    interval: str = DEFAULT_INTERVAL  # git poll interval, jittered by the controller
    timeout: str = DEFAULT_TIMEOUT  # sync plus health wait
    revision_history_limit: int = DEFAULT_REVISION_HISTORY_LIMIT

    @property
    def auto_sync_enabled(self) -> bool:
        return self.sync_policy.automated is not None

    @property
    def self_heal(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.self_heal

    @property
    def auto_prune(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.prune

    @property
    def allow_empty(self) -> bool:
        return self.sync_policy.automated is not None and self.sync_policy.automated.allow_empty

    @property
    def sync_options(self) -> Mapping[str, str]:
        return self.sync_policy.sync_options

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval)

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    def to_dict(self) -> dict[str, Any]:
        sync_policy = self.sync_policy.to_dict()
        return _drop_none(
            {
                "source": self.source.to_dict(),
                "destination": self.destination.to_dict() or None,
                "syncPolicy": sync_policy or None,
                "ignoreDifferences": _list_or_none(
                    [rule.to_dict() for rule in self.ignore_differences]
                ),
                "dependsOn": _list_or_none([dep.to_dict() for dep in self.depends_on]),
                "suspend": self.suspend,
                "interval": self.interval,
                "timeout": self.timeout,
                "revisionHistoryLimit": self.revision_history_limit,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationSpec:
        return _parse_alone(
            lambda f: _parse_spec(f, app_namespace=None, app_name=None), data, "spec"
        )


_SPEC_FIELDS = (
    "source",
    "destination",
    "syncPolicy",
    "ignoreDifferences",
    "dependsOn",
    "suspend",
    "interval",
    "timeout",
    "revisionHistoryLimit",
)


def _parse_spec(
    fields: _Fields, app_namespace: str | None, app_name: str | None
) -> ApplicationSpec:
    fields.only(_SPEC_FIELDS)
    source = fields.child("source")
    if source is None:
        fields.problem("source", "is required")
    destination, sync_policy = fields.child("destination"), fields.child("syncPolicy")
    spec = ApplicationSpec(
        source=_parse_source(source) if source is not None else Source(repo_url=""),
        destination=_parse_destination(destination) if destination is not None else Destination(),
        sync_policy=_parse_sync_policy(sync_policy) if sync_policy is not None else SyncPolicy(),
        ignore_differences=tuple(
            _parse_ignore_difference(rule) for rule in fields.children("ignoreDifferences")
        ),
        depends_on=tuple(_parse_dependency(dep) for dep in fields.children("dependsOn")),
        suspend=fields.boolean("suspend"),
        interval=fields.duration("interval", DEFAULT_INTERVAL),
        timeout=fields.duration("timeout", DEFAULT_TIMEOUT),
        revision_history_limit=fields.integer(
            "revisionHistoryLimit", DEFAULT_REVISION_HISTORY_LIMIT, minimum=0
        ),
    )
    _check_not_self_dependent(fields, spec.depends_on, app_namespace, app_name)
    return spec


def _check_not_self_dependent(
    fields: _Fields,
    depends_on: Sequence[Dependency],
    app_namespace: str | None,
    app_name: str | None,
) -> None:
    # An application waiting for itself would never become ready.
    for index, dep in enumerate(depends_on):
        if dep.name == app_name and (dep.namespace or app_namespace) == app_namespace:
            fields.problems.add(
                f"{fields.path_of('dependsOn')}[{index}]", "names the application itself"
            )


# ------------------------------------------------------------------------------ status


class SyncStatusCode(StrEnum):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class HealthStatusCode(StrEnum):
    HEALTHY = "Healthy"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SUSPENDED = "Suspended"
    MISSING = "Missing"
    UNKNOWN = "Unknown"


class OperationPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


# Condition types DESIGN §3 names; other layers may add their own.
CONDITION_HISTORY_REWRITTEN = "HistoryRewritten"
CONDITION_BREAK_GLASS = "BreakGlass"
# Raised by the controller: self-heal keeps being undone, or dependencies are not ready.
CONDITION_SELF_HEAL_FAILING = "SelfHealFailing"
CONDITION_WAITING_FOR_DEPENDENCIES = "WaitingForDependencies"
CONDITION_SYNC_ERROR = "SyncError"

# `tether app reconcile` asks the controller for a reconcile by setting this annotation to
# a fresh token; the controller echoes the token in `status.lastHandledReconcileAt` (Flux's
# requestedAt protocol). With `--with-source` the second annotation carries the same token.
RECONCILE_REQUESTED_ANNOTATION = "tether.dev/reconcile-requested-at"
RECONCILE_WITH_SOURCE_ANNOTATION = "tether.dev/reconcile-with-source"


@dataclass(frozen=True)
class SyncStatus:
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    revision: str | None = None  # the commit compared against
    compared_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {"status": self.status.value, "revision": self.revision, "comparedAt": self.compared_at}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyncStatus:
        return _parse_alone(_parse_sync_status, data, "sync status")


def _parse_sync_status(fields: _Fields) -> SyncStatus:
    return SyncStatus(
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        revision=fields.optional_string("revision"),
        compared_at=fields.timestamp("comparedAt"),
    )


@dataclass(frozen=True)
class HealthStatus:
    status: HealthStatusCode = HealthStatusCode.UNKNOWN
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"status": self.status.value, "message": self.message})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HealthStatus:
        return _parse_alone(_parse_health_status, data, "health status")


def _parse_health_status(fields: _Fields) -> HealthStatus:
    return HealthStatus(
        status=fields.choice("status", HealthStatusCode, HealthStatusCode.UNKNOWN),
        message=fields.optional_string("message"),
    )


@dataclass(frozen=True)
class ResourceStatus:
    """One managed object as last compared; `drift` lists the paths that differ, and
    `driftCause`/`driftWriter` say why (DESIGN "drift forensics"; `tether drift` has
    the evidence per path)."""

    kind: str
    name: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    status: SyncStatusCode = SyncStatusCode.UNKNOWN
    health: HealthStatus | None = None
    drift: tuple[str, ...] = ()
    drift_cause: str | None = None
    drift_writer: str | None = None

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "group": self.group or None,
                "version": self.version or None,
                "kind": self.kind,
                "namespace": self.namespace or None,
                "name": self.name,
                "status": self.status.value,
                "health": self.health.to_dict() if self.health is not None else None,
                "drift": _list_or_none(self.drift),
                "driftCause": self.drift_cause,
                "driftWriter": self.drift_writer,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceStatus:
        return _parse_alone(_parse_resource_status, data, "resource status")


def _parse_resource_status(fields: _Fields) -> ResourceStatus:
    health = fields.child("health")
    return ResourceStatus(
        kind=fields.required_string("kind"),
        name=fields.required_string("name"),
        group=fields.string("group"),
        version=fields.string("version"),
        namespace=fields.string("namespace"),
        status=fields.choice("status", SyncStatusCode, SyncStatusCode.UNKNOWN),
        health=_parse_health_status(health) if health is not None else None,
        drift=fields.strings("drift"),
        drift_cause=fields.optional_string("driftCause"),
        drift_writer=fields.optional_string("driftWriter"),
    )


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style condition. Build new ones with an empty transition time and
    let `set_condition` stamp it."""

    type: str
    status: ConditionStatus
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "type": self.type,
                "status": self.status.value,
                "reason": self.reason,
                "message": self.message,
                "lastTransitionTime": self.last_transition_time or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Condition:
        return _parse_alone(_parse_condition, data, "condition")


def _parse_condition(fields: _Fields) -> Condition:
    return Condition(
        type=fields.required_string("type"),
        status=fields.choice("status", ConditionStatus, ConditionStatus.UNKNOWN),
        reason=fields.string("reason"),
        message=fields.string("message"),
        last_transition_time=fields.timestamp("lastTransitionTime") or "",
    )


def set_condition(conditions: Sequence[Condition], new: Condition, now: str) -> list[Condition]:
    """`conditions` with `new` in place of the condition of its type (or appended).

    The transition time moves to `now` only when the status changes: reason and message
    updates are not transitions, and a stable time is what tells how long a state lasts.
    """
    updated: list[Condition] = []
    replaced = False
    for current in conditions:
        if current.type != new.type:
            updated.append(current)
            continue
        if replaced:  # a duplicate of the type: keep one condition per type
            continue
        unchanged = current.status == new.status and current.last_transition_time
        since = current.last_transition_time if unchanged else now
        updated.append(replace(new, last_transition_time=since))
        replaced = True
    if not replaced:
        updated.append(replace(new, last_transition_time=now))
    return updated


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def remove_condition(conditions: Iterable[Condition], type_: str) -> list[Condition]:
    return [c for c in conditions if c.type != type_]


@dataclass(frozen=True)
class OperationState:
    """The current or last sync operation. `retryCount` counts failed attempts of this
    operation so that `syncPolicy.retry.limit` can be honoured across reconciles."""

    phase: OperationPhase
    revision: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    message: str | None = None
    initiated_by: str | None = None
    retry_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "phase": self.phase.value,
                "revision": self.revision,
                "startedAt": self.started_at,
                "finishedAt": self.finished_at,
                "message": self.message,
                "initiatedBy": self.initiated_by,
                "retryCount": self.retry_count or None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OperationState:
        return _parse_alone(_parse_operation_state, data, "operation state")


def _parse_operation_state(fields: _Fields) -> OperationState:
    if not fields.has("phase"):
        fields.problem("phase", "is required")
    return OperationState(
        phase=fields.choice("phase", OperationPhase, OperationPhase.ERROR),
        revision=fields.optional_string("revision"),
        started_at=fields.timestamp("startedAt"),
        finished_at=fields.timestamp("finishedAt"),
        message=fields.optional_string("message"),
        initiated_by=fields.optional_string("initiatedBy"),
        retry_count=fields.integer("retryCount", 0),
    )


@dataclass(frozen=True)
class HistoryEntry:
    """One successful full sync. `manifestsRef` names the Secret holding its rendered
    manifests. `health` (beyond DESIGN §2's list) records the health the sync reached,
    so "the last Healthy revision" can be found without Git."""

    id: int
    revision: str
    deployed_at: str
    deploy_started_at: str | None = None
    initiated_by: str | None = None
    manifests_ref: str | None = None
    health: HealthStatusCode | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "revision": self.revision,
                "deployedAt": self.deployed_at,
                "deployStartedAt": self.deploy_started_at,
                "initiatedBy": self.initiated_by,
                "manifestsRef": self.manifests_ref,
                "health": self.health.value if self.health is not None else None,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        return _parse_alone(_parse_history_entry, data, "history entry")


def _parse_history_entry(fields: _Fields) -> HistoryEntry:
    history_id = fields.optional_integer("id")
    if history_id is None and not fields.has("id"):
        fields.problem("id", "is required")
    deployed_at = fields.timestamp("deployedAt")
    if not fields.has("deployedAt"):
        fields.problem("deployedAt", "is required")
    health = fields.choice("health", HealthStatusCode, HealthStatusCode.UNKNOWN)
    return HistoryEntry(
        id=history_id or 0,
        revision=fields.required_string("revision"),
        deployed_at=deployed_at or "",
        deploy_started_at=fields.timestamp("deployStartedAt"),
        initiated_by=fields.optional_string("initiatedBy"),
        manifests_ref=fields.optional_string("manifestsRef"),
        health=health if fields.has("health") else None,
    )


@dataclass(frozen=True)
class BreakGlass:
    """A rollback from history is in force and Git does not match the cluster yet."""

    active: bool = False
    history_id: int | None = None
    since: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "active": self.active,
                "historyId": self.history_id,
                "since": self.since,
                "message": self.message,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakGlass:
        return _parse_alone(_parse_break_glass, data, "break-glass state")


def _parse_break_glass(fields: _Fields) -> BreakGlass:
    return BreakGlass(
        active=fields.boolean("active"),
        history_id=fields.optional_integer("historyId"),
        since=fields.timestamp("since"),
        message=fields.optional_string("message"),
    )


@dataclass(frozen=True)
class ApplicationStatus:
    """Status as the controller writes it. Unknown status fields are ignored on read (a
    newer controller may write more); lists are always written, even when empty, so a
    merge patch clears them."""

    sync: SyncStatus = field(default_factory=SyncStatus)
    health: HealthStatus = field(default_factory=HealthStatus)
    out_of_sync_since: str | None = None
    resources: tuple[ResourceStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()
    operation_state: OperationState | None = None
    history: tuple[HistoryEntry, ...] = ()
    break_glass: BreakGlass | None = None
    last_handled_reconcile_at: str | None = None  # the last reconcile-request token handled

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "sync": self.sync.to_dict(),
                "health": self.health.to_dict(),
                "outOfSyncSince": self.out_of_sync_since,
                "resources": [r.to_dict() for r in self.resources],
                "conditions": [c.to_dict() for c in self.conditions],
                "operationState": (
                    self.operation_state.to_dict() if self.operation_state is not None else None
                ),
                "history": [h.to_dict() for h in self.history],
                "breakGlass": self.break_glass.to_dict() if self.break_glass is not None else None,
                "lastHandledReconcileAt": self.last_handled_reconcile_at,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApplicationStatus:
        return _parse_alone(_parse_status, data, "Application status")


def _parse_status(fields: _Fields) -> ApplicationStatus:
    sync, health = fields.child("sync"), fields.child("health")
    operation, break_glass = fields.child("operationState"), fields.child("breakGlass")
    return ApplicationStatus(
        sync=_parse_sync_status(sync) if sync is not None else SyncStatus(),
        health=_parse_health_status(health) if health is not None else HealthStatus(),
        out_of_sync_since=fields.timestamp("outOfSyncSince"),
        resources=tuple(_parse_resource_status(r) for r in fields.children("resources")),
        conditions=tuple(_parse_condition(c) for c in fields.children("conditions")),
        operation_state=_parse_operation_state(operation) if operation is not None else None,
        history=tuple(_parse_history_entry(h) for h in fields.children("history")),
        break_glass=_parse_break_glass(break_glass) if break_glass is not None else None,
        last_handled_reconcile_at=fields.optional_string("lastHandledReconcileAt"),
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
        problems = _Problems()
        fields = _Fields(obj, "", problems)
        _check_type_meta(fields)
        metadata = _Fields(fields.data.get("metadata"), "metadata", problems)
        name = metadata.required_string("name")
        _check_name(metadata, "name", name)
        namespace = metadata.string("namespace") or DEFAULT_APP_NAMESPACE
        _check_namespace(metadata, "namespace", namespace)
        spec = fields.child("spec")
        if spec is None:
            fields.problem("spec", "is required")
            # Parse an empty spec quietly: its "is required" messages would repeat this one.
            spec = _Fields({}, "spec", _Problems())
        status = fields.child("status")
        application = cls(
            name=name,
            namespace=namespace,
            spec=_parse_spec(spec, app_namespace=namespace, app_name=name),
            status=_parse_status(status) if status is not None else None,
            labels=metadata.string_map("labels"),
            annotations=metadata.string_map("annotations"),
            extra_metadata=copy.deepcopy(
                {k: v for k, v in metadata.data.items() if k not in _METADATA_OWN_FIELDS}
            ),
        )
        problems.raise_if_any(f"Application {name}" if name else "Application")
        return application


def _check_type_meta(fields: _Fields) -> None:
    api_version, kind = fields.data.get("apiVersion"), fields.data.get("kind")
    if api_version is None:
        fields.problem("apiVersion", f"is required (use {API_VERSION})")
    elif api_version != API_VERSION:
        fields.problem("apiVersion", f"must be {API_VERSION}, got {_show(api_version)}")
    if kind is None:
        fields.problem("kind", f"is required (use {KIND})")
    elif kind != KIND:
        fields.problem("kind", f"must be {KIND}, got {_show(kind)}")


# ----------------------------------------------------------------------- tracking ids


@dataclass(frozen=True)
class TrackingId:
    """`<app-ns>/<app-name>:<group>/<kind>:<ns>/<name>`: which application manages an
    object, and which object the annotation was written for. The second half matters:
    an annotation copied onto another object (kubectl get -o yaml | edit | apply) must
    not make that object prunable."""

    app_namespace: str
    app_name: str
    group: str
    kind: str
    namespace: str
    name: str

    @property
    def resource_key(self) -> ResourceKey:
        return ResourceKey(self.group, self.kind, self.namespace, self.name)

    def describes(self, obj: Mapping[str, Any]) -> bool:
        """True when the id names `obj` itself (cluster-scoped: empty namespace)."""
        return ResourceKey.of(dict(obj)) == self.resource_key

    def belongs_to(self, app_namespace: str, app_name: str) -> bool:
        return (self.app_namespace, self.app_name) == (app_namespace, app_name)

    def __str__(self) -> str:
        return tracking_id(
            self.app_namespace, self.app_name, self.group, self.kind, self.namespace, self.name
        )


def tracking_id(
    app_namespace: str, app_name: str, group: str, kind: str, ns: str, name: str
) -> str:
    """The tracking annotation value. The core group and cluster scope are empty strings:
    `tether-system/web:/ConfigMap:prod/cfg`,
    `tether-system/web:rbac.authorization.k8s.io/ClusterRole:/view`."""
    return f"{app_namespace}/{app_name}:{group}/{kind}:{ns}/{name}"


def parse_tracking_id(value: str) -> TrackingId:
    """Inverse of `tracking_id`; InputError when `value` is not one. Names, namespaces,
    groups and kinds never contain ':' or '/', so the split is unambiguous."""
    parts = value.split(":")
    if len(parts) == 3:
        app, group_kind, object_ref = (part.split("/") for part in parts)
        if len(app) == 2 and len(group_kind) == 2 and len(object_ref) == 2:
            (app_namespace, app_name), (group, kind), (namespace, name) = (
                app,
                group_kind,
                object_ref,
            )
            if app_namespace and app_name and kind and name:
                return TrackingId(app_namespace, app_name, group, kind, namespace, name)
    raise InputError(
        f"invalid tracking id {_show(value)}: "
        "expected <app-ns>/<app-name>:<group>/<kind>:<ns>/<name>"
    )


def tracking_id_of(obj: Mapping[str, Any]) -> TrackingId | None:
    """The tracking id of a live object, or None when the object is not tether's: no
    annotation, a malformed one, or one that describes some other object."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(TRACKING_ANNOTATION)
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_tracking_id(value)
    except InputError:
        return None
    return parsed if parsed.describes(obj) else None


def is_managed_by(obj: Mapping[str, Any], app_namespace: str, app_name: str) -> bool:
    """Whether `obj` belongs to the application (the only objects it may ever prune)."""
    parsed = tracking_id_of(obj)
    return parsed is not None and parsed.belongs_to(app_namespace, app_name)
