"""The local control plane: etcd, kube-apiserver, controller-manager, scheduler and kwok.

Everything binds to 127.0.0.1 on ports chosen once and kept in the state directory, so a
restart with the same directory finds its data (etcd) and its clients (kubeconfig) again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tether.errors import ClusterError, LocalClusterError, UnreachableError
from tether.kube import KubeClient
from tether.localcluster import binaries, processes
from tether.localcluster.pki import PkiPaths, ensure_pki
from tether.localcluster.processes import ProcessRecord

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE_NAME = "kwok-node-0"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
FIELD_MANAGER = "tether-localcluster"


@dataclass
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    ports: list[int]
    log: str


@dataclass
class ClusterStatus:
    state_dir: str
    kubeconfig: str
    server: str | None
    api_ready: bool
    node_ready: bool
    components: list[ComponentStatus] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return all(c.running for c in self.components) and self.api_ready


class LocalCluster:
    """Start, stop and inspect one local control plane rooted at a state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.absolute()
        self.pki = PkiPaths(self.state_dir / "pki")
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.logs = self.state_dir / "logs"
        self._state_file = self.state_dir / "cluster.json"

    # -- persisted state -----------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {"ports": {}, "processes": {}}
        data.setdefault("ports", {})
        data.setdefault("processes", {})
        return data

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self._state_file)

    def _records(self, data: dict[str, Any]) -> dict[str, ProcessRecord]:
        return {
            name: ProcessRecord(int(rec["pid"]), int(rec["start_ticks"]))
            for name, rec in data["processes"].items()
        }

    def _ports(self, data: dict[str, Any]) -> dict[str, int]:
        ports: dict[str, int] = data["ports"]
        if not ports:
            etcd, peer, api = processes.free_ports(3)
            ports.update({"etcd": etcd, "etcd-peer": peer, "kube-apiserver": api})
        return ports

    @property
    def server(self) -> str | None:
        port = self._load()["ports"].get("kube-apiserver")
        return f"https://127.0.0.1:{port}" if port else None

    # -- command lines -------------------------------------------------------------

    def _argv(self, name: str, ports: dict[str, int]) -> list[str]:
        p = self.pki
        kubeconfig = str(self.kubeconfig)
        if name == "etcd":
            client = f"http://127.0.0.1:{ports['etcd']}"
            peer = f"http://127.0.0.1:{ports['etcd-peer']}"
            return [
                str(binaries.binary("etcd")),
                "--name=default",
                f"--data-dir={self.state_dir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ]
        if name == "kube-apiserver":
            return [
                str(binaries.binary("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports['kube-apiserver']}",
                f"--cert-dir={self.state_dir / 'apiserver'}",
                f"--tls-cert-file={p.serving_cert}",
                f"--tls-private-key-file={p.serving_key}",
                f"--client-ca-file={p.ca_cert}",
                f"--service-account-key-file={p.sa_pub}",
                f"--service-account-signing-key-file={p.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ]
        if name == "kube-controller-manager":
            return [
                str(binaries.binary("kube-controller-manager")),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={p.sa_key}",
                f"--root-ca-file={p.ca_cert}",
                f"--cluster-signing-cert-file={p.ca_cert}",
                f"--cluster-signing-key-file={p.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allocate-node-cidrs=false",
                # The defaults (20 requests/s, 5 Deployments at a time) make the
                # Deployment controller, not the GitOps tool, the limit of how fast a
                # fleet becomes Available; managed control planes raise them as well.
                "--kube-api-qps=100",
                "--kube-api-burst=200",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--v=1",
            ]
        if name == "kube-scheduler":
            return [
                str(binaries.binary("kube-scheduler")),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ]
        if name == "kwok":
            return [
                str(binaries.binary("kwok")),
                f"--kubeconfig={kubeconfig}",
                f"--config={binaries.kwok_stages()}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=10.0.1.1",
                "--node-lease-duration-seconds=40",
            ]
        raise ValueError(name)

    def _component_ports(self, name: str, ports: dict[str, int]) -> list[int]:
        if name == "etcd":
            return [ports["etcd"], ports["etcd-peer"]]
        if name == "kube-apiserver":
            return [ports["kube-apiserver"]]
        return []

    def _write_kubeconfig(self, ports: dict[str, int]) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "tether-local",
                    "cluster": {
                        "server": f"https://127.0.0.1:{ports['kube-apiserver']}",
                        "certificate-authority-data": b64(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "tether-admin",
                    "user": {
                        "client-certificate-data": b64(self.pki.admin_cert),
                        "client-key-data": b64(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "tether-local",
                    "context": {"cluster": "tether-local", "user": "tether-admin"},
                }
            ],
            "current-context": "tether-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(doc, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    # -- up / down / status ----------------------------------------------------------

    async def up(self, timeout: float = 180.0) -> ClusterStatus:
        """Start whatever is not running yet and wait until the API and the node are ready."""
        for name in COMPONENTS:
            binaries.binary(name)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = self._load()
        ports = self._ports(data)
        ensure_pki(self.pki)
        self._write_kubeconfig(ports)
        self._save(data)
        records = self._records(data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        to_start = [n for n in COMPONENTS if not (n in records and processes.is_alive(records[n]))]
        # Check every port before starting anything, so a clash leaves nothing half-started.
        for name in to_start:
            for port in self._component_ports(name, ports):
                if processes.port_in_use(port):
                    raise LocalClusterError(
                        f"{name}: port {port} on 127.0.0.1 is already in use by another process",
                        hint=f"free the port, or use another --state-dir than {self.state_dir}",
                    )
        for name in to_start:
            rec = processes.spawn(
                self._argv(name, ports), self.logs / f"{name}.log", self.state_dir
            )
            data["processes"][name] = rec.to_json()
            self._save(data)
            await self._wait_component(name, rec, ports, deadline)
        await self._wait_cluster(records | self._records(data), deadline)
        return await self.status()

    async def _wait_component(
        self, name: str, rec: ProcessRecord, ports: dict[str, int], deadline: float
    ) -> None:
        """Wait until a just-started component answers (or at least keeps running)."""
        loop = asyncio.get_running_loop()
        settle = loop.time() + 1.0
        while True:
            if not processes.is_alive(rec):
                raise self._died(name)
            if name == "etcd" and await _http_ok(f"http://127.0.0.1:{ports['etcd']}/health"):
                return
            if name == "kube-apiserver" and await self._api_ready():
                return
            if name not in ("etcd", "kube-apiserver") and loop.time() >= settle:
                return
            if loop.time() > deadline:
                raise LocalClusterError(
                    f"{name}: not ready in time; log: {self.logs / (name + '.log')}",
                    hint=processes.log_tail(self.logs / f"{name}.log", 1) or None,
                )
            await asyncio.sleep(0.2)

    def _died(self, name: str) -> LocalClusterError:
        log = self.logs / f"{name}.log"
        tail = processes.log_tail(log, 20)
        if "address already in use" in tail:
            return LocalClusterError(
                f"{name}: port clash (address already in use); log: {log}",
                hint="another process holds its port; free it or use another --state-dir",
            )
        last = tail.splitlines()[-1] if tail else "no output"
        return LocalClusterError(f"{name}: exited during start: {last[:300]}", hint=f"log: {log}")

    async def _api_ready(self) -> bool:
        client = KubeClient.from_kubeconfig(str(self.kubeconfig))
        try:
            body = await client.request("GET", "/readyz", raw=True, timeout=5)
            return bool(body.strip() == b"ok")
        except (ClusterError, UnreachableError):
            return False
        finally:
            client.close()

    async def _wait_cluster(self, records: dict[str, ProcessRecord], deadline: float) -> None:
        """Register the fake node, then wait for it to be Ready and for the default SA."""
        loop = asyncio.get_running_loop()
        client = KubeClient.from_kubeconfig(str(self.kubeconfig))
        try:
            await client.apply(_node_manifest(), field_manager=FIELD_MANAGER)
            while True:
                for name, rec in records.items():
                    if not processes.is_alive(rec):
                        raise self._died(name)
                node = await client.get("v1", "Node", NODE_NAME)
                sa = await client.get("v1", "ServiceAccount", "default", "default")
                if node and _node_ready(node) and sa:
                    return
                if loop.time() > deadline:
                    what = "node not Ready" if not (node and _node_ready(node)) else "no default SA"
                    raise LocalClusterError(
                        f"local cluster not ready in time ({what})",
                        hint=f"see the component logs in {self.logs}",
                    )
                await asyncio.sleep(0.25)
        finally:
            client.close()

    async def down(self) -> list[str]:
        """Stop exactly the processes this state directory records; returns their names."""
        data = self._load()
        stopped = []
        for name in reversed(COMPONENTS):
            rec = self._records(data).get(name)
            if rec is None:
                continue
            if processes.is_alive(rec):
                await processes.stop(rec)
                stopped.append(name)
            del data["processes"][name]
            if self._state_file.exists():
                self._save(data)
        return stopped

    async def destroy(self) -> list[str]:
        """Stop the cluster and delete what it stored (etcd's data): the next `up` starts
        an empty cluster (another identity, no objects, no ServiceAccounts or tokens) at
        the same address with the same CA, as a cluster rebuilt after a disaster."""
        stopped = await self.down()
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        return stopped

    async def stop_component(self, name: str, *, grace: float = 10.0) -> int:
        """Stop one running component by its recorded PID, leaving the others running and
        every port reserved (chaos tests: an API server outage). `grace` 0 kills it at
        once. Returns the PID stopped."""
        data = self._load()
        rec = self._records(data).get(name)
        if rec is None or not processes.is_alive(rec):
            raise LocalClusterError(f"{name}: not running", hint=f"state dir {self.state_dir}")
        await processes.stop(rec, grace=grace)
        del data["processes"][name]
        self._save(data)
        # The main thread of a Go program is reaped before its other threads have let go
        # of the listening socket: a start right after this must find the port free.
        ports = self._component_ports(name, data["ports"])
        deadline = asyncio.get_running_loop().time() + 5.0
        while any(processes.port_in_use(p) for p in ports):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        return rec.pid

    async def start_component(self, name: str, timeout: float = 120.0) -> int:
        """Start one stopped component again on its recorded ports and wait until it
        answers (the API server: /readyz ok). Returns its PID."""
        if name not in COMPONENTS:
            raise LocalClusterError(f"unknown component {name!r}", hint=", ".join(COMPONENTS))
        data = self._load()
        ports = data["ports"]
        if not ports:
            raise LocalClusterError(
                f"{name}: the cluster in {self.state_dir} was never started",
                hint="start it with `tether cluster up`",
            )
        rec = self._records(data).get(name)
        if rec is not None and processes.is_alive(rec):
            return rec.pid
        for port in self._component_ports(name, ports):
            if processes.port_in_use(port):
                raise LocalClusterError(
                    f"{name}: port {port} on 127.0.0.1 is already in use by another process",
                    hint="wait until the old process has gone, or free the port",
                )
        rec = processes.spawn(self._argv(name, ports), self.logs / f"{name}.log", self.state_dir)
        data["processes"][name] = rec.to_json()
        self._save(data)
        deadline = asyncio.get_running_loop().time() + timeout
        await self._wait_component(name, rec, ports, deadline)
        return rec.pid

    async def status(self) -> ClusterStatus:
        data = self._load()
        records = self._records(data)
        ports = data["ports"]
        comps = []
        for name in COMPONENTS:
            rec = records.get(name)
            alive = bool(rec and processes.is_alive(rec))
            comps.append(
                ComponentStatus(
                    name=name,
                    running=alive,
                    pid=rec.pid if rec and alive else None,
                    ports=self._component_ports(name, ports) if ports else [],
                    log=str(self.logs / f"{name}.log"),
                )
            )
        api_ready = node_ready = False
        if self.kubeconfig.exists() and all(c.running for c in comps[:2]):
            api_ready = await self._api_ready()
            if api_ready:
                client = KubeClient.from_kubeconfig(str(self.kubeconfig))
                try:
                    node = await client.get("v1", "Node", NODE_NAME)
                    node_ready = bool(node and _node_ready(node))
                finally:
                    client.close()
        return ClusterStatus(
            state_dir=str(self.state_dir),
            kubeconfig=str(self.kubeconfig),
            server=self.server,
            api_ready=api_ready,
            node_ready=node_ready,
            components=comps,
        )


def _node_manifest() -> dict[str, Any]:
    # A fake node: room for thousands of pods so benchmarks are not capped by scheduling.
    resources = {"cpu": "1000", "memory": "4Ti", "pods": "10000", "ephemeral-storage": "10Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"capacity": resources, "allocatable": resources},
    }


def _node_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


async def _http_ok(url: str) -> bool:
    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    return await asyncio.to_thread(probe)
