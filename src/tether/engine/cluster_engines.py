"""For the CLI and the local dashboard: an engine for each other cluster an app deploys
to, reached the way the controller reaches it (the hub's cluster Secrets, or the app's
own kubeConfig Secret), made on first use and closed with the command. Registrations
are read once per command; the controller's own policy flags do not apply here, so an
exec plugin or insecure TLS is refused as the controller refuses it by default."""

from __future__ import annotations

from tether.kube import KubeClient, LiveCache
from tether.model.application import Application
from tether.model.cluster import ClusterAccess, ClusterPolicy

from .clusters import check_namespace, kubeconfig_access, registered_access, registrations
from .runtime import Engine


class ClusterEngines:
    def __init__(self, hub: Engine, namespace: str, policy: ClusterPolicy | None = None) -> None:
        self.hub = hub
        self.namespace = namespace  # where the cluster Secrets are read
        self.policy = policy or ClusterPolicy()
        self._registered: tuple[list[ClusterAccess], dict[str, str]] | None = None
        self._engines: dict[ClusterAccess, Engine] = {}

    async def __call__(self, app: Application) -> Engine:
        if app.spec.kube_config is not None:
            access = await kubeconfig_access(self.hub.kube, app, self.policy)
        else:
            if self._registered is None:
                self._registered = await registrations(self.hub.kube, self.namespace, self.policy)
            access = registered_access(*self._registered, app.spec.destination, self.namespace)
        check_namespace(access, app)
        engine = self._engines.get(access)
        if engine is None:
            kube = KubeClient.from_access(access)
            engine = self.hub.for_destination(kube, LiveCache(kube, namespaces=access.namespaces))
            self._engines[access] = engine
        return engine

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.cache.close()
            engine.kube.close()
        self._engines.clear()


__all__ = ["ClusterEngines"]
