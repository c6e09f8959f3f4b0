"""Registered clusters (pure): how tether reaches a destination cluster other than its
own, read from the Secrets people already write.

- tether's cluster Secret, labelled `tether.dev/secret-type: cluster`, and Argo CD's,
  labelled `argocd.argoproj.io/secret-type: cluster`, read the same way: keys `name`,
  `server`, `config` (JSON: `bearerToken`, `tlsClientConfig{caData, certData, keyData,
  serverName, insecure}`), optional `namespaces` (comma-separated: watches stay there).
- Flux's shape: a kubeconfig in a Secret (`spec.kubeConfig.secretRef{name, key}`, key
  `value`, then `value.yaml`), its current context only.

What can run code or drop TLS is refused unless the controller was told to allow it: a
kubeconfig `exec` plugin or `auth-provider` (Flux CVE-2022-24817: a kubeconfig exec ran an
attacker's binary), Argo CD's `execProviderConfig`/`awsAuthConfig`, and
`insecure`/`insecure-skip-tls-verify`. Each refusal is one line naming the Secret and the
reason; no credential is ever part of a message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tether.errors import InputError
from tether.model.names import CLUSTER_UID_ANNOTATION, SECRET_TYPE_LABEL
from tether.model.spec import ApplicationSpec

TETHER_CLUSTER_LABEL = SECRET_TYPE_LABEL
ARGOCD_CLUSTER_LABEL = "argocd.argoproj.io/secret-type"
CLUSTER_SECRET_TYPE = "cluster"
KUBECONFIG_KEYS = ("value", "value.yaml")
IN_CLUSTER_SERVERS = ("https://kubernetes.default.svc", "https://kubernetes.default.svc:443")
IN_CLUSTER_NAME = "in-cluster"  # Argo CD's name for the cluster it runs in
MAX_KUBECONFIG_BYTES = 256 * 1024

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ClusterPolicy:
    """What the controller allows (flags); both off by default."""

    allow_exec: bool = False
    allow_insecure: bool = False


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster. `repr` leaves the credentials out."""

    name: str
    server: str
    bearer_token: str = field(default="", repr=False)
    ca_data: bytes = field(default=b"", repr=False)
    cert_data: bytes = field(default=b"", repr=False)
    key_data: bytes = field(default=b"", repr=False)
    server_name: str = ""
    insecure: bool = False
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    # An exec credential plugin (only when the policy allows it): command and args,
    # environment, the ExecCredential apiVersion.
    exec_command: tuple[str, ...] = field(default=(), repr=False)
    exec_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    exec_api_version: str = "client.authentication.k8s.io/v1beta1"
    source: str = ""  # "Secret NS/NAME", for messages
    # The registration's Secret ("NS/NAME") and the cluster uid last recorded on it:
    # neither is part of how to reach the cluster.
    secret: str = field(default="", compare=False)
    known_uid: str = field(default="", compare=False)


# Label selectors for the two kinds of cluster Secret (a list by label fetches only them).
CLUSTER_SECRET_SELECTORS = (
    f"{TETHER_CLUSTER_LABEL}={CLUSTER_SECRET_TYPE}",
    f"{ARGOCD_CLUSTER_LABEL}={CLUSTER_SECRET_TYPE}",
)


def is_cluster_secret(secret: Mapping[str, Any]) -> bool:
    labels = (secret.get("metadata") or {}).get("labels") or {}
    return CLUSTER_SECRET_TYPE in (
        labels.get(TETHER_CLUSTER_LABEL),
        labels.get(ARGOCD_CLUSTER_LABEL),
    )


def _exec_of(spec: Any, where: str) -> dict[str, Any]:
    """An exec plugin's command, args, env and apiVersion as ClusterAccess fields."""
    if not isinstance(spec, dict) or not spec.get("command"):
        raise InputError(f"{where}: the exec credential plugin has no command")
    env = spec.get("env") or {}
    pairs = (
        [(str(e.get("name", "")), str(e.get("value", ""))) for e in env if isinstance(e, dict)]
        if isinstance(env, list)
        else [(str(k), str(v)) for k, v in env.items()]
        if isinstance(env, dict)
        else []
    )
    found: dict[str, Any] = {
        "exec_command": (str(spec["command"]), *(str(a) for a in spec.get("args") or ())),
        "exec_env": tuple(pairs),
    }
    if spec.get("apiVersion"):
        found["exec_api_version"] = str(spec["apiVersion"])
    return found


def _where(secret: Mapping[str, Any]) -> str:
    meta = secret.get("metadata") or {}
    return f"Secret {meta.get('namespace', '')}/{meta.get('name', '')}"


def _values(secret: Mapping[str, Any]) -> dict[str, str]:
    where = _where(secret)
    values: dict[str, str] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InputError(f"{where}: key {key!r} is not base64 UTF-8") from None
    values.update({str(k): str(v) for k, v in (secret.get("stringData") or {}).items()})
    return values


def _b64_field(raw: Any, what: str) -> bytes:
    if raw in (None, ""):
        return b""
    try:
        return base64.b64decode(str(raw), validate=True)
    except binascii.Error:
        raise InputError(f"{what} is not base64") from None


def parse_cluster_secret(secret: Mapping[str, Any], policy: ClusterPolicy) -> ClusterAccess:
    """A tether or Argo CD cluster Secret as access to that cluster."""
    where = _where(secret)
    values = _values(secret)
    server = values.get("server", "").strip()
    if not server.startswith("https://") and not server.startswith("http://"):
        raise InputError(f"{where}: `server` must be the cluster's https:// URL")
    if "@" in server.split("://", 1)[1].split("/", 1)[0]:
        # A server is shown by `cluster list`, in conditions and metrics: no userinfo.
        raise InputError(f"{where}: `server` holds credentials; put them in `config`")
    name = values.get("name", "").strip() or server
    try:
        config = json.loads(values.get("config") or "{}")
    except json.JSONDecodeError:
        raise InputError(f"{where}: `config` is not JSON") from None
    if not isinstance(config, dict):
        raise InputError(f"{where}: `config` must be a JSON object")
    for unsafe in ("execProviderConfig", "awsAuthConfig"):
        if config.get(unsafe) and not policy.allow_exec:
            raise InputError(
                f"{where}: `config.{unsafe}` runs a program to get credentials: refused",
                hint="use a bearerToken (or start the controller with --allow-cluster-exec)",
            )
    if config.get("awsAuthConfig"):
        raise InputError(f"{where}: `config.awsAuthConfig` is not supported; use a bearerToken")
    plugin = (
        _exec_of(config["execProviderConfig"], where) if config.get("execProviderConfig") else {}
    )
    tls = config.get("tlsClientConfig") or {}
    if not isinstance(tls, dict):
        raise InputError(f"{where}: `config.tlsClientConfig` must be an object")
    insecure = tls.get("insecure") is True
    if insecure and not policy.allow_insecure:
        raise InputError(
            f"{where}: `tlsClientConfig.insecure` turns off TLS verification: refused",
            hint="give caData (or start the controller with --allow-insecure-clusters)",
        )
    namespaces = tuple(n.strip() for n in values.get("namespaces", "").split(",") if n.strip())
    return ClusterAccess(
        name=name,
        server=server.rstrip("/"),
        bearer_token=str(config.get("bearerToken") or ""),
        ca_data=_b64_field(tls.get("caData"), f"{where}: caData"),
        cert_data=_b64_field(tls.get("certData"), f"{where}: certData"),
        key_data=_b64_field(tls.get("keyData"), f"{where}: keyData"),
        server_name=str(tls.get("serverName") or ""),
        insecure=insecure,
        namespaces=namespaces,
        source=where,
        secret=where.removeprefix("Secret "),
        known_uid=str(
            ((secret.get("metadata") or {}).get("annotations") or {}).get(
                CLUSTER_UID_ANNOTATION, ""
            )
        ),
        **plugin,
    )


def parse_kubeconfig_secret(
    secret: Mapping[str, Any], key: str | None, policy: ClusterPolicy
) -> ClusterAccess:
    """Flux's `kubeConfig.secretRef`: the kubeconfig's current context as access."""
    where = _where(secret)
    values = _values(secret)
    keys = (key,) if key else KUBECONFIG_KEYS
    text = next((values[k] for k in keys if k in values), None)
    if text is None:
        raise InputError(f"{where}: no kubeconfig under {' or '.join(keys)}")
    if len(text) > MAX_KUBECONFIG_BYTES:
        raise InputError(f"{where}: the kubeconfig is over {MAX_KUBECONFIG_BYTES // 1024} KiB")
    try:
        config = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        raise InputError(f"{where}: the kubeconfig is not YAML") from None
    if not isinstance(config, dict):
        raise InputError(f"{where}: the kubeconfig is not a mapping")

    def named(section: str, wanted: str) -> dict[str, Any]:
        for item in config.get(section) or []:
            if isinstance(item, dict) and item.get("name") == wanted:
                body = item.get(section[:-1]) or {}
                return body if isinstance(body, dict) else {}
        raise InputError(f"{where}: the kubeconfig has no {section[:-1]} {wanted!r}")

    current = str(config.get("current-context") or "")
    if not current:
        raise InputError(f"{where}: the kubeconfig has no current-context")
    context = named("contexts", current)
    cluster = named("clusters", str(context.get("cluster") or ""))
    user = named("users", str(context.get("user") or "")) if context.get("user") else {}
    for unsafe in ("exec", "auth-provider"):
        if user.get(unsafe) and not policy.allow_exec:
            raise InputError(
                f"{where}: the kubeconfig's user has `{unsafe}`, which runs a program: refused",
                hint="use a token or a client certificate (or --allow-cluster-exec)",
            )
    for local in ("tokenFile", "client-certificate", "client-key"):
        if user.get(local):
            raise InputError(
                f"{where}: the kubeconfig's user reads a local file ({local}): refused"
            )
    if user.get("auth-provider"):
        raise InputError(f"{where}: the kubeconfig's auth-provider is not supported; use exec")
    if cluster.get("certificate-authority"):
        raise InputError(f"{where}: the kubeconfig's cluster reads a local CA file: refused")
    insecure = cluster.get("insecure-skip-tls-verify") is True
    if insecure and not policy.allow_insecure:
        raise InputError(
            f"{where}: the kubeconfig sets insecure-skip-tls-verify: refused",
            hint="give certificate-authority-data (or --allow-insecure-clusters)",
        )
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise InputError(f"{where}: the kubeconfig's cluster has no https:// server")
    plugin = _exec_of(user["exec"], where) if user.get("exec") else {}
    return ClusterAccess(
        name=current,
        server=server,
        bearer_token=str(user.get("token") or ""),
        ca_data=_b64_field(cluster.get("certificate-authority-data"), f"{where}: CA data"),
        cert_data=_b64_field(user.get("client-certificate-data"), f"{where}: certificate"),
        key_data=_b64_field(user.get("client-key-data"), f"{where}: key"),
        server_name=str(cluster.get("tls-server-name") or ""),
        insecure=insecure,
        source=where,
        **plugin,
    )


def deploys_elsewhere(name: str | None, server: str | None, own_server: str) -> bool:
    """Whether a destination (name or server) is another cluster than `own_server`'s:
    none given, `in-cluster`, the in-cluster service URL or that very server are not."""
    if name:
        return name != IN_CLUSTER_NAME
    wanted = (server or "").rstrip("/")
    return bool(wanted) and wanted not in IN_CLUSTER_SERVERS and wanted != own_server.rstrip("/")


def elsewhere(spec: ApplicationSpec, own_server: str) -> bool:
    """Whether an app deploys to another cluster than `own_server`'s: a kubeConfig
    Secret, or a destination naming another cluster."""
    destination = spec.destination
    return spec.kube_config is not None or deploys_elsewhere(
        destination.name, destination.server, own_server
    )


def destination_label(spec: ApplicationSpec) -> str:
    """How messages name where an app deploys to."""
    if spec.kube_config is not None:
        return f"kubeConfig Secret {spec.kube_config.name}"
    return spec.destination.name or spec.destination.server or IN_CLUSTER_NAME


def targets(spec: ApplicationSpec, access: ClusterAccess) -> bool:
    """Whether an app's destination (name, else server) is the registered `access`."""
    destination = spec.destination
    if spec.kube_config is not None:
        return False
    if destination.name:
        return destination.name == access.name
    return (destination.server or "").rstrip("/") == access.server


def select_cluster(
    registered: list[ClusterAccess], *, server: str = "", name: str = ""
) -> ClusterAccess | None:
    """The registration an Application's destination names (by name, else by server)."""
    if name:
        return next((c for c in registered if c.name == name), None)
    wanted = server.rstrip("/")
    return next((c for c in registered if c.server == wanted), None)


__all__ = [
    "ARGOCD_CLUSTER_LABEL",
    "CLUSTER_SECRET_SELECTORS",
    "IN_CLUSTER_NAME",
    "IN_CLUSTER_SERVERS",
    "TETHER_CLUSTER_LABEL",
    "ClusterAccess",
    "ClusterPolicy",
    "deploys_elsewhere",
    "destination_label",
    "elsewhere",
    "is_cluster_secret",
    "parse_cluster_secret",
    "parse_kubeconfig_secret",
    "select_cluster",
    "targets",
]
