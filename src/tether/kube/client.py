"""A small async Kubernetes client over the official client's transport.

Objects stay plain dicts (the wire form). The official `kubernetes` package supplies
kubeconfig loading, TLS, auth and connection pooling; requests go through its raw
`call_api` so that no generated model classes are involved. Blocking calls run in
worker threads, bounded by a semaphore.
"""

from __future__ import annotations

import asyncio
import base64
import copy
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from tether.errors import ClusterError, InputError, UnreachableError
from tether.model.cluster import ClusterAccess
from tether.model.keys import split_api_version

from . import credential_files
from .rate import TokenBucket

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"

DEFAULT_TIMEOUT = 30.0
POOL_SIZE = 32
UNREACHABLE_HINT = "check --kubeconfig/--context, or start the local cluster: tether cluster up"


@dataclass(frozen=True)
class ResourceInfo:
    """One served resource type, as discovery describes it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class KubeClient:
    """Async access to one cluster: discovery, get/list, apply, update, patch, delete."""

    def __init__(
        self,
        api_client: k8s_client.ApiClient,
        *,
        max_concurrency: int = POOL_SIZE // 2,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._api = api_client
        self.server: str = api_client.configuration.host
        self._timeout = timeout
        self._limit = asyncio.Semaphore(max_concurrency)
        self._resources: dict[str, dict[str, ResourceInfo]] = {}
        self._preferred: dict[str, str] | None = None
        self.impersonated: str | None = None  # the user every request acts as, if any
        # Requests sent, by verb (WATCH for a watch opened); shared with impersonating
        # clones, for /metrics and the fleet benchmark's requests per app.
        self.requests: Counter[str] = Counter()
        self._bucket: TokenBucket | None = None  # client-side QPS limit, when set

    def limit_rate(self, qps: float, burst: int) -> None:
        """At most `qps` requests per second on average, `burst` at once (client-go's
        QPS/Burst; watches are not counted). 0: no limit. Shared with impersonating
        clones made afterwards."""
        self._bucket = TokenBucket(qps, burst) if qps > 0 else None

    def impersonating(self, user: str) -> KubeClient:
        """A client that sends every request as `user` (Kubernetes impersonation), sharing
        this one's connections, concurrency limit and discovery cache. The server checks
        that our own identity may impersonate, then authorizes the request as `user`."""
        clone = copy.copy(self)
        clone.impersonated = user
        return clone

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None) -> KubeClient:
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                temp_file_path=credential_files.directory(),
            )
        except (k8s_config.ConfigException, OSError) as exc:
            where = path or "~/.kube/config"
            raise InputError(
                f"cannot load kubeconfig {where}: {exc}",
                hint="pass --kubeconfig, or run `tether cluster up` for a local cluster",
            ) from exc
        # One pooled connection per concurrent request, so bursts reuse connections.
        configuration.connection_pool_maxsize = POOL_SIZE
        api_client = k8s_client.ApiClient(configuration)
        return cls(api_client)

    @classmethod
    def from_access(cls, access: ClusterAccess, *, timeout: float = DEFAULT_TIMEOUT) -> KubeClient:
        """A client for a registered cluster (model/cluster.py). The kubernetes client's
        own loader takes the credentials (it keeps *-data in files: kube/credential_files). An exec
        plugin reaches here only when the controller's policy allowed it (model/cluster.py
        refuses it otherwise): the loader runs it, without a shell, for each token."""
        cluster: dict[str, Any] = {"server": access.server}
        if access.ca_data:
            cluster["certificate-authority-data"] = base64.b64encode(access.ca_data).decode()
        if access.server_name:
            cluster["tls-server-name"] = access.server_name
        if access.insecure:
            cluster["insecure-skip-tls-verify"] = True
        user: dict[str, Any] = {}
        if access.bearer_token:
            user["token"] = access.bearer_token
        if access.cert_data and access.key_data:
            user["client-certificate-data"] = base64.b64encode(access.cert_data).decode()
            user["client-key-data"] = base64.b64encode(access.key_data).decode()
        if access.exec_command:
            user["exec"] = {
                "apiVersion": access.exec_api_version,
                "command": access.exec_command[0],
                "args": list(access.exec_command[1:]),
                "env": [{"name": k, "value": v} for k, v in access.exec_env] or None,
                "interactiveMode": "Never",
            }
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "target",
            "clusters": [{"name": "target", "cluster": cluster}],
            "users": [{"name": "target", "user": user}],
            "contexts": [{"name": "target", "context": {"cluster": "target", "user": "target"}}],
        }
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                config,
                client_configuration=configuration,
                persist_config=False,
                temp_file_path=credential_files.directory(),
            )
        except (k8s_config.ConfigException, OSError, ValueError) as exc:
            kind = type(exc).__name__  # not its text: it may quote the credentials
            raise InputError(
                f"{access.source}: cannot use the cluster's credentials ({kind})"
            ) from None
        configuration.connection_pool_maxsize = POOL_SIZE
        return cls(k8s_client.ApiClient(configuration), timeout=timeout)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # -- raw requests ------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
        raw: bool = False,
        accept: str | None = None,
    ) -> Any:
        """One API request; returns the decoded JSON body (bytes with raw=True).
        `accept`: another representation than the object itself (a server-side Table).

        Raises ClusterError for API errors and UnreachableError when the server does not answer.
        """
        self.requests[method] += 1
        if self._bucket is not None:
            await self._bucket.take()
        async with self._limit:
            return await asyncio.to_thread(
                self._request_sync, method, path, query, body, content_type, timeout, raw, accept
            )

    def _request_sync(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: Any,
        content_type: str | None,
        timeout: float | None,
        raw: bool,
        accept: str | None = None,
    ) -> Any:
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        payload = orjson.dumps(body) if body is not None else None
        headers = self._headers(method, path, payload, content_type)
        if accept is not None:
            headers["Accept"] = accept
        t = timeout or self._timeout
        try:
            resp = self._api.rest_client.pool_manager.request(
                method,
                url,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(connect=min(t, 10.0), read=t),
                retries=urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=0),
                preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise UnreachableError(
                f"cluster {self.server} unreachable: {reason}", hint=UNREACHABLE_HINT
            ) from exc
        data: bytes = resp.data
        if resp.status >= 400:
            raise _api_error(resp.status, data)
        if raw:
            return data
        return orjson.loads(data) if data else None

    def _headers(
        self, method: str, path: str, payload: bytes | None, content_type: str | None
    ) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.impersonated is not None:
            headers["Impersonate-User"] = self.impersonated
        if payload is not None:
            headers["Content-Type"] = content_type or "application/json"
        # Bearer tokens (and their refresh hooks) come from the kubeconfig loader.
        auth: dict[str, str] = {}
        self._api.update_params_for_auth(auth, [], ["BearerToken"], path, method, payload)
        headers.update(auth)
        return headers

    def open_watch_sync(self, path: str, query: dict[str, str], timeout: float) -> Any:
        """Open a streaming watch (blocking; call from a dedicated thread).

        Returns the urllib3 response; iterate it for newline-delimited JSON events and
        call `.shutdown()` from another thread to stop it.
        """
        url = f"{self.server}{path}?{urlencode(query)}"
        self.requests["WATCH"] += 1
        try:
            resp = self._api.rest_client.pool_manager.request(
                "GET",
                url,
                headers=self._headers("GET", path, None, None),
                timeout=urllib3.Timeout(connect=10.0, read=timeout),
                retries=urllib3.Retry(total=0),
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise UnreachableError(
                f"cluster {self.server} unreachable: {reason}", hint=UNREACHABLE_HINT
            ) from exc
        if resp.status >= 400:
            data = resp.read()
            resp.release_conn()
            raise _api_error(resp.status, data)
        return resp

    # -- discovery -----------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """Discovery lookup of a kind in a group/version; refreshes once on a miss."""
        for refresh in (False, True):
            found = (await self._group_version(api_version, refresh)).get(kind)
            if found:
                return found
        raise ClusterError(
            f"the server does not serve kind {kind} in {api_version}",
            hint="is its CustomResourceDefinition installed?",
            status=404,
            reason="NotFound",
        )

    async def preferred_version(self, group: str, *, refresh: bool = False) -> str | None:
        """The server's preferred version of an API group (`v1` for the core group)."""
        if group == "":
            return "v1"
        if self._preferred is None or refresh or group not in self._preferred:
            doc = await self.request("GET", "/apis")
            self._preferred = {
                g["name"]: g["preferredVersion"]["version"]
                for g in doc.get("groups", [])
                if g.get("preferredVersion")
            }
        return self._preferred.get(group)

    async def _group_version(self, api_version: str, refresh: bool) -> dict[str, ResourceInfo]:
        if not refresh and api_version in self._resources:
            return self._resources[api_version]
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = await self.request("GET", path)
        except ClusterError as exc:
            if exc.status != 404:
                raise
            doc = {"resources": []}
        kinds: dict[str, ResourceInfo] = {}
        for res in doc.get("resources", []):
            if "/" in res["name"]:
                continue  # subresources such as deployments/scale
            kinds[res["kind"]] = ResourceInfo(
                group=group,
                version=version,
                kind=res["kind"],
                plural=res["name"],
                namespaced=bool(res.get("namespaced")),
                verbs=frozenset(res.get("verbs", [])),
            )
        self._resources[api_version] = kinds
        return kinds

    async def _object_path(
        self, api_version: str, kind: str, name: str | None, namespace: str | None
    ) -> str:
        info = await self.resource(api_version, kind)
        if info.namespaced and name is not None and not namespace:
            raise InputError(f"{kind} {name} is namespaced but no namespace was given")
        return info.path(namespace if info.namespaced else None, name)

    # -- object verbs ------------------------------------------------------------

    async def version(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/version")
        return result

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        path = await self._object_path(api_version, kind, name, namespace)
        try:
            result: dict[str, Any] = await self.request("GET", path)
        except ClusterError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        info = await self.resource(api_version, kind)
        path = info.path(namespace)
        query: dict[str, str] = {"limit": "500"}
        if label_selector:
            query["labelSelector"] = label_selector
        items: list[dict[str, Any]] = []
        while True:
            page = await self.request("GET", path, query=query)
            for item in page.get("items", []):
                item.setdefault("apiVersion", info.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    async def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str = "tether",
        dry_run: bool = False,
        force: bool = True,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Server-side apply; with dry_run the server returns the object it would store."""
        meta = obj.get("metadata") or {}
        path = await self._object_path(
            obj["apiVersion"], obj["kind"], meta.get("name"), meta.get("namespace")
        )
        if subresource:
            path += f"/{subresource}"
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        result: dict[str, Any] = await self.request(
            "PATCH", path, query=query, body=obj, content_type=APPLY_PATCH
        )
        return result

    async def create(
        self, obj: dict[str, Any], *, field_manager: str = "tether", dry_run: bool = False
    ) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        path = await self._object_path(obj["apiVersion"], obj["kind"], None, meta.get("namespace"))
        query = {"fieldManager": field_manager}
        if dry_run:
            query["dryRun"] = "All"
        result: dict[str, Any] = await self.request("POST", path, query=query, body=obj)
        return result

    async def update(
        self, obj: dict[str, Any], *, field_manager: str, subresource: str | None = None
    ) -> dict[str, Any]:
        """PUT the whole object (an `Update` in managedFields, as kubectl edit does)."""
        meta = obj.get("metadata") or {}
        path = await self._object_path(
            obj["apiVersion"], obj["kind"], meta.get("name"), meta.get("namespace")
        )
        if subresource:
            path += f"/{subresource}"
        result: dict[str, Any] = await self.request(
            "PUT", path, query={"fieldManager": field_manager}, body=obj
        )
        return result

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: str = MERGE_PATCH,
        field_manager: str,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        path = await self._object_path(api_version, kind, name, namespace)
        if subresource:
            path += f"/{subresource}"
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            query={"fieldManager": field_manager},
            body=patch,
            content_type=patch_type,
        )
        return result

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when the object was already gone."""
        path = await self._object_path(api_version, kind, name, namespace)
        try:
            await self.request("DELETE", path, body={"propagationPolicy": propagation})
        except ClusterError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _api_error(status: int, raw: bytes) -> ClusterError:
    try:
        decoded = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("kind") == "Status":
        message = str(decoded.get("message") or decoded.get("reason") or status)
        reason = str(decoded.get("reason") or "")
    else:
        message = raw[:200].decode("utf-8", "replace") or f"HTTP {status}"
        reason = ""
    return ClusterError(message, status=status, reason=reason)
