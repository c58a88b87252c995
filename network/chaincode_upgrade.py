"""Upgrading fedledger's chaincode on a running channel, without stopping anything.

The new version is a new chaincode definition (sequence + 1) with new packages; with
chaincode as a service, its code runs in new services. The steps, each printed as it runs:

1. every org packages the new version, pointing at a new service of its own beside the
   running one (the other generation's port and TLS pair, network/topology.py);
2. every org starts that service and installs its package on its peer;
3. every org approves the new definition for itself (sequence + 1, its own package id);
4. the definition is committed (the channel's lifecycle policy: a majority of orgs);
5. once every peer reports the new sequence, the old services are stopped.

Until step 4 commits, peers keep calling the old services; from then on the new ones. The
ledger's state is the chaincode's, not the service's, so nothing is lost, and clients (agents,
CLIs) keep their gateway connections: nothing restarts but the chaincode services.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from network import lifecycle, process
from network.binaries import ToolError
from network.consortium import LocalConsortium

VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$")


def upgrade_chaincode(net: LocalConsortium, version: str, say: Callable[[str], None] = print,
                      timeout_s: float = 60.0) -> dict[str, Any]:  # fmt: skip
    """Run the upgrade to ``version`` on ``net``; returns the new chaincode record of the
    network's manifest (version, sequence, package ids, generation)."""
    if not VERSION.match(version):
        raise ToolError(f"version {version!r}: up to 32 letters, digits, '.', '+' or '-'")
    manifest = net.state.read_manifest()
    current = manifest.get("chaincode")
    if not current or not manifest.get("ready"):
        raise ToolError("no running network with a committed chaincode here (run `fedledger network up` first)")
    if version == current["version"]:
        raise ToolError(f"the chaincode already runs version {version}; an upgrade needs a new version")
    topo, old, new = net.topology, current.get("generation", 0), current.get("generation", 0) + 1
    # the ledger's committed sequence, not only the manifest's: an upgrade stopped after its commit
    # left the ledger ahead of the manifest, and the next definition must follow the ledger
    committed = lifecycle.committed_sequence(topo, net.state_of(topo.hospitals[0]), topo.hospitals[0])
    sequence = max(current["sequence"], committed) + 1
    started = time.monotonic()
    say(f"upgrade: version {current['version']} -> {version}, sequence {sequence - 1} -> {sequence}")
    ids = net.chaincode.package_all(net.member_peer_orgs, version, new)
    say("upgrade: each org starts its new chaincode service beside the running one")
    specs = {o.msp_id: net.chaincode.spec(o, ids[o.msp_id], new) for o in net.member_peer_orgs}
    for spec in specs.values():
        process.stop(net.state_of(spec.owner).pid(spec.name))  # left by an upgrade that stopped half-way: start afresh
        net.launch(spec)
    for spec in specs.values():
        net.wait_healthy(spec)
    for org in net.member_peer_orgs:
        say(f"upgrade: {org.name} installs and approves {ids[org.msp_id][:40]}...")
        lifecycle.install(topo, net.state_of(org), org, str(net.chaincode.package_path(org, version)))
        lifecycle.approve(topo, net.state_of(org), org, ids[org.msp_id], version, sequence)
    say("upgrade: committing the new definition (a majority of orgs approved it)")
    lifecycle.commit(topo, net.state_of(topo.hospitals[0]), version, sequence, orgs=net.member_peer_orgs)
    deadline = time.monotonic() + timeout_s
    for org in net.member_peer_orgs:
        while lifecycle.committed_sequence(topo, net.state_of(org), org) < sequence:
            if time.monotonic() > deadline:
                raise ToolError(f"{org.name}'s peer still does not show sequence {sequence} after {timeout_s:.0f}s")
            time.sleep(0.5)
    record = {**current, "version": version, "sequence": sequence, "package_ids": ids, "generation": new}
    manifest["chaincode"] = record
    net.state.write_manifest(manifest)
    net.wait_endorsable()
    for org in net.member_peer_orgs:
        process.stop(net.pid_file(org, topo.chaincode_service_name(org, old)))
    say(f"upgrade: done in {time.monotonic() - started:.1f}s; the old chaincode services are stopped")
    return record
