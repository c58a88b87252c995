"""Rendering node and channel configuration into the state directory.

Fabric's own sampleconfig (copied from the Go module cache by scripts/install.sh) is the base
for core.yaml and orderer.yaml; per-node settings are environment variables (network/nodes.py).
Only what cannot be expressed as an environment variable is edited here: the external builder
list and the Docker endpoint in core.yaml. configtx.yaml comes from network/templates.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from string import Template

import yaml

from network.binaries import sampleconfig_dir
from network.state import StateDir
from network.topology import Org, Topology

TEMPLATES = Path(__file__).resolve().parent / "templates"
BUILDER_DIR = Path(__file__).resolve().parent / "ccaas_builder"


def render_configtx(topology: Topology, state: StateDir, batch_timeout: str, batch_max_messages: int) -> Path:
    """Write configtx.yaml for the consortium's channel and return its path."""
    orgs = [application_org(topology, state, org) for org in topology.application_orgs]
    refs = [f"        - *{org.name}" for org in topology.application_orgs]
    endpoints = "\n".join(f"      - {n.address}" for n in topology.orderers)
    text = Template((TEMPLATES / "configtx.yaml.tmpl").read_text()).substitute(
        CRYPTO=state.crypto,
        APPLICATION_ORGS="\n".join(orgs),
        APPLICATION_ORG_REFS="\n".join(refs),
        ORDERER_TYPE=topology.consensus,
        CONSENSUS=consensus_section(topology, state, batch_timeout),
        BATCH_TIMEOUT=batch_timeout,
        BATCH_MAX_MESSAGES=batch_max_messages,
        ENDORSEMENT_POLICY=endorsement_policy(topology),
        ORDERER_ENDPOINTS=endpoints,
    )
    out = state.config / "configtx" / "configtx.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


RAFT_OPTIONS = """    Options:
      TickInterval: 500ms
      ElectionTick: 10
      HeartbeatTick: 1
      MaxInflightBlocks: 5
      SnapshotIntervalSize: 16 MB"""
# every key set: configtxgen fills SmartBFT's defaults only when the whole block is absent.
# RequestBatchMaxCount/Bytes are replaced at run time by BatchSize; the batch interval takes
# the place of Raft's BatchTimeout (SmartBFT ignores BatchTimeout).
SMARTBFT_OPTIONS = """  SmartBFT:
    RequestBatchMaxCount: 500
    RequestBatchMaxInterval: {interval}
    RequestForwardTimeout: 2s
    RequestComplainTimeout: 20s
    RequestAutoRemoveTimeout: 3m0s
    ViewChangeResendInterval: 5s
    ViewChangeTimeout: 20s
    LeaderHeartbeatTimeout: 1m0s
    CollectTimeout: 1s
    RequestBatchMaxBytes: 10485760
    IncomingMessageBufferSize: 200
    RequestPoolSize: 100000
    LeaderHeartbeatCount: 10"""


def consensus_section(topology: Topology, state: StateDir, batch_timeout: str) -> str:
    """The orderers as consenters: Raft's ``EtcdRaft`` block, or SmartBFT's ``ConsenterMapping``
    (each orderer also named by its enrollment certificate, so that block signatures can be
    checked against a quorum of them) and options."""
    lines = []
    if topology.consensus == "etcdraft":
        lines.append("  EtcdRaft:\n    Consenters:")
        for node in topology.orderers:
            tls = state.node_dir(node) / "tls" / "server.crt"
            lines.append(f"      - Host: {node.host}\n        Port: {node.port}\n"
                         f"        ClientTLSCert: {tls}\n        ServerTLSCert: {tls}")  # fmt: skip
        lines.append(RAFT_OPTIONS)
        return "\n".join(lines)
    lines.append("  ConsenterMapping:")
    for i, node in enumerate(topology.orderers, start=1):
        tls = state.node_dir(node) / "tls" / "server.crt"
        identity = sorted((state.node_dir(node) / "msp" / "signcerts").glob("*.pem"))
        lines.append(f"    - ID: {i}\n      Host: {node.host}\n      Port: {node.port}\n"
                     f"      MSPID: {node.org.msp_id}\n      Identity: {identity[0] if identity else ''}\n"
                     f"      ClientTLSCert: {tls}\n      ServerTLSCert: {tls}")  # fmt: skip
    lines.append(SMARTBFT_OPTIONS.format(interval=batch_timeout))
    return "\n".join(lines)


def application_org(topology: Topology, state: StateDir, org: Org) -> str:
    """configtx.yaml's entry for an application org: its MSP (read from ``state``), policies
    and anchor peer."""
    anchors = ""
    if org.has_peer:
        peer = topology.peer_of(org)
        anchors = f"    AnchorPeers:\n      - Host: {peer.host}\n        Port: {peer.port}\n"
    return (
        Template((TEMPLATES / "application-org.yaml.tmpl").read_text())
        .substitute(NAME=org.name, MSP_ID=org.msp_id, DOMAIN=org.domain, CRYPTO=state.crypto, ANCHOR_PEERS=anchors)
        .rstrip()
    )


def render_org_configtx(topology: Topology, state: StateDir, org: Org, out_dir: Path) -> Path:
    """A configtx.yaml holding only ``org`` (configtxgen -printOrg reads it); returns its folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "configtx.yaml").write_text("Organizations:\n" + application_org(topology, state, org) + "\n")
    return out_dir


def endorsement_policy(topology: Topology) -> str:
    """The channel's Endorsement and LifecycleEndorsement policy.

    Normally ``MAJORITY Endorsement`` over every application org. A benchmark topology adds
    simulated hospitals that have no peer and so cannot endorse; there the same majority is
    written out as a signature policy over the orgs that run peers, so the endorsement work
    per transaction is identical to the normal network's."""
    if topology.simulated_hospitals == 0:
        return '{Type: ImplicitMeta, Rule: "MAJORITY Endorsement"}'
    peer_orgs = topology.peer_orgs
    roles = ", ".join(f"'{o.msp_id}.peer'" for o in peer_orgs)
    return f'{{Type: Signature, Rule: "OutOf({len(peer_orgs) // 2 + 1}, {roles})"}}'


def render_crypto_config(topology: Topology, state: StateDir, base: Path) -> Path:
    """cryptogen input: the committed file, with the topology's orderers (BFT runs four) and
    peerless orgs for simulated hospitals."""
    doc = yaml.safe_load(base.read_text())
    doc["OrdererOrgs"][0]["Specs"] = [{"Hostname": n.name, "SANS": ["localhost", "127.0.0.1"]}
                                      for n in topology.orderers]  # fmt: skip
    for org in topology.application_orgs:
        if not org.has_peer:
            doc["PeerOrgs"].append(
                {
                    "Name": org.name,
                    "Domain": org.domain,
                    "EnableNodeOUs": True,
                    "Template": {"Count": 0},
                    "Users": {"Count": 1},
                }
            )
    out = state.config / "crypto-config.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def render_core_yaml(state: StateDir) -> Path:
    """core.yaml for every peer and the peer CLI: sampleconfig plus the ccaas builder."""
    core = yaml.safe_load((sampleconfig_dir() / "core.yaml").read_text())
    core["vm"]["endpoint"] = ""  # no Docker: chaincode only runs as an external service
    core["chaincode"]["externalBuilders"] = [
        {
            "name": "fedledger-ccaas",
            "path": str(BUILDER_DIR),
            "propagateEnvironment": ["CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"],
        }
    ]
    # Endorsement and gateway concurrency limits sized for a 2-core machine under benchmark.
    core["peer"].setdefault("gateway", {})["enabled"] = True
    state.peer_config.mkdir(parents=True, exist_ok=True)
    out = state.peer_config / "core.yaml"
    out.write_text(yaml.safe_dump(core, sort_keys=False))
    # the peer CLI and node also look for an msp/ next to core.yaml when nothing overrides it
    return out


def copy_orderer_yaml(state: StateDir) -> Path:
    state.orderer_config.mkdir(parents=True, exist_ok=True)
    out = state.orderer_config / "orderer.yaml"
    shutil.copyfile(sampleconfig_dir() / "orderer.yaml", out)
    out.chmod(0o644)
    return out
