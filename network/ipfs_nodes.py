"""One Kubo (IPFS) daemon per hospital, on its org's host, peered with the other hospitals only.

Each repository is created with Kubo's ``test`` profile (loopback addresses, no bootstrap
peers, no mDNS), then given the org's host address and fixed ports from the topology, content routing off
(``Routing.Type: none``: nothing is announced to any DHT) and the other hospitals' daemons as
permanent peers (``Peering.Peers``), so that bitswap fetches a CID from whichever hospital
holds it and from no one else. The RPC API listens on the org's host address only (loopback on
one machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from network.binaries import run_tool, setting
from network.nodes import LaunchSpec
from network.state import StateDir
from network.topology import IPFS_API, IPFS_GATEWAY, IPFS_SWARM, Org, Topology


def ipfs_bin() -> str:
    return setting("FEDLEDGER_IPFS_BIN")


def ipfs_orgs(topology: Topology) -> list[Org]:
    """Orgs that run an IPFS daemon: hospitals with their own node slot."""
    return [o for o in topology.peer_orgs if o.kind == "hospital"]


def ports(topology: Topology, org: Org) -> tuple[int, int, int]:
    base = topology.peer_of(org).slot_base
    return base + IPFS_API, base + IPFS_GATEWAY, base + IPFS_SWARM


def repo_dir(state: StateDir, org: Org) -> Path:
    return state.root / "ipfs" / org.short


def api_address(topology: Topology, org: Org) -> str:
    return f"http://{topology.host_of(org)}:{ports(topology, org)[0]}"


def node_name(org: Org) -> str:
    return f"ipfs.{org.short}"


def init_repo(state: StateDir, org: Org) -> str:
    """Create ``org``'s repository in its own state directory (once); returns its peer id, the
    one thing about it the other hospitals' daemons need."""
    repo = repo_dir(state, org)
    if not (repo / "config").exists():
        repo.mkdir(parents=True, exist_ok=True)
        run_tool([ipfs_bin(), "init", "--profile=test"], env={"IPFS_PATH": str(repo)}, what=f"ipfs init ({org.name})")
    return json.loads((repo / "config").read_text())["Identity"]["PeerID"]


def configure_repo(topology: Topology, state: StateDir, org: Org, peer_ids: dict[str, str]) -> None:
    """Give ``org``'s repository its host address and ports, content routing off, and every
    other hospital in ``peer_ids`` (MSP ID -> peer id) as a permanent peer."""
    config_file = repo_dir(state, org) / "config"
    config = json.loads(config_file.read_text())
    api, gateway, swarm = ports(topology, org)
    host = topology.host_of(org)
    config["Addresses"].update(
        {"API": f"/ip4/{host}/tcp/{api}", "Gateway": f"/ip4/{host}/tcp/{gateway}",
         "Swarm": [f"/ip4/{host}/tcp/{swarm}"], "Announce": [], "AppendAnnounce": []}
    )  # fmt: skip
    config["Bootstrap"] = []
    config.setdefault("Routing", {})["Type"] = "none"
    others = [o for o in ipfs_orgs(topology) if o != org and o.msp_id in peer_ids]
    config["Peering"] = {
        "Peers": [{"ID": peer_ids[o.msp_id], "Addrs": [f"/ip4/{topology.host_of(o)}/tcp/{ports(topology, o)[2]}"]}
                  for o in others]
    }  # fmt: skip
    config_file.write_text(json.dumps(config, indent=2))


def init_repos(topology: Topology, state_of: Callable[[Org], StateDir]) -> dict[str, str]:
    """Create and configure every hospital's repository, each in its org's state directory;
    returns MSP ID -> peer id."""
    peer_ids = {org.msp_id: init_repo(state_of(org), org) for org in ipfs_orgs(topology)}
    for org in ipfs_orgs(topology):
        configure_repo(topology, state_of(org), org, peer_ids)
    return peer_ids


def ipfs_spec(topology: Topology, state: StateDir, org: Org) -> LaunchSpec:
    api, _, _ = ports(topology, org)
    env = {"IPFS_PATH": str(repo_dir(state, org)), "GOGC": "200"}
    return LaunchSpec(node_name(org), [ipfs_bin(), "daemon", "--enable-gc=false"], env, None, api, (),
                      topology.host_of(org), org.name)  # fmt: skip
