"""An org's keys from its own CA: the identities a multi-host org enrolls before its nodes start.

Each org enrolls, from the CA on its own host (network/org_ca.py), its admin (``Admin``), the
client its agent uses (``User1``) and each of its nodes, whose TLS certificates name the node's
host address and its DNS name; its org definition gets the CA as TLS CA too (one CA signs
both kinds of certificate). The chaincode service's TLS pair and the peer's client pair for
it come from the same CA. Everything is written in the org's own state directory, in the
layout cryptogen would use, so the rest of network/ reads both alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from network.org_ca import OrgCA
from network.state import StateDir
from network.topology import Org, Topology


def org_ca(topology: Topology, state: StateDir, org: Org) -> OrgCA:
    """``org``'s CA on its host, its home and the crypto it writes in ``state`` (the org's own)."""
    listen, operations = topology.ca_ports(org)
    return OrgCA(org, state.root / "ca", state.org_dir(org), topology.host_of(org), listen, operations)


def enroll_org(ca: OrgCA, topology: Topology, state: StateDir) -> None:
    """Enroll the org's admin, its agent's client and every node of it; write its org MSP."""
    org = ca.org
    ca.enroll("Admin", "admin")
    ca.enroll("User1", "client")
    for node in (n for n in topology.nodes if n.org == org):
        ca.enroll(node.name.split(".")[0], node.kind, hosts=(node.host, node.fqdn))
    ca.org_msp()
    tlsca = state.tls_ca_cert(org)
    tlsca.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca.ca_cert, tlsca)


def chaincode_tls(ca: OrgCA, tls: Path, host: str) -> None:
    """The chaincode service's server pair (valid for ``host``) and its peer's client pair."""
    ca.tls_pair("chaincode", "client", (host, f"chaincode.{ca.org.domain}"), tls, "server")
    ca.tls_pair("peer-client", "client", (), tls, "client")
