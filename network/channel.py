"""The consortium channel: genesis block, orderers joined through the channel participation
API (osnadmin; Fabric v3 has no system channel), peers joined with the peer CLI.

Anchor peers are part of each org's definition in the genesis block, so no config update
transaction is needed to set them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from network.binaries import ToolError, fabric_bin, run_tool
from network.nodes import admin_env
from network.state import StateDir
from network.topology import CHANNEL, ORDERER_ORG, Node, Org, Topology


def create_genesis_block(state: StateDir, configtx_dir: str) -> None:
    run_tool(
        [
            fabric_bin("configtxgen"),
            "-profile",
            "FedLedgerChannel",
            "-channelID",
            CHANNEL,
            "-outputBlock",
            str(state.genesis_block),
            "-configPath",
            configtx_dir,
        ],
        what="configtxgen",
    )


def orderer_admin_args(state: StateDir, node: Node) -> list[str]:
    admin_tls = state.user_dir(ORDERER_ORG) / "tls"
    return [
        "-o",
        f"{node.host}:{node.admin_port}",
        "--ca-file",
        str(state.tls_ca_cert(ORDERER_ORG)),
        "--client-cert",
        str(admin_tls / "client.crt"),
        "--client-key",
        str(admin_tls / "client.key"),
    ]


def join_orderer(state: StateDir, node: Node, block: Path | None = None) -> None:
    """Join ``node`` to the channel from ``block`` (default: the genesis block; an orderer added
    later joins from the latest config block and catches up from the others)."""
    argv = [
        fabric_bin("osnadmin"),
        "channel",
        "join",
        "--channelID",
        CHANNEL,
        "--config-block",
        str(block or state.genesis_block),
    ]
    out = run_tool(argv + orderer_admin_args(state, node), what=f"osnadmin join on {node.name}")
    if "Status: 201" not in out and "Status: 405" not in out:
        # 405: the orderer already has this channel (re-run of `up`)
        raise ToolError(f"osnadmin could not join {node.name} to {CHANNEL}:\n{out.strip()}")


def remove_orderer_channel(state: StateDir, node: Node) -> None:
    """Drop the channel from ``node`` (after the channel's config no longer names it)."""
    argv = [fabric_bin("osnadmin"), "channel", "remove", "--channelID", CHANNEL]
    out = run_tool(argv + orderer_admin_args(state, node), what=f"osnadmin remove on {node.name}")
    if "Status: 204" not in out and "Status: 404" not in out:
        raise ToolError(f"osnadmin could not remove {CHANNEL} from {node.name}:\n{out.strip()}")


def orderer_channel_status(state: StateDir, node: Node) -> dict[str, object]:
    argv = [fabric_bin("osnadmin"), "channel", "list", "--channelID", CHANNEL]
    out = run_tool(argv + orderer_admin_args(state, node), what=f"osnadmin info on {node.name}")
    start = out.find("{")
    return json.loads(out[start:]) if start >= 0 else {}


def join_peer(topology: Topology, state: StateDir, org: Org) -> None:
    if CHANNEL in list_channels(topology, state, org):
        return
    run_tool(
        [fabric_bin("peer"), "channel", "join", "-b", str(state.genesis_block)],
        env=admin_env(topology, org, state),
        what=f"peer channel join for {org.name}",
    )


def list_channels(topology: Topology, state: StateDir, org: Org) -> list[str]:
    out = run_tool(
        [fabric_bin("peer"), "channel", "list"], env=admin_env(topology, org, state), what="peer channel list"
    )
    return [line.strip() for line in out.splitlines() if re.fullmatch(r"[a-z][a-z0-9.-]*", line.strip())]


def peer_height(topology: Topology, state: StateDir, org: Org) -> int:
    """Block height of the channel on the org's peer."""
    out = run_tool(
        [fabric_bin("peer"), "channel", "getinfo", "-c", CHANNEL],
        env=admin_env(topology, org, state),
        what=f"peer channel getinfo for {org.name}",
    )
    match = re.search(r"Blockchain info: (\{.*\})", out)
    if not match:
        raise ToolError(f"unexpected getinfo output: {out.strip()}")
    return int(json.loads(match.group(1))["height"])
