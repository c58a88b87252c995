"""Is a node, or the whole network, ready for what comes next? The probes the consortium waits
on: a node's ports and health endpoint, the ordering service's leader, each org's gateway
being able to gather endorsements, and ports being free before anything starts on them.

Fabric reports readiness in several places (operations endpoints, Prometheus metrics, the
gateway's endorsement plan); each probe here asks the one that answers the question exactly.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable

from clients.fabric import Gateway, GatewayError
from clients.ledger import LedgerClient, Registry
from network import process
from network.binaries import ToolError
from network.nodes import LaunchSpec
from network.state import StateDir
from network.topology import CHAINCODE_NAME, CHANNEL, Org, Topology


def is_healthy(spec: LaunchSpec) -> bool:
    """Every listening port accepts connections and, where there is one, /healthz answers 200."""
    for port in (spec.port, *spec.extra_ports):
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((spec.host, port)) != 0:
                return False
    if spec.health_url is None:
        return True
    try:
        with urllib.request.urlopen(spec.health_url, timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(state: StateDir, spec: LaunchSpec, timeout: float = 60.0) -> None:
    """Block until the node launched from ``spec`` is healthy; fail early, with its last log
    lines, if its process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(spec):
            return
        if not process.alive(process.read_record(state.pid(spec.name))):
            raise ToolError(f"{spec.name} exited during start-up; last log lines:\n{log_tail(state, spec.name)}")
        time.sleep(0.2)
    raise ToolError(f"{spec.name} not healthy after {timeout:.0f}s; last log lines:\n{log_tail(state, spec.name)}")


def log_tail(state: StateDir, name: str, lines: int = 20) -> str:
    path = state.log(name)
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def ordering_leader(topology: Topology) -> str | None:
    """The orderer that leads the channel's consensus now (from the orderers' Prometheus
    metrics: Raft's ``is_leader``, SmartBFT's ``leader_id``), or None while there is none (an
    election or view change, no quorum, or a BFT cluster that has not reported yet)."""
    for node in topology.orderers:
        try:
            url = f"http://{node.host}:{node.operations_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError):
            continue
        if topology.consensus == "etcdraft":
            if f'consensus_etcdraft_is_leader{{channel="{CHANNEL}"}} 1' in text:
                return node.name
            continue
        match = re.search(rf'^consensus_BFT_leader_id{{channel="{CHANNEL}"}} (\d+)', text, re.MULTILINE)
        if match and 1 <= int(match.group(1)) <= len(topology.orderers):
            return topology.orderers[int(match.group(1)) - 1].name  # consenter IDs are 1..n in order
    return None


def wait_ordering(topology: Topology, timeout: float = 60.0) -> str:
    """Block until the channel's ordering service has a leader, so that the first submit after
    a restart is not refused; returns the leader's name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = ordering_leader(topology)
        if leader is not None:
            return leader
        time.sleep(0.3)
    raise ToolError(f"the ordering service ({topology.consensus}) has no leader after {timeout:.0f}s")


def wait_endorsable(topology: Topology, gateway: Callable[[str, str], Gateway], timeout: float = 90.0,
                    orgs: list[Org] | None = None) -> None:  # fmt: skip
    """Block until each org's gateway can build an endorsement plan for the chaincode.

    Peers learn about each other and about the committed chaincode through gossip, a few
    seconds after the definition commits; until then the gateway answers "no combination
    of peers can be derived". An endorsement of a read-only call is requested (and never
    submitted) to probe exactly what a real submit needs. ``gateway(org, user)`` connects;
    ``orgs``: whose gateways (default: every org with a peer).
    """
    deadline = time.monotonic() + timeout
    for org in topology.peer_orgs if orgs is None else orgs:
        with gateway(org.name, "User1") as gw:
            ledger = LedgerClient(gw.network(CHANNEL), CHAINCODE_NAME)
            while True:
                try:
                    ledger.endorse(Registry.list())
                    break
                except GatewayError as exc:
                    if time.monotonic() > deadline:
                        raise ToolError(f"{org.name} still cannot gather endorsements: {exc}") from None
                    time.sleep(0.5)


def check_ports_free(wanted: Iterable[tuple[str, int]]) -> None:
    """Refuse to start over ports something else holds (e.g. a Kubo or ACA-Py process left
    from another network), which would otherwise fail later with a confusing error."""
    busy = []
    for name, port in wanted:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(f"{name}:{port}")
    if busy:
        raise ToolError(
            f"ports already in use: {', '.join(busy)}; another network may be running "
            "(try `fedledger network down`, or set FEDLEDGER_PORT_BASE)"
        )
