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
from network.topology import Topology

TEMPLATES = Path(__file__).resolve().parent / "templates"
BUILDER_DIR = Path(__file__).resolve().parent / "ccaas_builder"


def render_configtx(topology: Topology, state: StateDir, batch_timeout: str, batch_max_messages: int) -> Path:
    """Write configtx.yaml for the consortium's channel and return its path."""
    org_template = Template((TEMPLATES / "application-org.yaml.tmpl").read_text())
    orgs = []
    refs = []
    for org in topology.application_orgs:
        orgs.append(
            org_template.substitute(
                NAME=org.name,
                MSP_ID=org.msp_id,
                DOMAIN=org.domain,
                CRYPTO=state.crypto,
                PEER_PORT=topology.peer_of(org).port,
            ).rstrip()
        )
        refs.append(f"        - *{org.name}")
    consenters = []
    for node in topology.orderers:
        tls = state.node_dir(node) / "tls" / "server.crt"
        consenters.append(
            f"      - Host: 127.0.0.1\n        Port: {node.port}\n"
            f"        ClientTLSCert: {tls}\n        ServerTLSCert: {tls}"
        )
    ports = {f"ORDERER{i + 1}_PORT": n.port for i, n in enumerate(topology.orderers)}
    text = Template((TEMPLATES / "configtx.yaml.tmpl").read_text()).substitute(
        CRYPTO=state.crypto,
        APPLICATION_ORGS="\n".join(orgs),
        APPLICATION_ORG_REFS="\n".join(refs),
        CONSENTERS="\n".join(consenters),
        BATCH_TIMEOUT=batch_timeout,
        BATCH_MAX_MESSAGES=batch_max_messages,
        **ports,
    )
    out = state.config / "configtx" / "configtx.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
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
