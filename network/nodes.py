"""How each node is launched: its program and environment.

A native Fabric node is a binary plus a dozen environment variables over the base config;
this module is the one place those variables are written down, next to the loopback ports of
network/topology.py.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from network.binaries import fabric_bin
from network.state import StateDir
from network.topology import LOOPBACK, PPROF, Node, Org, Topology

# INFO for what an operator needs (start-up, channel joins, blocks committed, chaincode
# launches); per-call gRPC access lines and gossip chatter only from WARNING.
PEER_LOGGING = "info:grpc,comm.grpc.server,gossip,gossip.discovery,gossip.election,gossip.privdata=warning"
ORDERER_LOGGING = "info:grpc,comm.grpc.server,orderer.common.broadcast=warning"
# Fabric's Go processes on a 2-core machine spend a visible share of CPU in garbage
# collection under load; memory is plentiful, so collect less often.
GO_RUNTIME = {"GOGC": "400"}


@dataclass(frozen=True)
class LaunchSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str | None  # operations /healthz, or None for a TCP check only
    port: int
    # Ports that must also accept connections before the node counts as up: the
    # operations endpoint answers /healthz before a peer's gRPC listener is open.
    extra_ports: tuple[int, ...] = ()
    host: str = LOOPBACK  # where the ports listen
    owner: str = ""  # the org (or the patients) whose site keeps its files (network/sites.py)


def orderer_spec(node: Node, state: StateDir) -> LaunchSpec:
    tls = state.node_dir(node) / "tls"
    admin_tls_ca = state.tls_ca_cert(node.org)
    data = state.data(node.name)
    env = {
        "FABRIC_CFG_PATH": str(state.orderer_config),
        "FABRIC_LOGGING_SPEC": ORDERER_LOGGING,
        "ORDERER_GENERAL_LISTENADDRESS": node.host,
        "ORDERER_GENERAL_LISTENPORT": str(node.port),
        "ORDERER_GENERAL_LOCALMSPID": node.org.msp_id,
        "ORDERER_GENERAL_LOCALMSPDIR": str(state.node_dir(node) / "msp"),
        "ORDERER_GENERAL_TLS_ENABLED": "true",
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
        "ORDERER_OPERATIONS_LISTENADDRESS": f"{node.host}:{node.operations_port}",
        "ORDERER_METRICS_PROVIDER": "prometheus",
        "ORDERER_ADMIN_LISTENADDRESS": f"{node.host}:{node.admin_port}",
        "ORDERER_ADMIN_TLS_ENABLED": "true",
        "ORDERER_ADMIN_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_ADMIN_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
        "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{admin_tls_ca}]",
        **GO_RUNTIME,
    }
    return LaunchSpec(
        node.name,
        [fabric_bin("orderer")],
        env,
        f"http://{node.host}:{node.operations_port}/healthz",
        node.port,
        (node.admin_port,),
        node.host,
        node.org.name,
    )


def peer_spec(node: Node, state: StateDir) -> LaunchSpec:
    tls = state.node_dir(node) / "tls"
    data = state.data(node.name)
    env = {
        "FABRIC_CFG_PATH": str(state.peer_config),
        "FABRIC_LOGGING_SPEC": PEER_LOGGING,
        "CORE_PEER_ID": node.fqdn,
        "CORE_PEER_ADDRESS": node.address,
        "CORE_PEER_LISTENADDRESS": node.address,
        "CORE_PEER_CHAINCODEADDRESS": f"{node.host}:{node.chaincode_listen_port}",
        "CORE_PEER_CHAINCODELISTENADDRESS": f"{node.host}:{node.chaincode_listen_port}",
        "CORE_PEER_GOSSIP_BOOTSTRAP": node.address,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": node.address,
        "CORE_PEER_GOSSIP_USELEADERELECTION": "false",
        "CORE_PEER_GOSSIP_ORGLEADER": "true",
        # loopback-sized gossip timers: peers find each other and the committed chaincode in
        # seconds instead of the defaults' 25 s reconnect interval
        "CORE_PEER_GOSSIP_ALIVETIMEINTERVAL": "2s",
        "CORE_PEER_GOSSIP_ALIVEEXPIRATIONTIMEOUT": "10s",
        "CORE_PEER_GOSSIP_RECONNECTINTERVAL": "2s",
        "CORE_PEER_GOSSIP_PUBLISHSTATEINFOINTERVAL": "1s",
        "CORE_PEER_GOSSIP_REQUESTSTATEINFOINTERVAL": "1s",
        "CORE_PEER_GOSSIP_PULLINTERVAL": "1s",
        "CORE_PEER_GOSSIP_MEMBERSHIPTRACKERINTERVAL": "2s",
        "CORE_PEER_LOCALMSPID": node.org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(state.node_dir(node) / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
        "CORE_PEER_FILESYSTEMPATH": str(data),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(data / "snapshots"),
        "CORE_OPERATIONS_LISTENADDRESS": f"{node.host}:{node.operations_port}",
        "CORE_METRICS_PROVIDER": "prometheus",
        "CORE_PEER_PROFILE_ENABLED": os.environ.get("FEDLEDGER_PEER_PPROF", "false"),
        "CORE_PEER_PROFILE_LISTENADDRESS": f"{node.host}:{node.slot_base + PPROF}",
        **GO_RUNTIME,
    }
    return LaunchSpec(
        node.name,
        [fabric_bin("peer"), "node", "start"],
        env,
        f"http://{node.host}:{node.operations_port}/healthz",
        node.port,
        (),
        node.host,
        node.org.name,
    )


def chaincode_tls_dir(state: StateDir, org: Org, generation: int = 0) -> Path:
    """Where a generation's chaincode service keeps its TLS pair (the two an upgrade overlaps
    keep theirs apart)."""
    return state.chaincode_dir(org) / ("tls" if generation % 2 == 0 else "tls2")


def chaincode_spec(topology: Topology, org: Org, state: StateDir, package_id: str, test_contracts: bool = False,
                   generation: int = 0) -> LaunchSpec:  # fmt: skip
    """The org's chaincode service: fedledger's Python chaincode behind mutual TLS."""
    peer = topology.peer_of(org)
    port = topology.chaincode_port(org, generation)
    tls = chaincode_tls_dir(state, org, generation)
    env = {
        "CHAINCODE_ID": package_id,
        "CHAINCODE_SERVER_ADDRESS": f"{peer.host}:{port}",
        "CHAINCODE_TLS_CERT": str(tls / "server.crt"),
        "CHAINCODE_TLS_KEY": str(tls / "server.key"),
        "CHAINCODE_CLIENT_CA_CERT": str(state.tls_ca_cert(org)),
        "PYTHONUNBUFFERED": "1",
        "FEDLEDGER_TEST_CONTRACTS": "1" if test_contracts else "0",
    }
    return LaunchSpec(
        topology.chaincode_service_name(org, generation),
        [sys.executable, "-m", "chaincode"],
        env,
        None,
        port,
        (),
        peer.host,
        org.name,
    )


def admin_env(topology: Topology, org: Org, state: StateDir, user: str = "Admin") -> dict[str, str]:
    """Environment for the `peer` CLI acting as ``user`` of ``org`` against the org's peer (the
    orderer org has none: its admin uses the CLI only towards the orderers)."""
    env = {
        "FABRIC_CFG_PATH": str(state.peer_config),
        "FABRIC_LOGGING_SPEC": "warning",
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(state.user_dir(org, user) / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CLIENTCERT_FILE": str(state.user_dir(org, user) / "tls" / "client.crt"),
        "CORE_PEER_TLS_CLIENTKEY_FILE": str(state.user_dir(org, user) / "tls" / "client.key"),
    }
    if org.kind != "orderer":
        peer = topology.peer_of(org)
        env["CORE_PEER_ADDRESS"] = peer.address
        env["CORE_PEER_TLS_ROOTCERT_FILE"] = str(state.node_dir(peer) / "tls" / "ca.crt")
    return env
