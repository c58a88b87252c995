"""The shape of the local consortium: orgs, nodes, the hosts they run on and their ports.

Pure data, no side effects. Ports come from one base (``FEDLEDGER_PORT_BASE``, default 7100)
so that a test network and a demo network can run side by side: every node gets a slot of ten
ports and each port has a fixed offset inside its slot. Services that are not a node's (the
patients' agent, the second generation of chaincode services an upgrade starts, each org's CA)
have fixed slots after the node slots (``SERVICE_SLOT``), so that an org joining later, whose
peer takes the next node slot, moves no one's ports. Every org's nodes and services listen
on the org's host address: loopback on one machine, or the address ``hosts`` gives the org
(its own host, e.g. a namespace host of network/hosts.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CHANNEL = "fedledger"
CHAINCODE_NAME = "fedledger"
DEFAULT_PORT_BASE = 7100
LOOPBACK = "127.0.0.1"

# offsets inside a node's slot of ten ports
LISTEN, PEER_CC_LISTEN, OPERATIONS, ORDERER_ADMIN = 0, 1, 2, 3
CHAINCODE_SERVICE, IPFS_API, IPFS_GATEWAY, IPFS_SWARM, PPROF = 5, 6, 7, 8, 9
# slots after the nodes' (at most SERVICE_SLOT of them): one per kind of service, one port per org
SERVICE_SLOT = 40
PATIENTS_AGENT_SLOT, UPGRADE_SLOT, CA_SLOT, CA_OPERATIONS_SLOT = 40, 41, 42, 43
ADDED_ORDERER_SLOTS = (44, 45, 46, 47)  # orderers added to the running channel
CONSENSUS_TYPES = ("etcdraft", "BFT")
MAX_ORGS = 10  # orderer org included: one port per org in each service slot


@dataclass(frozen=True)
class Org:
    name: str  # "HospitalA"
    msp_id: str  # "HospitalAMSP"
    domain: str  # "hospitala.fedledger.local"
    kind: str  # "hospital" | "regulator" | "orderer"
    has_peer: bool = True  # simulated hospitals transact through another org's gateway peer

    @property
    def short(self) -> str:
        return self.domain.split(".")[0]


@dataclass(frozen=True)
class Node:
    name: str  # "orderer1", "peer0.hospitala"
    kind: str  # "orderer" | "peer"
    org: Org
    slot_base: int
    host: str = LOOPBACK  # the address its org's host listens on

    @property
    def fqdn(self) -> str:
        return f"{self.name.split('.')[0]}.{self.org.domain}"

    @property
    def port(self) -> int:
        return self.slot_base + LISTEN

    @property
    def operations_port(self) -> int:
        return self.slot_base + OPERATIONS

    @property
    def admin_port(self) -> int:
        if self.kind != "orderer":
            raise ValueError("only orderers have an admin port")
        return self.slot_base + ORDERER_ADMIN

    @property
    def chaincode_listen_port(self) -> int:
        return self.slot_base + PEER_CC_LISTEN

    @property
    def chaincode_service_port(self) -> int:
        """Port of this peer's org chaincode service (chaincode as a service)."""
        return self.slot_base + CHAINCODE_SERVICE

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


ORDERER_ORG = Org("OrdererOrg", "OrdererMSP", "orderer.fedledger.local", "orderer")
HOSPITALS = (
    Org("HospitalA", "HospitalAMSP", "hospitala.fedledger.local", "hospital"),
    Org("HospitalB", "HospitalBMSP", "hospitalb.fedledger.local", "hospital"),
    Org("HospitalC", "HospitalCMSP", "hospitalc.fedledger.local", "hospital"),
)
REGULATOR = Org("Regulator", "RegulatorMSP", "regulator.fedledger.local", "regulator")


def simulated_hospital(i: int) -> Org:
    """A hospital org that is a channel member with its own CA and identities but no peer,
    used by benchmarks to grow the consortium without 30 peer processes on 2 cores."""
    name = f"SimHospital{i:02d}"
    return Org(name, f"{name}MSP", f"{name.lower()}.fedledger.local", "hospital", has_peer=False)


@dataclass(frozen=True)
class Topology:
    port_base: int = DEFAULT_PORT_BASE
    orderer_count: int = 3
    consensus: str = "etcdraft"  # or "BFT": Fabric v3's SmartBFT, which needs at least 4 orderers
    simulated_hospitals: int = 0
    hosts: tuple[tuple[str, str], ...] = ()  # (org name, host address); unnamed orgs: loopback
    joined: tuple[Org, ...] = ()  # orgs admitted to the running channel, in the order they joined
    added_orderers: int = 0  # orderers added to the running channel's consenter set, after the first ones
    removed: tuple[str, ...] = ()  # orgs (or orderers) removed from the channel; their slots stay taken
    # networks created before the fixed service slots keep their ports: the patients' agent on
    # the slot after the last node, an upgrade's second generation on the one after that
    legacy_service_slots: bool = False
    application_orgs: tuple[Org, ...] = field(init=False)
    ever: tuple[Org, ...] = field(init=False)  # every org the channel has had: port indexes never move
    nodes: tuple[Node, ...] = field(init=False)

    def __post_init__(self) -> None:
        sims = tuple(simulated_hospital(i) for i in range(1, self.simulated_hospitals + 1))
        if self.consensus not in CONSENSUS_TYPES:
            raise ValueError(f"consensus {self.consensus!r}: one of {', '.join(CONSENSUS_TYPES)}")
        if self.consensus == "BFT" and self.orderer_count < 4:
            raise ValueError("BFT ordering needs at least 4 orderers (3f + 1 tolerates f faulty ones)")
        every = (*HOSPITALS, *sims, REGULATOR, *self.joined)
        if len(every) + 1 > MAX_ORGS and self.simulated_hospitals == 0:
            raise ValueError(f"at most {MAX_ORGS} orgs (orderer org included)")
        object.__setattr__(self, "application_orgs", tuple(o for o in every if o.name not in self.removed))
        object.__setattr__(self, "ever", (ORDERER_ORG, *every))
        nodes: list[Node] = []
        if self.added_orderers > len(ADDED_ORDERER_SLOTS):
            raise ValueError(f"at most {len(ADDED_ORDERER_SLOTS)} orderers can be added to a running channel")
        orderer_slots = [*range(self.orderer_count), *ADDED_ORDERER_SLOTS[: self.added_orderers]]
        for i, orderer_slot in enumerate(orderer_slots, start=1):
            if f"orderer{i}" not in self.removed:
                nodes.append(Node(f"orderer{i}", "orderer", ORDERER_ORG, self.port_base + 10 * orderer_slot,
                                  self.host_of(ORDERER_ORG)))  # fmt: skip
        slot = self.orderer_count
        for org in (o for o in every if o.has_peer):  # a removed org's slot stays taken: no one's ports move
            if org.name not in self.removed:
                nodes.append(Node(f"peer0.{org.short}", "peer", org, self.port_base + 10 * slot, self.host_of(org)))
            slot += 1
        if slot > SERVICE_SLOT:
            raise ValueError(f"at most {SERVICE_SLOT} nodes")
        object.__setattr__(self, "nodes", tuple(nodes))

    @classmethod
    def from_env(cls) -> Topology:
        return cls(port_base=int(os.environ.get("FEDLEDGER_PORT_BASE", DEFAULT_PORT_BASE)))

    def host_of(self, org: Org | str) -> str:
        """The address the nodes and services of ``org`` (or of a party named so, e.g. the
        patients' agent) listen on."""
        return dict(self.hosts).get(org if isinstance(org, str) else org.name, LOOPBACK)

    @property
    def orgs(self) -> list[Org]:
        """Every org: the orderer org first, then the application orgs."""
        return [ORDERER_ORG, *self.application_orgs]

    @property
    def ever_peer_orgs(self) -> list[Org]:
        """Application orgs with a peer the channel has had, removed ones included."""
        return [o for o in self.ever if o.has_peer and o.kind != "orderer"]

    def service_port(self, slot: int, offset: int) -> int:
        if self.legacy_service_slots and slot in (PATIENTS_AGENT_SLOT, UPGRADE_SLOT):
            slot = len(self.nodes) + (slot - PATIENTS_AGENT_SLOT)
        return self.port_base + 10 * slot + offset

    def ca_ports(self, org: Org) -> tuple[int, int]:
        """Listen and operations port of ``org``'s certificate authority."""
        index = self.ever.index(org)
        return self.service_port(CA_SLOT, index), self.service_port(CA_OPERATIONS_SLOT, index)

    @property
    def orderers(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "orderer"]

    @property
    def peers(self) -> list[Node]:
        return [n for n in self.nodes if n.kind == "peer"]

    @property
    def hospitals(self) -> list[Org]:
        return [o for o in self.application_orgs if o.kind == "hospital"]

    @property
    def peer_orgs(self) -> list[Org]:
        """Application orgs that run a peer (and a chaincode service)."""
        return [o for o in self.application_orgs if o.has_peer]

    def org(self, name_or_msp: str) -> Org:
        """Look an application org up by name, MSP ID or short name (case-insensitive)."""
        wanted = name_or_msp.lower()
        for org in self.application_orgs:
            if wanted in (org.name.lower(), org.msp_id.lower(), org.short):
                return org
        known = ", ".join(o.name for o in self.application_orgs)
        raise KeyError(f"unknown org {name_or_msp!r}; known: {known}")

    def peer_of(self, org: Org) -> Node:
        for n in self.peers:
            if n.org == org:
                return n
        raise KeyError(f"{org.name} runs no peer")

    def gateway_peer_of(self, org: Org) -> Node:
        """The peer whose gateway ``org``'s clients use: its own, or for a simulated hospital a
        real hospital's peer (spread round-robin)."""
        if org.has_peer:
            return self.peer_of(org)
        hosts = [self.peer_of(o) for o in self.peer_orgs if o.kind == "hospital"]
        return hosts[self.application_orgs.index(org) % len(hosts)]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name or n.fqdn == name:
                return n
        raise KeyError(f"unknown node {name!r}; known: {', '.join(n.name for n in self.nodes)}")

    def chaincode_service_name(self, org: Org, generation: int = 0) -> str:
        """The chaincode service's node name; the two generations an upgrade overlaps differ."""
        return f"chaincode.{org.short}" if generation % 2 == 0 else f"chaincode2.{org.short}"

    def chaincode_port(self, org: Org, generation: int = 0) -> int:
        """Port of ``org``'s chaincode service. An upgrade starts the new version's services
        beside the running ones (odd generations on the upgrade slot, even ones in
        the peer's slot), so that a peer switches to its new service only when the new
        definition commits: no call ever finds no service."""
        if generation % 2 == 0:
            return self.peer_of(org).chaincode_service_port
        index = self.ever_peer_orgs.index(org)
        if index >= 10:
            raise ValueError("chaincode upgrades support at most 10 orgs with peers")
        return self.service_port(UPGRADE_SLOT, index)
