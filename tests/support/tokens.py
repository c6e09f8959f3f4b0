"""ServiceAccount tokens from the TokenRequest API, for tests that act as someone."""

from __future__ import annotations

from tether.kube import KubeClient


async def service_account_token(
    kube: KubeClient, namespace: str, name: str, *, cluster_admin: bool = False
) -> str:
    """A new ServiceAccount's token (15 minutes); `cluster_admin` binds it to cluster-admin."""
    await kube.create(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace},
        }
    )
    if cluster_admin:
        await kube.apply(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{namespace}-{name}"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            }
        )
    answer = await kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 900},
        },
    )
    return str(answer["status"]["token"])
