"""A real local Ray cluster for tests: a head and worker nodes, all on 127.0.0.1, ports of its own.

Ray's default ports collide between clusters, so every port is chosen here; the
dashboard is off; `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` keeps every process on
loopback (every driver needs the same variable). `ray stop` is never used: it
stops every Ray process on the machine.
"""

from __future__ import annotations

import os
import random
import socket
from typing import Any, Iterator

import pytest

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
os.environ.update(LOOPBACK_ENV)  # read when Ray is imported


_HANDED_OUT: set[int] = set()


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports, never one handed out before in this process.

    The sockets stay bound until all are chosen: a port closed at once can come back
    from the next bind, and Ray refuses two components on one port.
    """
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def free_port() -> int:
    return free_ports(1)[0]


def node_ports() -> dict[str, Any]:
    """Every port a node opens, chosen free on loopback (Ray's defaults collide between clusters)."""
    # Worker ports below the ephemeral range, so they never meet the free ports picked for the rest.
    low = random.randrange(10_000, 30_000, 250)
    names = ("node_manager_port", "object_manager_port", "dashboard_agent_listen_port", "runtime_env_agent_port",
             "metrics_agent_port", "metrics_export_port", "dashboard_port")
    return {"node_ip_address": "127.0.0.1", **dict(zip(names, free_ports(len(names)))),
            "min_worker_port": low, "max_worker_port": low + 200}


def start_cluster(workers: int = 2) -> Any:
    """A head with no CPU (so workspaces land on workers) and `workers` nodes of one CPU each."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'swarm[ray]')")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "resources": {"head": 1}, "include_dashboard": False, "gcs_server_port": free_port(),
        **node_ports()})
    for i in range(workers):
        cluster.add_node(num_cpus=1, resources={f"worker{i}": 1}, **node_ports())
    cluster.wait_for_nodes()
    assert ray is not None
    return cluster


def cluster_fixture() -> Iterator[Any]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
