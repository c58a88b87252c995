"""Changing the running channel's configuration: the config update transaction.

Fabric changes a channel by a signed config update: an admin fetches the latest config block,
edits its JSON (``configtxlator`` decodes and encodes the protobufs), and ``configtxlator
compute_update`` reduces the edit to the delta that is submitted. The delta is wrapped in an
envelope that member admins sign in turn (``peer channel signconfigtx``) until the policy that
guards the changed part is met (adding or removing an application org changes the Application
group: ``MAJORITY Admins`` of its orgs); the last signer submits it (``peer channel update``,
which adds that admin's signature too).

Every step here runs one Fabric tool as one org's admin, with the org's own state directory;
what passes between orgs is the update file.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from network.binaries import ToolError, fabric_bin, run_tool
from network.lifecycle import orderer_args
from network.nodes import admin_env
from network.state import StateDir
from network.topology import CHANNEL, Org, Topology

Edit = Callable[[dict[str, Any]], None]  # changes a decoded channel config in place


def _lator(*args: str) -> str:
    return run_tool([fabric_bin("configtxlator"), *args], what=f"configtxlator {args[0]}")


def decode(pb: Path, proto: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decoded.json"
        _lator("proto_decode", "--input", str(pb), "--type", proto, "--output", str(out))
        return json.loads(out.read_text())


def encode(doc: dict[str, Any], proto: str, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.json"
        source.write_text(json.dumps(doc))
        _lator("proto_encode", "--input", str(source), "--type", proto, "--output", str(out))
    return out


def fetch_block(topology: Topology, state: StateDir, org: Org, which: str, out: Path) -> Path:
    """Fetch block ``which`` ("config" for the latest config block, or a number) as ``org``'s
    admin from the ordering service."""
    out.parent.mkdir(parents=True, exist_ok=True)
    run_tool([fabric_bin("peer"), "channel", "fetch", which, str(out), *orderer_args(topology, state), "-c", CHANNEL],
             env=admin_env(topology, org, state), what=f"fetch block {which} as {org.name}")  # fmt: skip
    return out


def current_config(topology: Topology, state: StateDir, org: Org, work: Path) -> dict[str, Any]:
    """The channel's config as of its latest config block, decoded."""
    block = decode(fetch_block(topology, state, org, "config", work / "config_block.pb"), "common.Block")
    return block["data"]["data"][0]["payload"]["data"]["config"]


def propose(topology: Topology, state: StateDir, org: Org, edit: Edit, work: Path, out: Path) -> Path:
    """The update envelope that applies ``edit`` to the channel's config, computed as ``org``'s
    admin and signed by it; written to ``out``. Refuses an edit that changes nothing."""
    work.mkdir(parents=True, exist_ok=True)
    original = current_config(topology, state, org, work)
    updated = json.loads(json.dumps(original))
    edit(updated)
    if updated == original:
        raise ToolError("the change is already in the channel's config: nothing to propose")
    encode(original, "common.Config", work / "original.pb")
    encode(updated, "common.Config", work / "updated.pb")
    _lator("compute_update", "--channel_id", CHANNEL, "--original", str(work / "original.pb"),
           "--updated", str(work / "updated.pb"), "--output", str(work / "update.pb"))  # fmt: skip
    update = decode(work / "update.pb", "common.ConfigUpdate")
    envelope = {"payload": {"header": {"channel_header": {"channel_id": CHANNEL, "type": 2}},
                            "data": {"config_update": update}}}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    encode(envelope, "common.Envelope", out)
    sign(topology, state, org, out)
    return out


def sign(topology: Topology, state: StateDir, org: Org, update: Path) -> None:
    """Add ``org``'s admin signature to the update envelope (in place)."""
    run_tool([fabric_bin("peer"), "channel", "signconfigtx", "-f", str(update)],
             env=admin_env(topology, org, state), what=f"sign the config update as {org.name}")  # fmt: skip


def submit(topology: Topology, state: StateDir, org: Org, update: Path) -> None:
    """Submit the update as ``org``'s admin (whose signature it adds)."""
    run_tool([fabric_bin("peer"), "channel", "update", "-f", str(update), "-c", CHANNEL,
              *orderer_args(topology, state)], env=admin_env(topology, org, state),
             what=f"submit the config update as {org.name}")  # fmt: skip


def signers(update: Path) -> list[str]:
    """MSP IDs that have signed the update envelope, in signing order."""
    envelope = decode(update, "common.Envelope")
    signatures = envelope["payload"]["data"].get("signatures") or []
    return [s["signature_header"]["creator"]["mspid"] for s in signatures]


def application_orgs(config: dict[str, Any]) -> list[str]:
    """Names of the application orgs in a decoded channel config."""
    return sorted(config["channel_group"]["groups"]["Application"]["groups"])
