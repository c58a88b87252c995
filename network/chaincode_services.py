"""Each org's chaincode service: its package, its TLS pairs, how it is launched.

With chaincode as a service every org runs the chaincode itself; its package holds only the
connection to its own service (address, TLS), so each org builds its own package in its own
state directory and gets its own package id, which it checks against Fabric's own
(``peer lifecycle chaincode calculatepackageid``) before installing. The service's TLS pair and the peer's client
pair come from the org's own CA on hosts, from cryptogen's TLS CA key on one machine. An
upgrade runs two generations side by side (network/topology.py gives them different ports).
"""

from __future__ import annotations

from pathlib import Path

from network.binaries import ToolError, fabric_bin, run_tool
from network.chaincode_package import build_package, issue_tls_pair
from network.nodes import LaunchSpec, chaincode_spec, chaincode_tls_dir
from network.org_keys import chaincode_tls, org_ca
from network.sites import Sites
from network.topology import CHAINCODE_NAME, Org, Topology


class ChaincodeServices:
    """The chaincode services of ``topology``'s orgs, their files where ``sites`` keeps each org's."""

    def __init__(self, topology: Topology, sites: Sites, test_contracts: bool = False) -> None:
        self.topology = topology
        self.sites = sites
        self.test_contracts = test_contracts

    def spec(self, org: Org, package_id: str, generation: int = 0) -> LaunchSpec:
        """How ``org``'s service of ``generation`` runs the package ``package_id``."""
        site = self.sites.state(org)
        return chaincode_spec(self.topology, org, site, package_id, self.test_contracts, generation)

    def package_path(self, org: Org, version: str) -> Path:
        return self.sites.state(org).chaincode_dir(org) / f"{CHAINCODE_NAME}_{version}.tar.gz"

    def package(self, org: Org, version: str, generation: int = 0) -> str:
        """Build ``org``'s package of ``version`` pointing at its ``generation`` service; returns
        its package id."""
        site = self.sites.state(org)
        tls = chaincode_tls_dir(site, org, generation)
        ca_cert = site.tls_ca_cert(org)
        host = self.topology.host_of(org)
        if self.sites.separate:
            chaincode_tls(org_ca(self.topology, site, org), tls, host)
        else:
            issue_tls_pair(ca_cert, site.tls_ca_key(org), f"chaincode.{org.domain}", tls, "server", host)
            issue_tls_pair(ca_cert, site.tls_ca_key(org), f"peer-client.{org.domain}", tls, "client")
        connection = {
            "address": f"{host}:{self.topology.chaincode_port(org, generation)}",
            "dial_timeout": "10s",
            "tls_required": True,
            "client_auth_required": True,
            "root_cert": ca_cert.read_text(),
            "client_cert": (tls / "client.crt").read_text(),
            "client_key": (tls / "client.key").read_text(),
        }
        package = build_package(site.chaincode_dir(org), f"{CHAINCODE_NAME}_{version}", connection)
        fabric_id = run_tool(
            [fabric_bin("peer"), "lifecycle", "chaincode", "calculatepackageid", str(package.path)],
            env={"FABRIC_CFG_PATH": str(site.peer_config)},
            what="calculatepackageid",
        ).strip()
        if fabric_id.splitlines()[-1] != package.package_id:  # the org checks its package as Fabric will name it
            raise ToolError(f"{org.name}'s package {package.path} is {fabric_id!r} to Fabric, not {package.package_id}")
        return package.package_id

    def package_all(self, orgs: list[Org], version: str, generation: int = 0) -> dict[str, str]:
        """Every org of ``orgs`` builds its package: MSP ID -> package id."""
        return {org.msp_id: self.package(org, version, generation) for org in orgs}
