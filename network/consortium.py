"""Bringing the consortium up and down: the consortium admin's view of the network.

``up`` is idempotent: on a fresh state directory it generates keys, renders configs, creates
the channel, starts every node and deploys the chaincode; on an existing one it just starts
whatever is not running, and the ledgers carry on where they stopped.

Two layouts (network/sites.py): on one machine every org shares one state directory, keys come
from one ``cryptogen`` run and everything listens on loopback (the demo: one operator runs
every org); on hosts (a ``HostPlan``) every org has its own namespace host, its own state
directory and its own CA, orgs exchange only their org definitions and the genesis block, and
every process runs on its org's host.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clients.acapy import AcaPy
from clients.fabric import Gateway
from clients.ledger import LedgerClient
from network import aries, channel, ipfs_nodes, lifecycle, process, readiness
from network.binaries import ToolError, fabric_bin, fabric_release, run_tool
from network.chaincode_services import ChaincodeServices
from network.configs import copy_orderer_yaml, render_configtx, render_core_yaml, render_crypto_config
from network.host_plan import HostPlan
from network.hosts import HostLab
from network.inventory import Inventory
from network.nodes import LaunchSpec, orderer_spec, peer_spec
from network.org_exchange import OrgExchange
from network.org_keys import enroll_org, org_ca
from network.sites import PATIENTS, Sites
from network.state import StateDir, default_state_dir
from network.topology import CHAINCODE_NAME, CHANNEL, ORDERER_ORG, Org, Topology

CRYPTO_CONFIG = Path(__file__).resolve().parent.parent / "crypto-config" / "crypto-config.yaml"
CHAINCODE_VERSION = "1.0"
CHAINCODE_SEQUENCE = 1
LAYOUT = 2  # 2: fixed service slots (network/topology.py); a manifest without it is older

Progress = Callable[[str], None]


def ledger_client(gateway: Gateway) -> LedgerClient:
    """The fedledger chaincode on the consortium's channel, through ``gateway``."""
    return LedgerClient(gateway.network(CHANNEL), CHAINCODE_NAME)


@dataclass(frozen=True)
class NodeStatus:
    name: str
    kind: str
    org: str
    port: int
    pid: int | None
    running: bool
    healthy: bool
    host: str = "127.0.0.1"  # the address it listens on (its org's host)


class LocalConsortium:
    """One local consortium network rooted at a state directory."""

    def __init__(
        self,
        state: StateDir,
        topology: Topology,
        progress: Progress | None = None,
        batch_timeout: str = "100ms",
        batch_max_messages: int = 500,
        test_contracts: bool = False,
        with_ipfs: bool = True,
        with_aries: bool = True,
        hosts: HostPlan | None = None,
    ) -> None:
        if hosts is not None and dict(topology.hosts) != dict(hosts.addresses()):
            raise ValueError("the topology's host addresses must be the host plan's (use LocalConsortium.on_hosts)")
        if hosts is not None and with_aries and PATIENTS not in hosts.members:
            raise ValueError("ACA-Py agents on hosts need the patients' agent's host (consortium_plan(patients=True))")
        self.state = state
        self.topology = topology
        self.hosts = hosts
        self.sites = Sites(state, separate=hosts is not None, namespaces=hosts.namespaces() if hosts else ())
        # orgs being admitted (network/org_admission.py): in the topology, not yet on the channel
        self.pending: frozenset[str] = frozenset()
        self.chaincode = ChaincodeServices(topology, self.sites, test_contracts)
        self.exchange = OrgExchange(topology, self.sites)
        self.inventory = Inventory(topology, self.sites, self.chaincode)
        self.progress = progress or (lambda _msg: None)
        self.batch_timeout = batch_timeout
        self.batch_max_messages = batch_max_messages
        self.test_contracts = test_contracts
        self.with_ipfs = with_ipfs
        self.with_aries = with_aries

    @classmethod
    def on_hosts(cls, state: StateDir, plan: HostPlan, port_base: int, joined: tuple[Org, ...] = (),
                 removed: tuple[str, ...] = (), **options: object) -> LocalConsortium:  # fmt: skip
        """A consortium laid out by ``plan``: every org on its own host, with its own state
        directory and CA. ``joined``: orgs admitted after the channel was created; ``removed``:
        orgs removed from it since."""
        ordering = {k: options.pop(k) for k in ("consensus", "orderer_count", "added_orderers") if k in options}
        topology = Topology(port_base=port_base, hosts=plan.addresses(), joined=joined, removed=removed,
                            **ordering)  # type: ignore[arg-type]  # fmt: skip
        return cls(state, topology, hosts=plan, **options)  # type: ignore[arg-type]

    @classmethod
    def open(cls, state_dir: Path | None = None, progress: Progress | None = None) -> LocalConsortium:
        """Open the network at ``state_dir``, keeping the ports (and hosts) it was created with."""
        state = StateDir(state_dir or default_state_dir())
        manifest = state.read_manifest()
        ordering = {k: manifest[k] for k in ("consensus", "orderer_count", "added_orderers") if k in manifest}
        options = {
            "test_contracts": bool(manifest.get("test_contracts", False)),
            # what the network was created with (older manifests: what it started)
            "with_ipfs": bool(manifest.get("with_ipfs", manifest.get("ipfs_peers", True))),
            "with_aries": bool(manifest.get("with_aries", manifest.get("aries", True))),
        }
        if manifest.get("hosts"):
            entries = manifest.get("joined", [])
            joined = tuple(Org(j["name"], j["msp_id"], j["domain"], j["kind"]) for j in entries)
            plan = HostPlan.from_json(manifest["hosts"])
            net = cls.on_hosts(state, plan, manifest["port_base"], joined, tuple(manifest.get("removed", [])),
                               progress=progress, **ordering, **options)  # fmt: skip
            net.pending = frozenset(j["name"] for j in entries if j["status"] != "joined")
            return net
        if "port_base" in manifest:
            sims = manifest.get("simulated_hospitals", 0)
            legacy = manifest.get("layout", 1) < LAYOUT
            topology = Topology(port_base=manifest["port_base"], simulated_hospitals=sims, legacy_service_slots=legacy,
                                removed=tuple(manifest.get("removed", [])), **ordering)  # fmt: skip
        else:
            topology = Topology.from_env()
        return cls(state, topology, progress, **options)  # type: ignore[arg-type]

    def is_pending(self, org: Org) -> bool:
        """Whether ``org`` is being admitted: its identities exist, its peer is not on the channel."""
        return org.name in self.pending

    @property
    def member_peer_orgs(self) -> list[Org]:
        """Orgs with a peer on the channel (founders and orgs that have joined)."""
        return [o for o in self.topology.peer_orgs if not self.is_pending(o)]

    def state_of(self, owner: Org | str) -> StateDir:
        """The state directory of ``owner`` (an org, or the patients): its own on hosts."""
        return self.sites.state(owner)

    # --- lifecycle of the whole network -----------------------------------------------------
    def up(self) -> None:
        started = time.monotonic()
        manifest = self.state.read_manifest()
        if manifest.get("ready"):
            self.progress(f"network exists in {self.state.root}; starting stopped nodes")
            self._hosts_up()
            self._start_all(manifest)
            self.wait_ordering()
            self.wait_endorsable()
            self.progress(f"network up in {time.monotonic() - started:.1f}s")
            return
        if self.state.root.exists() and any(self.state.root.iterdir()):
            self.progress("found an unfinished network; removing it and starting over")
            self.down(purge=True)
        if self.hosts is None:  # hosts are made afresh: nothing else can hold their ports
            readiness.check_ports_free(self.inventory.ports(self.with_ipfs, self.with_aries))
        self._hosts_up()
        self._make_keys()
        self.progress("rendering configs and the channel genesis block (configtxgen, by the orderer org)")
        orderer_site = self.state_of(ORDERER_ORG)
        configtx = render_configtx(self.topology, orderer_site, self.batch_timeout, self.batch_max_messages)
        for site in self.exchange.site_states():
            render_core_yaml(site)
            copy_orderer_yaml(site)
        channel.create_genesis_block(orderer_site, str(configtx.parent))
        self.exchange.hand_out(orderer_site.genesis_block, "genesis.block", lambda site: site.genesis_block)
        manifest = {
            "port_base": self.topology.port_base,
            "simulated_hospitals": self.topology.simulated_hospitals,
            "channel": CHANNEL,
            "fabric_release": fabric_release(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ready": False,
            "test_contracts": self.test_contracts,
            "batch_timeout": self.batch_timeout,
            "batch_max_messages": self.batch_max_messages,
            "hosts": self.hosts.to_json() if self.hosts else None,
            "consensus": self.topology.consensus,
            "orderer_count": self.topology.orderer_count,
            "layout": LAYOUT,
            "with_ipfs": self.with_ipfs,
            "with_aries": self.with_aries,
        }
        self.state.write_manifest(manifest)

        kind = "Raft" if self.topology.consensus == "etcdraft" else "SmartBFT"
        self.progress(f"starting {len(self.topology.orderers)} {kind} orderers")
        self._launch_and_wait([orderer_spec(n, self.state_of(n.org)) for n in self.topology.orderers])
        self.progress(f"joining orderers to channel '{CHANNEL}' (osnadmin)")
        for node in self.topology.orderers:
            channel.join_orderer(orderer_site, node)

        self.progress(f"starting {len(self.topology.peers)} peers")
        self._launch_and_wait([peer_spec(n, self.state_of(n.org)) for n in self.topology.peers])
        self.progress("joining peers to the channel")
        for org in self.topology.peer_orgs:
            channel.join_peer(self.topology, self.state_of(org), org)

        self.progress("packaging the chaincode as a service, one package per org")
        package_ids = self.chaincode.package_all(self.topology.peer_orgs, CHAINCODE_VERSION)
        manifest["chaincode"] = {
            "name": CHAINCODE_NAME,
            "version": CHAINCODE_VERSION,
            "sequence": CHAINCODE_SEQUENCE,
            "package_ids": package_ids,
            "generation": 0,
        }
        self.state.write_manifest(manifest)
        for org in self.topology.peer_orgs:
            self.launch(self.chaincode.spec(org, package_ids[org.msp_id]))
        self.progress("installing the chaincode on every peer")
        for org in self.topology.peer_orgs:
            package = self.chaincode.package_path(org, CHAINCODE_VERSION)
            lifecycle.install(self.topology, self.state_of(org), org, str(package))
        self.progress("approving the chaincode definition (every org)")
        for org in self.topology.peer_orgs:
            lifecycle.approve(self.topology, self.state_of(org), org, package_ids[org.msp_id], CHAINCODE_VERSION,
                              CHAINCODE_SEQUENCE)  # fmt: skip
        self.progress("committing the chaincode definition (MAJORITY endorsement)")
        lifecycle.commit(self.topology, self.state_of(self.topology.hospitals[0]), CHAINCODE_VERSION,
                         CHAINCODE_SEQUENCE)  # fmt: skip
        for org in self.topology.peer_orgs:
            self.wait_healthy(self.chaincode.spec(org, package_ids[org.msp_id]))
        if self.with_ipfs:
            self._start_ipfs(manifest)
        if self.with_aries:
            self.progress("starting ACA-Py agents (patients + one per hospital) and connecting them")
            manifest["aries"] = True
            self.state.write_manifest(manifest)
            specs = [aries.aries_spec(self.topology, self.state_of(w), w) for w in aries.all_agents(self.topology)]
            self._launch_and_wait(specs, timeout=90.0)
            aries.write_connections(self.state_of(PATIENTS), aries.connect_all(self.topology, self.state_of))
        self.progress("waiting until every org can gather endorsements (gossip + discovery)")
        self.wait_endorsable()
        manifest["ready"] = True
        self.state.write_manifest(manifest)
        self.progress(f"network up in {time.monotonic() - started:.1f}s")

    def _hosts_up(self) -> None:
        """On hosts: make the lab (a namespace host per member, the workstation's leg)."""
        if self.hosts is None:
            return
        names = [h.name for h in self.hosts.hosts()]
        self.progress(f"making {len(names)} hosts on lab {self.hosts.lab} ({self.hosts.subnet}): {', '.join(names)}")
        self.hosts.hostlab.up(names, workstation=True)

    def _make_keys(self) -> None:
        """One machine: cryptogen makes every org's keys. On hosts: each org's own CA does."""
        if not self.sites.separate:
            self.progress("generating keys and certificates (cryptogen)")
            crypto_config = render_crypto_config(self.topology, self.state, CRYPTO_CONFIG)
            run_tool(
                [fabric_bin("cryptogen"), "generate", f"--config={crypto_config}", f"--output={self.state.crypto}"],
                what="cryptogen",
            )
            return
        self.progress("each org starts its own CA and enrolls its admin, its agent's client and its nodes")
        cas = [org_ca(self.topology, self.state_of(o), o) for o in self.topology.orgs]
        self._launch_and_wait([ca.spec() for ca in cas])
        for ca in cas:
            enroll_org(ca, self.topology, self.state_of(ca.org))
        self.progress("orgs hand each other their org definitions (certificates and endpoints, no keys)")
        for org in self.topology.orgs:
            self.exchange.export(org)
        self.exchange.everyone_takes_everyone(self.topology.orgs)

    def _launch_and_wait(self, specs: list[LaunchSpec], timeout: float = 60.0) -> None:
        for spec in specs:
            self.launch(spec)
        for spec in specs:
            self.wait_healthy(spec, timeout)

    def wait_healthy(self, spec: LaunchSpec, timeout: float = 60.0) -> None:
        readiness.wait_healthy(self.state_of(spec.owner), spec, timeout)

    def _start_ipfs(self, manifest: dict) -> None:
        self.progress("starting one Kubo (IPFS) daemon per hospital, peered with the other hospitals")
        manifest["ipfs_peers"] = ipfs_nodes.init_repos(self.topology, self.state_of)
        self.state.write_manifest(manifest)
        specs = [ipfs_nodes.ipfs_spec(self.topology, self.state_of(o), o) for o in ipfs_nodes.ipfs_orgs(self.topology)]
        self._launch_and_wait(specs)

    def up_storage_only(self) -> None:
        """Start only the hospitals' Kubo daemons, no ledger: for storage benchmarks in a fresh
        state directory (``down`` stops them)."""
        if self.state.root.exists() and any(self.state.root.iterdir()):
            raise ToolError(f"{self.state.root} is not empty; storage-only nodes need a fresh state directory")
        readiness.check_ports_free(self.inventory.ports(True, False))
        self._start_ipfs({"port_base": self.topology.port_base, "storage_only": True})

    def ordering_leader(self) -> str | None:
        """The orderer that leads the channel's consensus now, or None (network/readiness.py)."""
        return readiness.ordering_leader(self.topology)

    def wait_ordering(self, timeout: float = 60.0) -> str:
        """Block until the channel's ordering service has a leader; returns the leader's name."""
        return readiness.wait_ordering(self.topology, timeout)

    def wait_endorsable(self, timeout: float = 90.0) -> None:
        """Block until each org's gateway can gather endorsements for the chaincode."""
        readiness.wait_endorsable(self.topology, self.gateway, timeout, self.member_peer_orgs)

    def down(self, purge: bool = False) -> list[str]:
        """Stop every node (chaincode services first, CAs last) and, on hosts, remove the
        hosts; with ``purge`` delete all state."""
        stopped = []
        for site, name in self.inventory.stoppable():
            if process.stop(site.pid(name)):
                stopped.append(name)
        if self.hosts is not None:
            self.hosts.hostlab.down()
        if purge and self.state.root.exists():
            shutil.rmtree(self.state.root)
        return stopped

    def status(self) -> list[NodeStatus]:
        manifest = self.state.read_manifest()
        out = []
        for spec, kind, org in self.inventory.specs(manifest):
            record = process.read_record(self.state_of(spec.owner).pid(spec.name))
            running = process.alive(record)
            healthy = running and readiness.is_healthy(spec)
            out.append(NodeStatus(spec.name, kind, org, spec.port, record.pid if record else None, running, healthy,
                                  spec.host))  # fmt: skip
        return out

    def restart(self, name: str) -> None:
        """Stop (if running) and start one node, then wait until it is healthy."""
        spec = self._spec_by_name(name)
        process.stop(self.state_of(spec.owner).pid(spec.name))
        self.launch(spec)
        self.wait_healthy(spec)

    def kill(self, name: str) -> bool:
        """SIGKILL one node, as a crash would (tests use this)."""
        spec = self._spec_by_name(name)
        return process.kill(self.state_of(spec.owner).pid(spec.name))

    def log_path(self, name: str) -> Path:
        spec = self._spec_by_name(name)
        return self.state_of(spec.owner).log(spec.name)

    def pid_file(self, org: Org | str, name: str) -> Path:
        """Where the pid of ``org``'s node ``name`` is recorded."""
        return self.state_of(org).pid(name)

    # --- hosts --------------------------------------------------------------------------------
    def cut(self, org_name: str) -> None:
        """Pull ``org_name``'s host's cable (hosts only): its nodes go silent for the others."""
        self._hostlab_required().cut(self.hosts.host(self._member(org_name)))  # type: ignore[union-attr]

    def restore(self, org_name: str) -> None:
        """Plug ``org_name``'s host back in."""
        self._hostlab_required().restore(self.hosts.host(self._member(org_name)))  # type: ignore[union-attr]

    def _member(self, name: str) -> str:
        return ORDERER_ORG.name if name.lower() in ("orderers", ORDERER_ORG.name.lower()) else self.org(name).name

    def _hostlab_required(self) -> HostLab:
        if self.hosts is None:
            raise ToolError("this network runs on one machine; only a network on hosts has cables to pull")
        return self.hosts.hostlab

    # --- helpers ----------------------------------------------------------------------------
    def launch_specs(self) -> list[LaunchSpec]:
        """How every process of the network is launched (the manifest says which exist)."""
        return [spec for spec, _, _ in self.inventory.specs(self.state.read_manifest())]

    def _spec_by_name(self, name: str) -> LaunchSpec:
        for spec, _, _ in self.inventory.specs(self.state.read_manifest()):
            if spec.name == name or spec.name.split(".")[0] + "." + spec.name.split(".")[-1] == name:
                return spec
        known = ", ".join(s.name for s, _, _ in self.inventory.specs(self.state.read_manifest()))
        raise KeyError(f"unknown node {name!r}; known: {known}")

    def _start_all(self, manifest: dict) -> None:
        specs = self.inventory.specs(manifest)
        for kind in ("ca", "orderer", "peer", "chaincode", "ipfs", "aries"):
            batch = [s for s, k, _ in specs if k == kind]
            for spec in batch:
                if not process.alive(process.read_record(self.state_of(spec.owner).pid(spec.name))):
                    self.launch(spec)
            for spec in batch:
                self.wait_healthy(spec)

    def launch(self, spec: LaunchSpec) -> None:
        """Start ``spec``'s process on its owner's host, its files in its owner's state directory."""
        site = self.state_of(spec.owner)
        site.data(spec.name).mkdir(parents=True, exist_ok=True)
        process.start(spec.name, spec.argv, spec.env, site.log(spec.name), site.pid(spec.name),
                      netns=self.sites.netns(spec.host))  # fmt: skip

    def org(self, name: str) -> Org:
        return self.topology.org(name)

    def aries(self, who: str) -> AcaPy:
        """The admin client of ``who``'s ACA-Py agent: a hospital org name, or "patients"."""
        target = aries.PATIENTS if who == aries.PATIENTS else self.topology.org(who)
        return aries.client(self.topology, self.state_of(target), target)

    def aries_connections(self) -> dict[str, str]:
        """The patient agent's connection ids: MSP ID -> connection id."""
        return aries.read_connections(self.state_of(PATIENTS))

    def aries_connection(self, org_name: str) -> str:
        """The patient agent's connection id to ``org_name``'s agent."""
        return self.aries_connections()[self.topology.org(org_name).msp_id]

    def ipfs_api(self, org_name: str) -> str:
        """Base URL of ``org_name``'s Kubo RPC API (on the org's host)."""
        return ipfs_nodes.api_address(self.topology, self.topology.org(org_name))

    def gateway(self, org_name: str, user: str = "Admin", **kw: object) -> Gateway:
        """A Gateway client for ``user`` of ``org_name`` (Admin or User1), on that org's peer."""
        org = self.topology.org(org_name)
        peer = self.topology.gateway_peer_of(org)
        site = self.state_of(org)
        return Gateway.connect(
            peer.address,
            site.node_dir(peer) / "tls" / "ca.crt",
            site.user_dir(org, user) / "msp",
            org.msp_id,
            **kw,  # type: ignore[arg-type]
        )

    @contextmanager
    def ledger(self, org_name: str, user: str = "Admin") -> Iterator[LedgerClient]:
        """The chaincode as ``user`` of ``org_name`` sees it, on that org's gateway peer; the
        gateway closes on leaving the block."""
        with self.gateway(org_name, user) as gw:
            yield ledger_client(gw)
