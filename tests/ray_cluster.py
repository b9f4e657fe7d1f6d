"""Real Ray clusters on loopback for the tests: a head node and optionally a second node
started with ``ray start --address …`` (dashboard off, small object stores), torn down by
killing their process groups."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rlkit.remote import cluster as rc

RAY_BIN = Path(sys.executable).with_name("ray")
# A bound, not a wait: on a 2-core machine under load (the suite's other process, two CPU-bound
# processes beside it) a head and a node took over 90 s to register.
START_S = 300
MAX_RESTARTS = 3
ray_missing = rc.ray_version() is None or not RAY_BIN.exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    address: str  # the head's GCS
    client_address: str  # ray://… (Ray Client)
    token: str
    groups: list[int]

    def node_ids(self, token: str | None = None) -> dict[str, dict[str, float]]:
        """Alive nodes -> their resources, asked from the GCS directly."""
        import grpc
        from ray.core.generated import gcs_service_pb2 as pb
        from ray.core.generated import gcs_service_pb2_grpc as rpc

        md = [("authorization", f"Bearer {token or self.token}")] if self.token else None
        with grpc.insecure_channel(self.address) as ch:
            reply = rpc.NodeInfoGcsServiceStub(ch).GetAllNodeInfo(
                pb.GetAllNodeInfoRequest(), timeout=5, metadata=md
            )
        return {
            n.node_id.hex(): dict(n.resources_total)
            for n in reply.node_info_list
            if n.state == 0  # ALIVE
        }


def start_cluster(
    token: str | None,
    *,
    head_cpus: int = 1,
    second_node: dict[str, int] | None = None,
) -> Cluster:
    """A head (no GPUs, ``head_cpus`` CPUs) and, with ``second_node`` (``{"cpus": …, "gpus":
    …}``), a node that joins it."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    # Ray Client's proxy gives each client's server 30 s to answer; importing Ray in that new
    # process took longer on a loaded 2-core machine ("Starting Ray client server failed").
    env["RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S"] = "300"
    env["RAY_AUTH_MODE"] = "token" if token else "disabled"
    if token:
        env["RAY_AUTH_TOKEN"] = token
    else:
        env.pop("RAY_AUTH_TOKEN", None)
    port, client_port = free_port(), free_port()
    small = [
        "--disable-usage-stats",
        "--object-store-memory=80000000",
        "--node-ip-address=127.0.0.1",
        "--block",
    ]

    def start(*args) -> subprocess.Popen:
        # Each node's agents get fixed ports: with port 0 the raylet waits a fixed 15 s for
        # the agent to write its port to a file, and on a loaded 2-core machine the agent
        # took longer and the raylet aborted ("Timed out waiting for file
        # …/metrics_agent_port_…"), which ended the node.
        agents = [
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
        ]
        p = subprocess.Popen(
            [str(RAY_BIN), "start", *args, *agents, *small],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        cluster.groups.append(p.pid)
        return p

    cluster = Cluster(f"127.0.0.1:{port}", f"ray://127.0.0.1:{client_port}", token or "", [])
    head_args = (
        "--head",
        f"--port={port}",
        f"--ray-client-server-port={client_port}",
        f"--num-cpus={head_cpus}",
        "--num-gpus=0",
    )
    node_args = ()
    if second_node:
        node_args = (
            f"--address={cluster.address}",
            f"--num-cpus={second_node.get('cpus', 1)}",
            f"--num-gpus={second_node.get('gpus', 0)}",
        )
    try:
        head = start(*head_args)
        node = None
        want = 2 if second_node else 1
        restarts = 0
        deadline = time.time() + START_S
        while time.time() < deadline:
            # `ray start --block` ends when a component of its node dies: a node that died
            # while starting is started again (a few times), the rest of the wait is a bound.
            if head.poll() is not None:
                if restarts >= MAX_RESTARTS:
                    break
                restarts += 1
                stop_cluster(cluster)
                cluster.groups.clear()
                head, node = start(*head_args), None
            if second_node and listening(port):
                if node is None:
                    node = start(*node_args)
                elif node.poll() is not None and restarts < MAX_RESTARTS:
                    restarts += 1
                    node = start(*node_args)
            try:
                if len(cluster.node_ids()) >= want and listening(client_port):
                    return cluster
            except Exception:
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"the loopback Ray cluster did not come up within {START_S} s "
            f"({restarts} node restarts)"
        )
    except BaseException:
        stop_cluster(cluster)
        raise


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def stop_cluster(cluster: Cluster) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
        for pgid in cluster.groups:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass
        time.sleep(wait)
