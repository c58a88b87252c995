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


def init_repos(topology: Topology, state: StateDir) -> dict[str, str]:
    """Create and configure every hospital's repository; returns MSP ID -> peer id."""
    peer_ids: dict[str, str] = {}
    for org in ipfs_orgs(topology):
        repo = repo_dir(state, org)
        if not (repo / "config").exists():
            repo.mkdir(parents=True, exist_ok=True)
            run_tool(
                [ipfs_bin(), "init", "--profile=test"], env={"IPFS_PATH": str(repo)}, what=f"ipfs init ({org.name})"
            )
        peer_ids[org.msp_id] = json.loads((repo / "config").read_text())["Identity"]["PeerID"]
    for org in ipfs_orgs(topology):
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
        others = [o for o in ipfs_orgs(topology) if o != org]
        config["Peering"] = {
            "Peers": [{"ID": peer_ids[o.msp_id], "Addrs": [f"/ip4/{topology.host_of(o)}/tcp/{ports(topology, o)[2]}"]}
                      for o in others]
        }  # fmt: skip
        config_file.write_text(json.dumps(config, indent=2))
    return peer_ids


def ipfs_spec(topology: Topology, state: StateDir, org: Org) -> LaunchSpec:
    api, _, _ = ports(topology, org)
    env = {"IPFS_PATH": str(repo_dir(state, org)), "GOGC": "200"}
    return LaunchSpec(node_name(org), [ipfs_bin(), "daemon", "--enable-gc=false"], env, None, api, (),
                      topology.host_of(org))  # fmt: skip
