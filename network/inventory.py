"""Every process a network runs, as launch specs: what ``status``, ``restart``, ``down`` and the
compose file read.

Which processes exist follows the manifest (chaincode services once packaged, Kubo and ACA-Py
when the network has them), the topology (orgs and orderers, joined or removed) and where
each org's files live (network/sites.py).
"""

from __future__ import annotations

from typing import Any

from network import aries, ipfs_nodes
from network.chaincode_services import ChaincodeServices
from network.nodes import LaunchSpec, orderer_spec, peer_spec
from network.org_keys import org_ca
from network.sites import PATIENTS, Sites
from network.state import StateDir
from network.topology import ORDERER_ORG, Topology

Entry = tuple[LaunchSpec, str, str]  # launch spec, kind, owner (org name or PATIENTS)


class Inventory:
    def __init__(self, topology: Topology, sites: Sites, chaincode: ChaincodeServices) -> None:
        self.topology = topology
        self.sites = sites
        self.chaincode = chaincode

    def specs(self, manifest: dict[str, Any], with_cas: bool = True) -> list[Entry]:
        """Every process a network with ``manifest`` runs; the CAs' only with ``with_cas`` (their
        specs hold the org's registrar secret)."""
        topo, state, specs = self.topology, self.sites.state, []
        if self.sites.separate and with_cas:
            specs += [(org_ca(topo, state(o), o).spec(), "ca", o.name) for o in topo.orgs]
        specs += [(orderer_spec(n, state(n.org)), "orderer", n.org.name) for n in topo.orderers]
        specs += [(peer_spec(n, state(n.org)), "peer", n.org.name) for n in topo.peers]
        package_ids = manifest.get("chaincode", {}).get("package_ids", {})
        generation = manifest.get("chaincode", {}).get("generation", 0)
        for org in topo.peer_orgs:
            if org.msp_id in package_ids:
                specs.append((self.chaincode.spec(org, package_ids[org.msp_id], generation), "chaincode", org.name))
        if manifest.get("ipfs_peers"):
            for org in ipfs_nodes.ipfs_orgs(topo):
                specs.append((ipfs_nodes.ipfs_spec(topo, state(org), org), "ipfs", org.name))
        if manifest.get("aries"):
            for who in aries.all_agents(topo):
                owner = PATIENTS if who == aries.PATIENTS else who.name  # type: ignore[union-attr]
                specs.append((aries.aries_spec(topo, state(who), who), "aries", owner))
        return specs

    def stoppable(self) -> list[tuple[StateDir, str]]:
        """(state directory, name) of everything the network may run, removed orgs' and
        orderers' too, in stopping order (chaincode services first, CAs last)."""
        topo, state, out = self.topology, self.sites.state, []
        peer_orgs = topo.ever_peer_orgs
        out += [(state(o), topo.chaincode_service_name(o, g)) for o in peer_orgs for g in (0, 1)]
        out += [(state(o), ipfs_nodes.node_name(o)) for o in peer_orgs if o.kind == "hospital"]
        out += [(state(w), aries.node_name(w)) for w in aries.all_agents(topo)]
        out += [(state(o), f"peer0.{o.short}") for o in peer_orgs]
        every_orderer = [f"orderer{i}" for i in range(1, topo.orderer_count + topo.added_orderers + 1)]
        out += [(state(ORDERER_ORG), name) for name in every_orderer]
        if self.sites.separate:
            out += [(state(o), org_ca(topo, state(o), o).name) for o in topo.ever]
        return out

    def ports(self, with_ipfs: bool, with_aries: bool) -> list[tuple[str, int]]:
        """(process, port) of every port a new network would listen on."""
        wanted = [(spec.name, spec.port) for spec, _, _ in self.specs({}, with_cas=False)]
        if with_ipfs:
            for org in ipfs_nodes.ipfs_orgs(self.topology):
                wanted += [(ipfs_nodes.node_name(org), p) for p in ipfs_nodes.ports(self.topology, org)]
        if with_aries:
            for who in aries.all_agents(self.topology):
                wanted += [(aries.node_name(who), p) for p in aries.ports(self.topology, who)]
        return wanted
