"""The local control plane used by `tether cluster up`, the demo, tests and benchmarks."""

from tether.localcluster.cluster import ClusterStatus, ComponentStatus, LocalCluster

__all__ = ["ClusterStatus", "ComponentStatus", "LocalCluster"]
