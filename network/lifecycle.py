"""Fabric's chaincode lifecycle for fedledger's chaincode: install, approve, commit.

Every org installs its own package (its connection.json points at its own chaincode service),
approves the same definition, and the definition is committed once a majority of orgs
approved (the channel's LifecycleEndorsement policy). The endorsement policy of the chaincode
is the channel default, ``MAJORITY Endorsement``.
"""

from __future__ import annotations

import json
import time

from network.binaries import ToolError, fabric_bin, run_tool
from network.nodes import admin_env
from network.state import StateDir
from network.topology import CHAINCODE_NAME, CHANNEL, ORDERER_ORG, Org, Topology


def orderer_args(topology: Topology, state: StateDir) -> list[str]:
    """The peer CLI's arguments to reach the ordering service over TLS, with ``state``'s copy
    of the orderer org's TLS CA."""
    orderer = topology.orderers[0]
    return ["-o", orderer.address, "--tls", "--cafile", str(state.tls_ca_cert(ORDERER_ORG))]


def install(topology: Topology, state: StateDir, org: Org, package_path: str) -> None:
    try:
        run_tool(
            [fabric_bin("peer"), "lifecycle", "chaincode", "install", package_path],
            env=admin_env(topology, org, state),
            what=f"chaincode install on {org.name}",
        )
    except ToolError as exc:
        if "already successfully installed" not in str(exc):
            raise


def approve(
    topology: Topology, state: StateDir, org: Org, package_id: str, version: str, sequence: int, attempts: int = 20
) -> None:
    """Approve the definition for ``org``; retried while the ordering service elects a leader."""
    argv = [
        fabric_bin("peer"),
        "lifecycle",
        "chaincode",
        "approveformyorg",
        *orderer_args(topology, state),
        "--channelID",
        CHANNEL,
        "--name",
        CHAINCODE_NAME,
        "--version",
        version,
        "--package-id",
        package_id,
        "--sequence",
        str(sequence),
    ]
    _retry(lambda: run_tool(argv, env=admin_env(topology, org, state), what=f"approve for {org.name}"), attempts)


def commit(topology: Topology, state: StateDir, version: str, sequence: int, attempts: int = 20,
           orgs: list[Org] | None = None) -> None:  # fmt: skip
    """Commit the definition as the first hospital's admin, endorsed by the peers of ``orgs``
    (default: every org with a peer)."""
    org = topology.hospitals[0]
    peers: list[str] = []
    for peer in [topology.peer_of(o) for o in (topology.peer_orgs if orgs is None else orgs)]:
        peers += ["--peerAddresses", peer.address, "--tlsRootCertFiles", str(state.node_dir(peer) / "tls" / "ca.crt")]
    argv = [
        fabric_bin("peer"),
        "lifecycle",
        "chaincode",
        "commit",
        *orderer_args(topology, state),
        "--channelID",
        CHANNEL,
        "--name",
        CHAINCODE_NAME,
        "--version",
        version,
        "--sequence",
        str(sequence),
        *peers,
    ]
    _retry(lambda: run_tool(argv, env=admin_env(topology, org, state), what="chaincode commit"), attempts)


def committed_sequence(topology: Topology, state: StateDir, org: Org) -> int:
    """Sequence of the committed definition as ``org``'s peer sees it (0 if none)."""
    try:
        out = run_tool(
            [
                fabric_bin("peer"),
                "lifecycle",
                "chaincode",
                "querycommitted",
                "--channelID",
                CHANNEL,
                "--name",
                CHAINCODE_NAME,
                "-O",
                "json",
            ],
            env=admin_env(topology, org, state),
            what="querycommitted",
        )
    except ToolError as exc:
        if "not found" in str(exc) or "404" in str(exc):
            return 0
        raise
    return int(json.loads(out[out.find("{") :]).get("sequence", 0))


def _retry(action, attempts: int) -> None:
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            action()
            return
        except ToolError as exc:
            text = str(exc)
            transient = any(
                s in text
                for s in ("SERVICE_UNAVAILABLE", "no Raft leader", "connection refused", "UNAVAILABLE", "timed out")
            )
            if not transient or attempt == attempts:
                raise
            time.sleep(delay)
            delay = min(delay * 1.5, 3.0)
