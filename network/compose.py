"""docker-compose.fabric.yml: the consortium on hosts, for machines that run Docker.

The same launch specs that start the namespace hosts' processes (network/nodes.py,
network/org_ca.py, network/ipfs_nodes.py, network/consortium.py) are turned into Compose
services, so the two cannot drift: one service per process, named as the process is, with
the same environment (listen addresses, ports, MSP IDs, TLS files) and the same command.
Differences, each deliberate:

* images: Hyperledger's ``fabric-orderer``, ``fabric-peer`` and ``fabric-ca`` at the pinned
  versions (scripts/versions.env), ``ipfs/kubo``, and the ``fedledger`` image (Dockerfile) for
  the chaincode service;
* every service has its org's profile and ``network_mode: host``: each org runs
  ``docker compose --profile <org> up -d`` on its own machine, whose address is the one the
  topology gives the org, so addresses and ports are those of the hosts mode;
* the org's state directory (its CA, keys, node data) is the volume ``./orgs/<org>`` mounted at
  ``/var/fedledger``; paths inside it are rewritten to that mount; Fabric's config path is the
  image's own (``/etc/hyperledger/fabric``: its core.yaml carries the ccaas builder);
* what is secret or known only after a step of the runbook is a Compose variable the org sets
  in its ``.env``: ``<ORG>_CA_REGISTRAR_SECRET`` and ``<ORG>_CHAINCODE_ID`` (the package id
  its own package got).

ACA-Py agents are not part of it (they do not run on hosts either).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from network.host_plan import HostPlan
from network.nodes import LaunchSpec
from network.org_keys import org_ca
from network.state import REPO_ROOT, StateDir
from network.topology import Org

PLACEHOLDER_ROOT = Path("/fedledger-state")
MOUNT = "/var/fedledger"
FABRIC_CONFIG = "/etc/hyperledger/fabric"
DEFAULT_FILE = REPO_ROOT / "docker-compose.fabric.yml"


def _versions() -> dict[str, str]:
    out = {}
    for line in (REPO_ROOT / "scripts" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def variable(org: Org, what: str) -> str:
    """A Compose variable of ``org``'s, e.g. HOSPITALA_CHAINCODE_ID."""
    return f"{org.name.upper()}_{what}"


def _image(kind: str) -> str:
    v = _versions()
    return {
        "ca": f"hyperledger/fabric-ca:{v['FABRIC_CA_VERSION'].lstrip('v')}",
        "orderer": f"hyperledger/fabric-orderer:{v['FABRIC_RELEASE'].lstrip('v')}",
        "peer": f"hyperledger/fabric-peer:{v['FABRIC_RELEASE'].lstrip('v')}",
        "ipfs": f"ipfs/kubo:{v['KUBO_VERSION']}",
        "chaincode": "fedledger-chaincode:latest",
    }[kind]


def _in_container(value: str, site: Path) -> str:
    return value.replace(str(site), MOUNT)


def _service(spec: LaunchSpec, kind: str, org: Org, site: Path) -> dict[str, Any]:
    env = {k: _in_container(v, site) for k, v in sorted(spec.env.items())}
    if "FABRIC_CFG_PATH" in env:
        env["FABRIC_CFG_PATH"] = FABRIC_CONFIG
    command = [Path(spec.argv[0]).name, *(_in_container(a, site) for a in spec.argv[1:])]
    service: dict[str, Any] = {"image": _image(kind), "profiles": [org.short], "network_mode": "host"}
    if kind == "chaincode":
        service["build"] = {"context": ".", "dockerfile": "Dockerfile", "target": "chaincode"}
        command = ["python", *command[1:]]
    if kind == "ipfs":
        service["entrypoint"] = [command[0]]
        command = command[1:]
    service |= {"command": command, "environment": env, "volumes": [f"./orgs/{org.name.lower()}:{MOUNT}"],
                "restart": "unless-stopped"}  # fmt: skip
    return service


def compose_document(plan: HostPlan, port_base: int) -> dict[str, Any]:
    """The Compose document of a consortium laid out by ``plan`` on ``port_base``."""
    from network.consortium import LocalConsortium  # the consortium builds the specs this turns into services

    net = LocalConsortium.on_hosts(StateDir(PLACEHOLDER_ROOT), plan, port_base, with_aries=False)
    topo = net.topology
    manifest = {
        "chaincode": {"package_ids": {o.msp_id: f"${{{variable(o, 'CHAINCODE_ID')}}}" for o in topo.peer_orgs},
                      "generation": 0},
        "ipfs_peers": True,
    }  # fmt: skip
    specs: list[tuple[LaunchSpec, str, Org]] = []
    for org in topo.orgs:
        secret = f"${{{variable(org, 'CA_REGISTRAR_SECRET')}}}"
        specs.append((org_ca(topo, net.state_of(org), org).spec(registrar_secret=secret), "ca", org))
    by_name = {o.name: o for o in topo.orgs}
    for spec, kind, owner in net.inventory.specs(manifest, with_cas=False):
        specs.append((spec, kind, by_name[owner]))
    services = {spec.name: _service(spec, kind, org, net.state_of(org).root) for spec, kind, org in specs}
    return {"name": "fedledger", "services": services}


def render(plan: HostPlan, port_base: int) -> str:
    header = (
        "# The consortium on hosts for machines that run Docker: each org runs\n"
        "#   docker compose -f docker-compose.fabric.yml --profile <org> up -d\n"
        "# on its own machine (the address the topology gives it), with its state directory in\n"
        "# ./orgs/<org> and its .env setting <ORG>_CA_REGISTRAR_SECRET and <ORG>_CHAINCODE_ID.\n"
        "# Generated by `fedledger network compose` from the topology (network/compose.py); do not edit.\n"
    )
    return header + yaml.safe_dump(compose_document(plan, port_base), sort_keys=False, width=200)
