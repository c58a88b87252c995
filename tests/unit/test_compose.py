"""docker-compose.fabric.yml is the hosts topology as Docker services: the committed file is
exactly what the topology code generates (so the two cannot drift), every node, CA, chaincode
service and Kubo daemon of the topology is a service of its org's profile on its org's address
and ports, each mounts only its own org's directory, and the Dockerfile it builds from copies
what exists. No Docker engine runs here: the file is not started by any test."""

from __future__ import annotations

import re

import yaml

from network.compose import DEFAULT_FILE, MOUNT, render
from network.host_plan import consortium_plan
from network.ipfs_nodes import ipfs_orgs, ports
from network.state import REPO_ROOT
from network.topology import ORDERER_ORG, Topology

PLAN = consortium_plan("fl", "10.77.0.0/24", [ORDERER_ORG, *Topology().application_orgs])


def test_the_committed_file_is_what_the_topology_generates() -> None:
    assert DEFAULT_FILE.read_text() == render(PLAN, 7100), "regenerate it: fedledger network compose"


def test_every_process_of_the_topology_is_a_service_of_its_org_on_its_address() -> None:
    doc = yaml.safe_load(DEFAULT_FILE.read_text())
    services = doc["services"]
    topo = Topology(port_base=7100, hosts=PLAN.addresses())
    expected = {f"ca-{o.short}": o for o in topo.orgs} | {n.name: n.org for n in topo.nodes}
    expected |= {f"chaincode.{o.short}": o for o in topo.peer_orgs} | {f"ipfs.{o.short}": o for o in ipfs_orgs(topo)}
    assert set(services) == set(expected)
    for name, org in expected.items():
        service = services[name]
        assert service["profiles"] == [org.short] and service["network_mode"] == "host"
        assert service["volumes"] == [f"./orgs/{org.name.lower()}:{MOUNT}"]
        text = yaml.safe_dump(service["environment"])
        addresses = set(re.findall(r"\b10\.77\.0\.\d+\b", text))
        assert addresses <= {topo.host_of(org)}, f"{name} names another org's address: {addresses}"
        for value in service["environment"].values():
            assert not value.startswith("/") or value.startswith((MOUNT, "/etc/hyperledger/fabric")), (name, value)
    for node in topo.nodes:
        env = services[node.name]["environment"]
        listen = env.get("CORE_PEER_LISTENADDRESS") or f"{env['ORDERER_GENERAL_LISTENADDRESS']}:" + env[
            "ORDERER_GENERAL_LISTENPORT"]  # fmt: skip
        assert listen == node.address
    for org in topo.peer_orgs:
        env = services[f"chaincode.{org.short}"]["environment"]
        assert env["CHAINCODE_SERVER_ADDRESS"] == f"{topo.host_of(org)}:{topo.chaincode_port(org)}"
        assert env["CHAINCODE_ID"] == f"${{{org.name.upper()}_CHAINCODE_ID}}"
    for org in ipfs_orgs(topo):
        assert services[f"ipfs.{org.short}"]["environment"]["IPFS_PATH"] == f"{MOUNT}/ipfs/{org.short}"
        assert ports(topo, org)[0] == topo.peer_of(org).slot_base + 6
    for org in topo.orgs:
        ca = services[f"ca-{org.short}"]
        assert ca["environment"]["FABRIC_CA_SERVER_BOOT"] == f"registrar:${{{org.name.upper()}_CA_REGISTRAR_SECRET}}"
        assert ca["command"] == ["fabric-ca-server", "start"]


def test_the_dockerfile_copies_what_exists_and_has_the_targets_compose_builds() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (REPO_ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the checkout"
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    services = yaml.safe_load(DEFAULT_FILE.read_text())["services"].values()
    built = {s["build"]["target"] for s in services if "build" in s}
    assert built == {"chaincode"} and built <= targets and "agent" in targets
