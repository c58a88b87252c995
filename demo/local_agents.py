"""Agent configurations for the hospitals of the local consortium: each org's gateway peer,
client identity, Kubo node, key store and state directory as the local network laid them out
(on hosts: in the org's own state directory, with its host's addresses)."""

from __future__ import annotations

from pathlib import Path

from agent.daemon.config import AgentConfig
from agent.data import demo_split
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL


def local_agent_config(net: LocalConsortium, org_name: str, data_dir: Path | None = None) -> AgentConfig:
    """An agent config for ``org_name`` of the local network, on the demo's data split unless
    ``data_dir`` holds the hospital's own ``train.csv``, ``validation.csv`` and ``schema.json``."""
    org = net.org(org_name)
    if org.kind != "hospital" or not org.has_peer:
        raise ValueError(f"{org_name} is not a hospital org with its own peer")
    peer = net.topology.gateway_peer_of(org)
    site = net.state_of(org)  # the org's own directory (the network's, on one machine)
    if data_dir is None:
        demo = demo_split.build(net.state.root / "demo-data")
        schema, train, validation = demo.schema_path, demo.train_paths[org_name], demo.validation_paths[org_name]
    else:
        schema, train, validation = data_dir / "schema.json", data_dir / "train.csv", data_dir / "validation.csv"
    return AgentConfig(
        org=org_name,
        msp_id=org.msp_id,
        gateway_address=peer.address,
        tls_ca=site.node_dir(peer) / "tls" / "ca.crt",
        msp_dir=site.user_dir(org, "User1") / "msp",
        channel=CHANNEL,
        chaincode=CHAINCODE_NAME,
        ipfs_api=net.ipfs_api(org_name),
        keys_dir=site.root / "keys" / org.short,
        state_dir=site.root / "agents" / org.short,
        schema=schema,
        train=train,
        validation=validation,
    )
