"""The engine's runtime: the adapters one run uses and the caches that outlive a compare
(predictions, renders, health rules, repository credentials, projects).

Shared by the CLI (one command) and the controller (one long-running process).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tether.core.health import CustomHealthRule, parse_health_rules
from tether.core.policy import ProjectViolation
from tether.errors import ClusterError, InputError
from tether.git import GitCredentials, GitRepos, RepositorySecret, credentials_from_secret
from tether.git import select_credentials as select_repo_credentials
from tether.kube import KubeClient, LiveCache
from tether.model.application import API_GROUP, API_VERSION, FIELD_MANAGER, Application
from tether.model.cluster import destination_label, elsewhere
from tether.model.health_checks import HealthCheck
from tether.model.keys import ResourceKey, resource_version_of
from tether.model.names import REPOSITORY_SECRET_SELECTOR
from tether.model.project import (
    DEFAULT_PROJECT,
    DEFAULT_PROJECT_NAMESPACE,
    PROJECT_KIND,
    Project,
)
from tether.render import (
    RenderLimits,
    RenderRequest,
    RenderTools,
    load_untrusted_yaml,
    render,
)
from tether.sandbox import Evaluator

from .apps import ApplicationStore, ClusterApplicationStore
from .facts import ClusterFacts, discover, fingerprint, watch_discovery_kinds

# Custom health rules (jq or CEL) live in this ConfigMap of the app's namespace: every data
# key holds a YAML list of {group, kind, jq | cel} rules (docs/health.md).
HEALTH_RULES_CONFIGMAP = "tether-health-rules"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# (object, digest of the manifest, fingerprint of the live copy, of tether's own fields)
PredictionKey = tuple[ResourceKey, str, str, str | None]


class PredictionCache:
    """Dry-run results keyed by (object, digest of the desired manifest, live fingerprint).

    A server-side dry-run is a pure function of the manifest and the live object (plus
    admission config, which a hard refresh re-reads), so while neither changes the previous
    answer is reused and a warm compare makes no API call at all. One answer per object:
    one for an older manifest or live copy is never asked for again once either moved on
    (keeping them held two to three copies of every object at 5,000 apps). An answer that
    is the live copy it was asked against (an object in sync, or what an apply just
    stored) is kept as a mark, not a copy: the caller's live copy is the answer (at 5,000
    apps, 20,000 objects the watch cache holds already).

    A mark also outlives changes by other writers to fields tether does not own (the
    Deployment controller's revision annotation, a label someone adds): while tether's own
    managedFields entry is what it was (time included: tether's own later writes change
    it) and the live copy still holds every value of the manifest, the same manifest
    applied again changes nothing (a writer that changes one of tether's fields takes it
    over, and the entry changes), so its dry-run would answer with the live copy.
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        # digest, live fingerprint, own-fields fingerprint, the answer (None: the live copy)
        self._entries: OrderedDict[
            ResourceKey, tuple[str, str, str | None, dict[str, Any] | None]
        ] = OrderedDict()
        self._max = max_entries

    @staticmethod
    def cache_key(desired: dict[str, Any], live: Mapping[str, Any]) -> PredictionKey:
        digest = hashlib.sha256(orjson.dumps(desired, option=orjson.OPT_SORT_KEYS)).hexdigest()
        return ResourceKey.of(desired), digest, _live_fingerprint(live), _own_fields(live)

    def get(
        self, key: PredictionKey, live: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The answer for `key`, computed from `desired` and `live`."""
        found = self._entries.get(key[0])
        if found is None or found[0] != key[1]:
            return None
        digest, fingerprint, own, answer = found
        if fingerprint != key[2]:
            unchanged_own = answer is None and own is not None and own == key[3]
            if not unchanged_own or not holds(desired, live):
                return None
            self._entries[key[0]] = (digest, key[2], own, None)  # the mark, for this copy
        self._entries.move_to_end(key[0])
        return answer if answer is not None else dict(live)

    def put(self, key: PredictionKey, predicted: dict[str, Any]) -> None:
        # Same fingerprint as the live copy asked against: only status or resourceVersion
        # could differ, and the diff reads neither from a prediction.
        same_as_live = _live_fingerprint(predicted) == key[2]
        self._entries[key[0]] = (key[1], key[2], key[3], None if same_as_live else predicted)
        self._entries.move_to_end(key[0])
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def copies(self) -> int:
        """How many answers are held as copies (not as the live copy they match)."""
        return sum(1 for entry in self._entries.values() if entry[3] is not None)


def holds(desired: Any, live: Any) -> bool:
    """Every value `desired` sets is in `live` as it is (lists item by item). Defaulted or
    re-spelled values (`1000m` stored as `1`) do not hold: the caller asks the server."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            name in live and holds(value, live[name]) for name, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(holds(d, v) for d, v in zip(desired, live, strict=True))
        )
    return bool(desired == live and type(desired) is type(live))


def _own_fields(live: Mapping[str, Any]) -> str | None:
    """A digest of tether's own applied-fields entries of `live`, times included (None:
    it has none)."""
    entries = [
        entry
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == FIELD_MANAGER
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]
    if not entries:
        return None
    return hashlib.sha256(orjson.dumps(entries, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _live_fingerprint(live: Mapping[str, Any]) -> str:
    """A digest of what a dry-run apply reads from live: everything but status writes.

    Controllers update status (and bump resourceVersion) all the time; those writes
    cannot change what an apply of the spec would store outside status, which is all
    the diff compares, so they must not throw the prediction away.
    """
    meta = dict(live.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta["managedFields"] = [
        {k: v for k, v in entry.items() if k != "time"}
        for entry in meta.get("managedFields") or []
        if entry.get("subresource") != "status"
    ]
    body = {k: v for k, v in live.items() if k not in ("status", "metadata")}
    body["metadata"] = meta
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


FACTS_SETTLE_SECONDS = 10.0  # after a CRD/APIService change, discovery may still lag
FACTS_SETTLE_INTERVAL = 1.0


@dataclass
class Engine:
    """The adapters one engine run uses; shared by the CLI and the controller."""

    kube: KubeClient
    repos: GitRepos
    tools: RenderTools
    cache: LiveCache
    credentials: GitCredentials | None = None  # from the environment (CLI)
    predictions: PredictionCache = field(default_factory=PredictionCache)
    # Comparisons and health checks involving user-supplied jq run in killable workers.
    evaluator: Evaluator = field(default_factory=Evaluator)
    _repo_secrets: dict[str, list[RepositorySecret]] = field(default_factory=dict)
    _health_rules: dict[str, tuple[str, list[CustomHealthRule]]] = field(default_factory=dict)
    # An Application's own spec.healthChecks, compiled once per version of the list.
    _app_health_rules: dict[
        tuple[str, str], tuple[tuple[HealthCheck, ...], list[CustomHealthRule]]
    ] = field(default_factory=dict)
    # Renders of git trees (immutable per commit) keyed by the whole request: a controller
    # re-compares an app on every live event and must not re-run helm each time.
    _renders: OrderedDict[RenderRequest, list[dict[str, Any]]] = field(default_factory=OrderedDict)
    render_cache_size: int = 512
    # Projects are read from this namespace only (docs/security.md).
    project_namespace: str = DEFAULT_PROJECT_NAMESPACE
    # Impersonated by apps that name no spec.serviceAccountName (Flux's flag of that name).
    default_service_account: str | None = None
    # Bounds of every render, and whether kustomize may fetch remote bases (off, as
    # Flux's --no-remote-bases): docs/security.md lists each limit and its default.
    render_limits: RenderLimits = field(default_factory=RenderLimits)
    allow_remote_bases: bool = False
    # `tether controller --shadow`: every app is detect-only (never a write to its objects).
    shadow: bool = False
    # The target cluster's version and served APIs, for `helm template` (facts.py):
    # read again when the watched CRDs/APIServices change, or once this old.
    cluster_facts_max_age: float = 600.0
    _facts: tuple[ClusterFacts, str, float] | None = None  # facts, fingerprint, read at
    _facts_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _facts_watching: bool = False
    _facts_changed_at: float = 0.0  # when the watched CRDs/APIServices last changed
    # Where Applications are read and their status written (engine/apps.py); the cluster
    # unless a test puts a double in between.
    app_store: ApplicationStore | None = None
    # How many comparisons this engine ran (a reconcile is meant to compare once).
    compares: int = 0
    # The cluster the Applications live in (their status, Events, history and credential
    # Secrets, Projects, health rules) when `kube`/`cache` are another, destination
    # cluster's (for_destination); None: the same cluster.
    hub: KubeClient | None = None
    hub_cache: LiveCache | None = None
    # How an engine of the hub reaches the cluster an app deploys to when it is another
    # (the CLI's engine/cluster_engines.py); None: such apps are refused.
    resolver: Callable[[Application], Awaitable[Engine]] | None = None

    @property
    def home_kube(self) -> KubeClient:
        """Where the Applications and what belongs to them live (the hub)."""
        return self.hub if self.hub is not None else self.kube

    @property
    def home_cache(self) -> LiveCache:
        return self.hub_cache if self.hub_cache is not None else self.cache

    def for_destination(self, kube: KubeClient, cache: LiveCache) -> Engine:
        """An engine that applies to, watches and discovers another cluster, while the
        Applications, their history and credentials stay in this one's. Git mirrors,
        renders, the evaluator and the credential caches are shared."""
        return dataclasses.replace(
            self,
            kube=kube,
            cache=cache,
            hub=self.home_kube,
            hub_cache=self.home_cache,
            app_store=self.apps,
            predictions=PredictionCache(),
            _facts=None,
            _facts_lock=asyncio.Lock(),
            _facts_watching=False,
            _facts_changed_at=0.0,
            compares=0,
        )

    @property
    def apps(self) -> ApplicationStore:
        if self.app_store is None:
            self.app_store = ClusterApplicationStore(self.home_kube)
        return self.app_store

    async def for_app(self, app: Application) -> Engine:
        """The engine that deploys `app`: this one, or (through the resolver) the engine
        of the other cluster it names. Every entry point that applies, compares or
        rolls back asks here first."""
        if self.hub is not None or not elsewhere(app.spec, self.kube.server):
            return self
        if self.resolver is None:
            self.check_destination(app)
            return self
        return await self.resolver(app)

    def check_destination(self, app: Application) -> None:
        """Refuse an app that deploys to another cluster than this engine's: the CLI and
        the local dashboard act on their kubeconfig's cluster only, and must not apply a
        spoke's manifests there (the controller gives such apps an engine of their own)."""
        if self.hub is None and elsewhere(app.spec, self.kube.server):
            raise InputError(
                f"Application {app.name} deploys to cluster"
                f" {destination_label(app.spec)}, not to {self.kube.server}",
                hint=f"the controller deploys it (tether app reconcile {app.name});"
                " tether cluster list shows the registered clusters",
            )

    def writer_for(self, app: Application) -> KubeClient:
        """The client for every write an app makes to its objects (apply, dry-run,
        delete): impersonating its ServiceAccount when it has one, so that RBAC bounds
        what the app may change."""
        account = app.spec.service_account_name or self.default_service_account
        if not account:
            return self.kube
        return self.kube.impersonating(f"system:serviceaccount:{app.namespace}:{account}")

    async def live_copy(
        self, manifest: dict[str, Any], *, at_least: int = 0
    ) -> dict[str, Any] | None:
        """The live object `manifest` names: the watch cache's copy when it is at least
        resourceVersion `at_least` (what a write returned), else a GET; None if gone."""
        key = ResourceKey.of(manifest)
        live = self.cache.get(key) if self.cache.watched(key.group, key.kind) else None
        if live is None or resource_version_of(live) < at_least:
            api_version = str(manifest.get("apiVersion", ""))
            live = await self.kube.get(api_version, key.kind, key.name, key.namespace or None)
        return live

    async def project_of(self, app: Application) -> Project:
        """The app's Project, read (through the watch cache) from the project namespace;
        the built-in default when the app names `default` and none exists."""
        try:
            await self.home_cache.watch_kind(API_VERSION, PROJECT_KIND)
        except ClusterError as exc:
            if exc.status != 404:
                raise
            raw = None  # the Project CRD is not installed: no Project exists
        else:
            key = ResourceKey(API_GROUP, PROJECT_KIND, self.project_namespace, app.spec.project)
            raw = self.home_cache.get(key)
        if raw is not None:
            return Project.from_dict(raw)
        if app.spec.project == DEFAULT_PROJECT:
            return Project.builtin_default(
                project_namespace=self.project_namespace,
                app_namespace=app.namespace,
                destination_namespace=app.spec.destination.namespace,
            )
        raise ProjectViolation(
            f"Application {app.name}: project {app.spec.project} not found in namespace"
            f" {self.project_namespace}",
            hint="create the Project there, or set spec.project to an existing one",
        )

    async def render_cached(self, request: RenderRequest, cacheable: bool) -> list[dict[str, Any]]:
        if not cacheable:
            return await render(request, self.tools)
        found = self._renders.get(request)
        if found is not None:
            self._renders.move_to_end(request)
            return found
        rendered = await render(request, self.tools)
        self._renders[request] = rendered
        while len(self._renders) > self.render_cache_size:
            self._renders.popitem(last=False)
        return rendered

    async def cluster_facts(self) -> ClusterFacts:
        """The target cluster's version and served API versions (Argo CD's kubeVersion
        and apiVersions for Helm), cached: discovery runs on first use, when a watched
        CRD or APIService changed (a CRD appeared, was established or removed), and
        after `cluster_facts_max_age`; otherwise this costs no API call."""
        if not self._facts_watching:
            # Refusals are settled inside; an unreachable server raises and is retried.
            await watch_discovery_kinds(self.cache)
            self._facts_watching = True
        async with self._facts_lock:
            current = fingerprint(self.cache)
            now = time.monotonic()
            if self._facts is not None:
                facts, seen, read_at = self._facts
                # Discovery lags the CRD objects a little (a deleted CRD's group is still
                # served a moment after its DELETED event): for a few seconds after a
                # change the facts are read again, at most once a second.
                settling = now - self._facts_changed_at < FACTS_SETTLE_SECONDS
                limit = FACTS_SETTLE_INTERVAL if settling else self.cluster_facts_max_age
                if seen == current and now - read_at < limit:
                    return facts
                if seen != current:
                    self._facts_changed_at = now
            crds = self.cache.objects("apiextensions.k8s.io", "CustomResourceDefinition")
            facts = await discover(self.kube, crds)
            self._facts = (facts, current, now)
            return facts

    def refresh_cluster_facts(self) -> None:
        """Forget the cluster facts: the next render reads them again."""
        self._facts = None

    async def health_rules(
        self, namespace: str, app: Application | None = None
    ) -> list[CustomHealthRule]:
        """The custom health rules for an app: its own `spec.healthChecks` first, then
        those of its namespace (ConfigMap `tether-health-rules`); the first match wins.

        Read from the watch cache, so a rule set applied a moment ago (say by the root
        app during a bootstrap) is in force at once; parsed again only when it changed.
        """
        own = self._own_health_rules(app) if app is not None else []
        return own + await self._namespace_health_rules(namespace)

    def _own_health_rules(self, app: Application) -> list[CustomHealthRule]:
        checks = app.spec.health_checks
        cached = self._app_health_rules.get((app.namespace, app.name))
        if cached is not None and cached[0] == checks:
            return cached[1]
        where = f"Application {app.namespace}/{app.name} spec.healthChecks"
        rules = parse_health_rules([check.to_dict() for check in checks], where=where)
        self._app_health_rules[(app.namespace, app.name)] = (checks, rules)
        return rules

    async def _namespace_health_rules(self, namespace: str) -> list[CustomHealthRule]:
        await self.home_cache.watch_kind("v1", "ConfigMap")
        config = self.home_cache.get(
            ResourceKey("", "ConfigMap", namespace, HEALTH_RULES_CONFIGMAP)
        )
        version = str(((config or {}).get("metadata") or {}).get("resourceVersion", ""))
        cached = self._health_rules.get(namespace)
        if cached is not None and cached[0] == version:
            return cached[1]
        rules: list[CustomHealthRule] = []
        for key, text in sorted(((config or {}).get("data") or {}).items()):
            where = f"ConfigMap {namespace}/{HEALTH_RULES_CONFIGMAP} key {key}"
            documents = load_untrusted_yaml(str(text), where)
            rules.extend(parse_health_rules(documents[0] if documents else None, where=where))
        self._health_rules[namespace] = (version, rules)
        return rules

    async def repo_credentials(self, app: Application, repo_url: str) -> GitCredentials | None:
        if self.credentials is not None:
            return self.credentials
        secrets = self._repo_secrets.get(app.namespace)
        if secrets is None:
            secrets = []
            try:
                items = await self.home_kube.list(
                    "v1", "Secret", app.namespace, label_selector=REPOSITORY_SECRET_SELECTOR
                )
            except ClusterError:
                items = []
            for item in items:
                try:
                    secrets.append(credentials_from_secret(item))
                except InputError:
                    continue
            self._repo_secrets[app.namespace] = secrets
        return select_repo_credentials(repo_url, secrets)
