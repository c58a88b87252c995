"""Bringing the local consortium up and down: the consortium admin's view of the network.

``up`` is idempotent: on a fresh state directory it generates keys, renders configs, creates
the channel, starts every node and deploys the chaincode; on an existing one it just starts
whatever is not running, and the ledgers carry on where they stopped.
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
from network.chaincode_package import build_package, issue_tls_pair
from network.configs import copy_orderer_yaml, render_configtx, render_core_yaml, render_crypto_config
from network.nodes import LaunchSpec, chaincode_spec, chaincode_tls_dir, orderer_spec, peer_spec
from network.state import StateDir, default_state_dir
from network.topology import CHAINCODE_NAME, CHANNEL, Org, Topology

CRYPTO_CONFIG = Path(__file__).resolve().parent.parent / "crypto-config" / "crypto-config.yaml"
CHAINCODE_VERSION = "1.0"
CHAINCODE_SEQUENCE = 1

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
    ) -> None:
        self.state = state
        self.topology = topology
        self.progress = progress or (lambda _msg: None)
        self.batch_timeout = batch_timeout
        self.batch_max_messages = batch_max_messages
        self.test_contracts = test_contracts
        self.with_ipfs = with_ipfs
        self.with_aries = with_aries

    @classmethod
    def open(cls, state_dir: Path | None = None, progress: Progress | None = None) -> LocalConsortium:
        """Open the network at ``state_dir``, keeping the ports it was created with."""
        state = StateDir(state_dir or default_state_dir())
        manifest = state.read_manifest()
        if "port_base" in manifest:
            topology = Topology(
                port_base=manifest["port_base"], simulated_hospitals=manifest.get("simulated_hospitals", 0)
            )
        else:
            topology = Topology.from_env()
        return cls(
            state,
            topology,
            progress,
            test_contracts=bool(manifest.get("test_contracts", False)),
            with_ipfs=bool(manifest.get("ipfs_peers", True)),
            with_aries=bool(manifest.get("aries", True)),
        )

    # --- lifecycle of the whole network -----------------------------------------------------
    def up(self) -> None:
        started = time.monotonic()
        manifest = self.state.read_manifest()
        if manifest.get("ready"):
            self.progress(f"network exists in {self.state.root}; starting stopped nodes")
            self._start_all(manifest)
            self.wait_ordering()
            self.wait_endorsable()
            self.progress(f"network up in {time.monotonic() - started:.1f}s")
            return
        if self.state.root.exists() and any(self.state.root.iterdir()):
            self.progress("found an unfinished network; removing it and starting over")
            self.down(purge=True)
        self._check_ports_free()
        self.progress("generating keys and certificates (cryptogen)")
        crypto_config = render_crypto_config(self.topology, self.state, CRYPTO_CONFIG)
        run_tool(
            [fabric_bin("cryptogen"), "generate", f"--config={crypto_config}", f"--output={self.state.crypto}"],
            what="cryptogen",
        )
        self.progress("rendering configs and the channel genesis block (configtxgen)")
        configtx = render_configtx(self.topology, self.state, self.batch_timeout, self.batch_max_messages)
        render_core_yaml(self.state)
        copy_orderer_yaml(self.state)
        channel.create_genesis_block(self.state, str(configtx.parent))
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
        }
        self.state.write_manifest(manifest)

        self.progress(f"starting {len(self.topology.orderers)} Raft orderers")
        for node in self.topology.orderers:
            self.launch(orderer_spec(node, self.state))
        for node in self.topology.orderers:
            readiness.wait_healthy(self.state, orderer_spec(node, self.state))
        self.progress(f"joining orderers to channel '{CHANNEL}' (osnadmin)")
        for node in self.topology.orderers:
            channel.join_orderer(self.state, node)

        self.progress(f"starting {len(self.topology.peers)} peers")
        for node in self.topology.peers:
            self.launch(peer_spec(node, self.state))
        for node in self.topology.peers:
            readiness.wait_healthy(self.state, peer_spec(node, self.state))
        self.progress("joining peers to the channel")
        for org in self.topology.peer_orgs:
            channel.join_peer(self.topology, self.state, org)

        self.progress("packaging the chaincode as a service, one package per org")
        package_ids = self.package_chaincode(CHAINCODE_VERSION)
        manifest["chaincode"] = {
            "name": CHAINCODE_NAME,
            "version": CHAINCODE_VERSION,
            "sequence": CHAINCODE_SEQUENCE,
            "package_ids": package_ids,
            "generation": 0,
        }
        self.state.write_manifest(manifest)
        for org in self.topology.peer_orgs:
            self.launch(self.chaincode_service_spec(org, package_ids[org.msp_id]))
        self.progress("installing the chaincode on every peer")
        for org in self.topology.peer_orgs:
            lifecycle.install(self.topology, self.state, org, str(self.package_path(org, CHAINCODE_VERSION)))
        self.progress("approving the chaincode definition (every org)")
        for org in self.topology.peer_orgs:
            lifecycle.approve(
                self.topology, self.state, org, package_ids[org.msp_id], CHAINCODE_VERSION, CHAINCODE_SEQUENCE
            )
        self.progress("committing the chaincode definition (MAJORITY endorsement)")
        lifecycle.commit(self.topology, self.state, CHAINCODE_VERSION, CHAINCODE_SEQUENCE)
        for org in self.topology.peer_orgs:
            readiness.wait_healthy(self.state, self.chaincode_service_spec(org, package_ids[org.msp_id]))
        if self.with_ipfs:
            self._start_ipfs(manifest)
        if self.with_aries:
            self.progress("starting ACA-Py agents (patients + one per hospital) and connecting them")
            manifest["aries"] = True
            self.state.write_manifest(manifest)
            specs = [aries.aries_spec(self.topology, self.state, w) for w in aries.all_agents(self.topology)]
            for spec in specs:
                self.launch(spec)
            for spec in specs:
                readiness.wait_healthy(self.state, spec, timeout=90.0)
            aries.write_connections(self.state, aries.connect_all(self.topology, self.state))
        self.progress("waiting until every org can gather endorsements (gossip + discovery)")
        self.wait_endorsable()
        manifest["ready"] = True
        self.state.write_manifest(manifest)
        self.progress(f"network up in {time.monotonic() - started:.1f}s")

    def _start_ipfs(self, manifest: dict) -> None:
        self.progress("starting one Kubo (IPFS) daemon per hospital, peered on loopback")
        manifest["ipfs_peers"] = ipfs_nodes.init_repos(self.topology, self.state)
        self.state.write_manifest(manifest)
        specs = [ipfs_nodes.ipfs_spec(self.topology, self.state, o) for o in ipfs_nodes.ipfs_orgs(self.topology)]
        for spec in specs:
            self.launch(spec)
        for spec in specs:
            readiness.wait_healthy(self.state, spec)

    def up_storage_only(self) -> None:
        """Start only the hospitals' Kubo daemons, no ledger: for storage benchmarks in a fresh
        state directory (``down`` stops them)."""
        if self.state.root.exists() and any(self.state.root.iterdir()):
            raise ToolError(f"{self.state.root} is not empty; storage-only nodes need a fresh state directory")
        self._check_ports_free()
        self._start_ipfs({"port_base": self.topology.port_base, "storage_only": True})

    def raft_leader(self) -> str | None:
        """The orderer that leads the channel's Raft cluster now, or None (network/readiness.py)."""
        return readiness.raft_leader(self.topology)

    def wait_ordering(self, timeout: float = 60.0) -> str:
        """Block until the channel's Raft cluster has a leader; returns the leader's name."""
        return readiness.wait_ordering(self.topology, timeout)

    def wait_endorsable(self, timeout: float = 90.0) -> None:
        """Block until each org's gateway can gather endorsements for the chaincode."""
        readiness.wait_endorsable(self.topology, self.gateway, timeout)

    def down(self, purge: bool = False) -> list[str]:
        """Stop every node (chaincode services first); with ``purge`` delete all state."""
        stopped = []
        names = [self.topology.chaincode_service_name(o, g) for o in self.topology.peer_orgs for g in (0, 1)]
        names += [ipfs_nodes.node_name(o) for o in ipfs_nodes.ipfs_orgs(self.topology)]
        names += [aries.node_name(w) for w in aries.all_agents(self.topology)]
        names += [n.name for n in self.topology.peers] + [n.name for n in self.topology.orderers]
        for name in names:
            if process.stop(self.state.pid(name)):
                stopped.append(name)
        if purge and self.state.root.exists():
            shutil.rmtree(self.state.root)
        return stopped

    def status(self) -> list[NodeStatus]:
        manifest = self.state.read_manifest()
        out = []
        for spec, kind, org in self._all_specs(manifest):
            record = process.read_record(self.state.pid(spec.name))
            running = process.alive(record)
            healthy = running and readiness.is_healthy(spec)
            out.append(NodeStatus(spec.name, kind, org, spec.port, record.pid if record else None, running, healthy))
        return out

    def restart(self, name: str) -> None:
        """Stop (if running) and start one node, then wait until it is healthy."""
        spec = self._spec_by_name(name)
        process.stop(self.state.pid(spec.name))
        self.launch(spec)
        readiness.wait_healthy(self.state, spec)

    def kill(self, name: str) -> bool:
        """SIGKILL one node, as a crash would (tests use this)."""
        return process.kill(self.state.pid(self._spec_by_name(name).name))

    def log_path(self, name: str) -> Path:
        return self.state.log(self._spec_by_name(name).name)

    # --- helpers ----------------------------------------------------------------------------
    def chaincode_service_spec(self, org: Org, package_id: str, generation: int = 0) -> LaunchSpec:
        return chaincode_spec(self.topology, org, self.state, package_id, self.test_contracts, generation)

    def package_path(self, org: Org, version: str) -> Path:
        return self.state.chaincode_dir(org) / f"{CHAINCODE_NAME}_{version}.tar.gz"

    def package_chaincode(self, version: str, generation: int = 0) -> dict[str, str]:
        """Each org's ccaas package of ``version``, pointing at that generation's service."""
        ids = {}
        for org in self.topology.peer_orgs:
            tls = chaincode_tls_dir(self.state, org, generation)
            ca_cert, ca_key = self.state.tls_ca_cert(org), self.state.tls_ca_key(org)
            host = self.topology.host_of(org)
            issue_tls_pair(ca_cert, ca_key, f"chaincode.{org.domain}", tls, "server", host)
            issue_tls_pair(ca_cert, ca_key, f"peer-client.{org.domain}", tls, "client")
            connection = {
                "address": f"{host}:{self.topology.chaincode_port(org, generation)}",
                "dial_timeout": "10s",
                "tls_required": True,
                "client_auth_required": True,
                "root_cert": ca_cert.read_text(),
                "client_cert": (tls / "client.crt").read_text(),
                "client_key": (tls / "client.key").read_text(),
            }
            package = build_package(self.state.chaincode_dir(org), f"{CHAINCODE_NAME}_{version}", connection)
            ids[org.msp_id] = package.package_id
        return ids

    def _all_specs(self, manifest: dict) -> list[tuple[LaunchSpec, str, str]]:
        specs = [(orderer_spec(n, self.state), "orderer", n.org.name) for n in self.topology.orderers]
        specs += [(peer_spec(n, self.state), "peer", n.org.name) for n in self.topology.peers]
        package_ids = manifest.get("chaincode", {}).get("package_ids", {})
        generation = manifest.get("chaincode", {}).get("generation", 0)
        for org in self.topology.peer_orgs:
            if org.msp_id in package_ids:
                spec = self.chaincode_service_spec(org, package_ids[org.msp_id], generation)
                specs.append((spec, "chaincode", org.name))
        if manifest.get("ipfs_peers"):
            for org in ipfs_nodes.ipfs_orgs(self.topology):
                specs.append((ipfs_nodes.ipfs_spec(self.topology, self.state, org), "ipfs", org.name))
        if manifest.get("aries"):
            for who in aries.all_agents(self.topology):
                owner = "Patients" if who == aries.PATIENTS else who.name  # type: ignore[union-attr]
                specs.append((aries.aries_spec(self.topology, self.state, who), "aries", owner))
        return specs

    def _spec_by_name(self, name: str) -> LaunchSpec:
        for spec, _, _ in self._all_specs(self.state.read_manifest()):
            if spec.name == name or spec.name.split(".")[0] + "." + spec.name.split(".")[-1] == name:
                return spec
        known = ", ".join(s.name for s, _, _ in self._all_specs(self.state.read_manifest()))
        raise KeyError(f"unknown node {name!r}; known: {known}")

    def _start_all(self, manifest: dict) -> None:
        specs = self._all_specs(manifest)
        for kind in ("orderer", "peer", "chaincode", "ipfs", "aries"):
            batch = [s for s, k, _ in specs if k == kind]
            for spec in batch:
                if not process.alive(process.read_record(self.state.pid(spec.name))):
                    self.launch(spec)
            for spec in batch:
                readiness.wait_healthy(self.state, spec)

    def launch(self, spec: LaunchSpec) -> None:
        self.state.data(spec.name).mkdir(parents=True, exist_ok=True)
        process.start(spec.name, spec.argv, spec.env, self.state.log(spec.name), self.state.pid(spec.name))

    def _check_ports_free(self) -> None:
        """Every port this network would listen on must be free (see readiness.check_ports_free)."""
        wanted = [(spec.name, spec.port) for spec, _, _ in self._all_specs({})]
        if self.with_ipfs:
            for org in ipfs_nodes.ipfs_orgs(self.topology):
                wanted += [(ipfs_nodes.node_name(org), p) for p in ipfs_nodes.ports(self.topology, org)]
        if self.with_aries:
            for who in aries.all_agents(self.topology):
                wanted += [(aries.node_name(who), p) for p in aries.ports(self.topology, who)]
        readiness.check_ports_free(wanted)

    def org(self, name: str) -> Org:
        return self.topology.org(name)

    def aries(self, who: str) -> AcaPy:
        """The admin client of ``who``'s ACA-Py agent: a hospital org name, or "patients"."""
        target = aries.PATIENTS if who == aries.PATIENTS else self.topology.org(who)
        return aries.client(self.topology, self.state, target)

    def aries_connection(self, org_name: str) -> str:
        """The patient agent's connection id to ``org_name``'s agent."""
        return aries.read_connections(self.state)[self.topology.org(org_name).msp_id]

    def ipfs_api(self, org_name: str) -> str:
        """Base URL of ``org_name``'s Kubo RPC API (loopback)."""
        return ipfs_nodes.api_address(self.topology, self.topology.org(org_name))

    def gateway(self, org_name: str, user: str = "Admin", **kw: object) -> Gateway:
        """A Gateway client for ``user`` of ``org_name`` (Admin or User1), on that org's peer."""
        org = self.topology.org(org_name)
        peer = self.topology.gateway_peer_of(org)
        return Gateway.connect(
            peer.address,
            self.state.node_dir(peer) / "tls" / "ca.crt",
            self.state.user_dir(org, user) / "msp",
            org.msp_id,
            **kw,  # type: ignore[arg-type]
        )

    @contextmanager
    def ledger(self, org_name: str, user: str = "Admin") -> Iterator[LedgerClient]:
        """The chaincode as ``user`` of ``org_name`` sees it, on that org's gateway peer; the
        gateway closes on leaving the block."""
        with self.gateway(org_name, user) as gw:
            yield ledger_client(gw)
