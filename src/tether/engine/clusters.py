"""Registered clusters: `tether cluster add` (a ServiceAccount and its token made on the
target, as `argocd cluster add` does, stored in a cluster Secret of the hub) and
`tether cluster list` (each registration, reachable or not, its version, its apps)."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

from tether.errors import ClusterError, ConditionNotMet, InputError, TetherError
from tether.kube import KubeClient
from tether.model.application import Application
from tether.model.cluster import (
    CLUSTER_SECRET_SELECTORS,
    TETHER_CLUSTER_LABEL,
    ClusterAccess,
    ClusterPolicy,
    parse_cluster_secret,
    parse_kubeconfig_secret,
    select_cluster,
    targets,
)
from tether.model.names import CLUSTER_UID_ANNOTATION, FIELD_MANAGER
from tether.model.spec import Destination

MANAGER = "tether-manager"  # the ServiceAccount tether acts as on a registered cluster
MANAGER_NAMESPACE = "kube-system"
TOKEN_WAIT_SECONDS = 30.0
PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class ClusterRow:
    secret: str  # the Secret holding the registration
    name: str
    server: str
    reachable: bool
    version: str  # the API server's gitVersion ("" unreachable)
    apps: int  # Applications whose destination names this cluster
    objects: int  # objects those apps track there (their last compare)
    problem: str  # why it is unusable or unreachable ("" when fine)


async def add_cluster(hub: KubeClient, namespace: str, name: str, target: KubeClient) -> str:
    """Make `tether-manager` on `target` (cluster-admin, as Argo CD's argocd-manager),
    wait for its token, and write the hub's cluster Secret `cluster-NAME`. Returns the
    Secret's name. The token never leaves the two API servers."""
    rbac = "rbac.authorization.k8s.io/v1"
    for obj in (
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": MANAGER, "namespace": MANAGER_NAMESPACE},
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": MANAGER},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": MANAGER, "namespace": MANAGER_NAMESPACE}
            ],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": f"{MANAGER}-token",
                "namespace": MANAGER_NAMESPACE,
                "annotations": {"kubernetes.io/service-account.name": MANAGER},
            },
        },
    ):
        await target.apply(obj, field_manager=FIELD_MANAGER)
    token, ca = await _token_of(target)
    config = {"bearerToken": token, "tlsClientConfig": {"caData": ca}}
    secret_name = f"cluster-{name}"
    await hub.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name,
                "namespace": namespace,
                "labels": {TETHER_CLUSTER_LABEL: "cluster"},
            },
            "stringData": {"name": name, "server": target.server, "config": json.dumps(config)},
        },
        field_manager=FIELD_MANAGER,
    )
    return secret_name


async def _token_of(target: KubeClient) -> tuple[str, str]:
    """The token and CA the token controller put into the manager's Secret."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOKEN_WAIT_SECONDS
    while True:
        secret = await target.get("v1", "Secret", f"{MANAGER}-token", MANAGER_NAMESPACE)
        data = (secret or {}).get("data") or {}
        if data.get("token"):
            return base64.b64decode(data["token"]).decode(), str(data.get("ca.crt") or "")
        if loop.time() > deadline:
            raise ConditionNotMet(
                f"cluster {target.server}: no token for ServiceAccount {MANAGER} after"
                f" {TOKEN_WAIT_SECONDS:g}s",
                hint="is the token controller (kube-controller-manager) running there?",
            )
        await asyncio.sleep(0.5)


async def cluster_rows(
    hub: KubeClient, namespace: str, apps: list[Application], policy: ClusterPolicy
) -> list[ClusterRow]:
    """Every registration in `namespace` (tether's and Argo CD's label), probed now."""
    secrets = await cluster_secrets(hub, namespace)
    return list(await asyncio.gather(*(_row(s, apps, policy) for s in secrets)))


async def cluster_secrets(hub: KubeClient, namespace: str) -> list[dict[str, Any]]:
    """The cluster Secrets of `namespace`, tether's and Argo CD's, listed by their label
    (not every Secret: history Secrets hold whole manifests)."""
    found: dict[str, dict[str, Any]] = {}
    for selector in CLUSTER_SECRET_SELECTORS:
        for secret in await hub.list("v1", "Secret", namespace, label_selector=selector):
            found[str((secret.get("metadata") or {}).get("name", ""))] = secret
    return [found[name] for name in sorted(found)]


async def _row(
    secret: dict[str, Any], apps: list[Application], policy: ClusterPolicy
) -> ClusterRow:
    meta = secret.get("metadata") or {}
    secret_name = str(meta.get("name", ""))
    try:
        access = parse_cluster_secret(secret, policy)
    except TetherError as exc:
        return ClusterRow(secret_name, "", "", False, "", 0, 0, exc.message.splitlines()[0])
    mine = [a for a in apps if targets(a.spec, access)]
    objects = sum(len(a.status.resources) for a in mine if a.status is not None)
    version, problem = await probe(access)
    return ClusterRow(
        secret_name, access.name, access.server, not problem, version, len(mine), objects, problem
    )


async def identity_of(kube: KubeClient) -> str:
    """A cluster's identity: the uid of its kube-system namespace, which a rebuilt
    cluster does not keep. "" when these credentials may not read it."""
    try:
        namespace = await kube.get("v1", "Namespace", MANAGER_NAMESPACE)
    except ClusterError as exc:
        if exc.status in (401, 403):
            return ""
        raise
    return str(((namespace or {}).get("metadata") or {}).get("uid", ""))


async def probe(access: ClusterAccess) -> tuple[str, str]:
    """(gitVersion, "") when the cluster answers with these credentials, else ("", why)."""
    try:
        client = KubeClient.from_access(access, timeout=PROBE_SECONDS)
    except TetherError as exc:
        return "", exc.message.splitlines()[0]
    try:
        version = await client.version()
        return str(version.get("gitVersion", "")), ""
    except TetherError as exc:
        return "", exc.message.splitlines()[0]
    finally:
        client.close()


async def registrations(
    hub: KubeClient, namespace: str, policy: ClusterPolicy
) -> tuple[list[ClusterAccess], dict[str, str]]:
    """The usable registrations of `namespace`, and why each refused one is refused (by
    Secret name, one line)."""
    registered, problems = [], {}
    for secret in await cluster_secrets(hub, namespace):
        try:
            registered.append(parse_cluster_secret(secret, policy))
        except TetherError as exc:
            name = (secret.get("metadata") or {}).get("name", "")
            problems[str(name)] = exc.message.splitlines()[0]
    return registered, problems


def registered_access(
    registered: list[ClusterAccess],
    problems: dict[str, str],
    destination: Destination,
    namespace: str,
) -> ClusterAccess:
    """The registration a destination names, or the one line saying why there is none."""
    found = select_cluster(registered, server=destination.server or "", name=destination.name or "")
    if found is not None:
        return found
    wanted = destination.name or destination.server or ""
    problem = problems.get(wanted) or problems.get(f"cluster-{wanted}")
    if problem:
        raise InputError(problem)
    raise InputError(
        f"destination {wanted}: no cluster registered by that "
        + ("name" if destination.name else "server")
        + f" in namespace {namespace}",
        hint="tether cluster add NAME --kubeconfig FILE",
    )


async def kubeconfig_access(
    hub: KubeClient, app: Application, policy: ClusterPolicy
) -> ClusterAccess:
    """The access an app's own kubeconfig Secret gives (Flux's kubeConfig.secretRef),
    read now: a rotated token is used at once."""
    ref = app.spec.kube_config
    assert ref is not None
    secret = await hub.get("v1", "Secret", ref.name, app.namespace)
    if secret is None:
        raise InputError(
            f"Application {app.name}: spec.kubeConfig.secretRef: Secret"
            f" {app.namespace}/{ref.name} not found"
        )
    return parse_kubeconfig_secret(secret, ref.key or None, policy)


def check_namespace(access: ClusterAccess, app: Application) -> None:
    """A registration limited to some namespaces (`namespaces`) serves only apps whose
    destination namespace is one of them: its watches see nothing else."""
    wanted = app.spec.destination.namespace or app.namespace
    if access.namespaces and wanted not in access.namespaces:
        raise InputError(
            f"Application {app.name}: cluster {access.name} is registered for namespaces"
            f" {', '.join(access.namespaces)} only, not {wanted}",
            hint=f"add {wanted} to `namespaces` of {access.source}",
        )


async def record_identity(hub: KubeClient, access: ClusterAccess, uid: str) -> None:
    """Keep the identity a registered cluster answered with on its Secret (annotation
    CLUSTER_UID_ANNOTATION): a later answer with another uid means it was replaced."""
    if not access.secret or not uid or access.known_uid == uid:
        return
    namespace, _, name = access.secret.partition("/")
    patch = {"metadata": {"annotations": {CLUSTER_UID_ANNOTATION: uid}}}
    await hub.patch("v1", "Secret", name, patch, namespace=namespace, field_manager=FIELD_MANAGER)


__all__ = [
    "ClusterRow",
    "add_cluster",
    "check_namespace",
    "cluster_rows",
    "cluster_secrets",
    "identity_of",
    "probe",
    "record_identity",
]
