"""Adding an orderer to the running channel's Raft consenter set, and removing one.

The orderer org's admin does both (the Orderer group's ``Admins`` policy: a majority of the
orderer orgs' admins, here the one orderer org):

* **add**: the new orderer gets its identities (the orderer org's CA on hosts, ``cryptogen
  extend`` on one machine), its process starts with no channel; a config update adds it to
  the Raft consenters (``ConsensusType`` metadata: host, port, TLS certificates) and to the
  orderer org's endpoints; then ``osnadmin channel join`` hands it the latest config block
  and it catches up from the others as a consenter.
* **remove**: a config update takes it out of the consenters and endpoints (Raft changes one
  consenter at a time), ``osnadmin channel remove`` drops the channel from it, and it stops.

A removed orderer's name and ports are not reused. BFT (SmartBFT) consenter changes also
rewrite the block validation policy and are not offered here.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from network import channel, channel_config, process
from network.binaries import ToolError, fabric_bin, run_tool
from network.configs import render_crypto_config
from network.consortium import CRYPTO_CONFIG, LocalConsortium, Progress
from network.nodes import orderer_spec
from network.org_keys import org_ca
from network.topology import ADDED_ORDERER_SLOTS, ORDERER_ORG, Node


def _raft_only(net: LocalConsortium) -> None:
    if net.topology.consensus != "etcdraft":
        raise ToolError("changing the orderer set is offered for Raft ordering only (BFT changes also rewrite "
                        "the block validation policy)")  # fmt: skip
    if not net.state.read_manifest().get("ready"):
        raise ToolError("the network is not up (run `fedledger network up` first)")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _consenter(net: LocalConsortium, node: Node) -> dict[str, Any]:
    tls = net.state_of(ORDERER_ORG).node_dir(node) / "tls" / "server.crt"
    return {"host": node.host, "port": node.port, "client_tls_cert": _b64(tls), "server_tls_cert": _b64(tls)}


def _orderer_group(config: dict[str, Any]) -> dict[str, Any]:
    return config["channel_group"]["groups"]["Orderer"]


def _update(net: LocalConsortium, label: str, edit: channel_config.Edit) -> None:
    """Propose, sign and submit ``edit`` as the orderer org's admin."""
    site = net.state_of(ORDERER_ORG)
    work = site.root / "config-updates" / label
    update = channel_config.propose(net.topology, site, ORDERER_ORG, edit, work, work / "update.pb")
    channel_config.submit(net.topology, site, ORDERER_ORG, update)


def _wait_consenter(net: LocalConsortium, node: Node, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        status = channel.orderer_channel_status(net.state_of(ORDERER_ORG), node)
        if status.get("consensusRelation") == "consenter" and status.get("status") == "active":
            return
        if time.monotonic() > deadline:
            raise ToolError(f"{node.name} is not an active consenter after {timeout_s:.0f}s: {status}")
        time.sleep(0.5)


def add_orderer(net: LocalConsortium, say: Progress) -> LocalConsortium:
    """Add one orderer to the consenter set; returns the network with it."""
    _raft_only(net)
    manifest = net.state.read_manifest()
    if manifest.get("added_orderers", 0) >= len(ADDED_ORDERER_SLOTS):
        raise ToolError(f"{len(ADDED_ORDERER_SLOTS)} orderers have been added to this channel already; "
                        "there are no slots for more")  # fmt: skip
    manifest["added_orderers"] = manifest.get("added_orderers", 0) + 1
    net.state.write_manifest(manifest)  # from here on the topology has the new orderer's slot
    net = LocalConsortium.open(net.state.root, net.progress)
    node, site = net.topology.orderers[-1], net.state_of(ORDERER_ORG)
    if net.sites.separate:
        org_ca(net.topology, site, ORDERER_ORG).enroll(node.name, "orderer", hosts=(node.host, node.fqdn))
    else:
        crypto_config = render_crypto_config(net.topology, site, CRYPTO_CONFIG)
        run_tool([fabric_bin("cryptogen"), "extend", f"--config={crypto_config}", f"--input={site.crypto}"],
                 what="cryptogen extend")  # fmt: skip
    spec = orderer_spec(node, site)
    process.stop(site.pid(spec.name))
    net.launch(spec)
    net.wait_healthy(spec)
    say(f"{node.name}: identities enrolled, started on {node.address} with no channel yet")

    def edit(config: dict[str, Any]) -> None:
        group = _orderer_group(config)
        group["values"]["ConsensusType"]["value"]["metadata"]["consenters"].append(_consenter(net, node))
        group["groups"][ORDERER_ORG.name]["values"]["Endpoints"]["value"]["addresses"].append(node.address)

    _update(net, f"add-{node.name}", edit)
    say(f"{node.name}: the channel's config names it a consenter (the orderer org's admin signed and submitted)")
    block = channel_config.fetch_block(net.topology, site, ORDERER_ORG, "config", site.config / f"{node.name}.block")
    channel.join_orderer(site, node, block)
    _wait_consenter(net, node)
    say(f"{node.name} joined with the channel's latest config block and is an active consenter")
    return net


def remove_orderer(net: LocalConsortium, name: str, say: Progress) -> LocalConsortium:
    """Take orderer ``name`` out of the consenter set, drop the channel from it and stop it."""
    _raft_only(net)
    try:
        node = net.topology.node(name)
    except KeyError as exc:
        raise ToolError(str(exc.args[0])) from None
    if node.kind != "orderer":
        raise ToolError(f"{name} is a {node.kind}, not an orderer")
    if len(net.topology.orderers) <= 3:
        raise ToolError("removing it would leave fewer than 3 orderers: a Raft cluster that size tolerates no crash")
    site = net.state_of(ORDERER_ORG)

    def edit(config: dict[str, Any]) -> None:
        group = _orderer_group(config)
        consenters = group["values"]["ConsensusType"]["value"]["metadata"]["consenters"]
        consenters[:] = [c for c in consenters if (c["host"], c["port"]) != (node.host, node.port)]
        addresses = group["groups"][ORDERER_ORG.name]["values"]["Endpoints"]["value"]["addresses"]
        addresses[:] = [a for a in addresses if a != node.address]

    _update(net, f"remove-{node.name}", edit)
    say(f"{node.name}: no longer a consenter nor an endpoint of the channel")
    manifest = net.state.read_manifest()
    manifest.setdefault("removed", []).append(node.name)
    net.state.write_manifest(manifest)
    net = LocalConsortium.open(net.state.root, net.progress)
    channel.remove_orderer_channel(site, node)
    process.stop(site.pid(node.name))
    say(f"{node.name}: the channel is removed from it and it is stopped (its name and ports are not reused)")
    return net
