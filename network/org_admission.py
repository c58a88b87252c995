"""Admitting an org to the running channel, and removing one: the consortium admins' flow.

Admission, each step by the party named, each printing what it did and who acts next:

1. ``init`` (the new org, on its own new host): starts its CA, enrolls its admin, its agent's
   client and its peer, and hands its org definition (certificates and endpoints, no key) to
   the members; it takes the other orgs' definitions, so it can reach the orderers.
2. ``propose`` (a member's admin): computes the config update that adds the org's definition
   to the channel's Application group and signs it.
3. ``sign`` (other members' admins, each on its own): adds its signature.
4. ``submit`` (a member's admin, once enough have signed: MAJORITY Admins of the Application
   group, the submitter's own signature included): the channel admits the org.
5. ``join`` (the new org): fetches the channel's first block, starts its peer and joins it,
   builds its own chaincode package, starts its chaincode service, installs it and approves
   the committed definition for itself, starts its Kubo daemon peered with the hospitals.

Removal is the same update in reverse (``propose --remove``, ``sign``, ``submit``); ``leave``
then stops the removed org's nodes. From the commit of the update on, the channel refuses the
removed org's transactions (its MSP is no longer a channel member).

The manifest records each admitted org (``joined``: name, MSP ID, domain, status
``initialised`` / ``admitted`` / ``joined``) and each removed one (``removed``), so that every
later command sees the same topology (network/topology.py: ports never move).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network import channel, channel_config, ipfs_nodes, lifecycle, process
from network.binaries import ToolError, fabric_bin, run_tool
from network.configs import copy_orderer_yaml, render_core_yaml, render_org_configtx
from network.consortium import LocalConsortium, Progress
from network.host_plan import host_name
from network.nodes import peer_spec
from network.org_keys import enroll_org, org_ca
from network.topology import Org

NAME = re.compile(r"^[A-Z][A-Za-z0-9]{1,9}$")


@dataclass(frozen=True)
class Update:
    """A config update in the exchange: its envelope, and what it does."""

    path: Path
    action: str  # "add" | "remove"
    org: str

    @property
    def about(self) -> Path:
        return self.path.with_name(self.path.stem + ".about.json")

    @classmethod
    def load(cls, path: Path) -> Update:
        about = path.with_name(path.stem + ".about.json")
        if not path.exists() or not about.exists():
            raise ToolError(f"{path}: no such config update (propose one first)")
        data = json.loads(about.read_text())
        return cls(path, data["action"], data["org"])


def _hosts_required(net: LocalConsortium) -> None:
    if net.hosts is None:
        raise ToolError("admitting or removing an org needs a network on hosts (`fedledger network up --hosts`)")


def _joined(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return manifest.setdefault("joined", [])


def _entry(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in _joined(manifest):
        if entry["name"].lower() == name.lower():
            return entry
    raise ToolError(f"{name} has not been initialised here (run `fedledger org init --name {name}` first)")


def _member(net: LocalConsortium, name: str) -> Org:
    try:
        org = net.org(name)
    except KeyError as exc:
        raise ToolError(str(exc.args[0])) from None
    if net.is_pending(org):
        raise ToolError(f"{org.name} is not a member of the channel yet; a member's admin must act")
    return org


def init(net: LocalConsortium, name: str, say: Progress) -> LocalConsortium:
    """Step 1, by the new org: its host, its CA and identities, its org definition."""
    _hosts_required(net)
    if not NAME.match(name):
        raise ToolError(f"org name {name!r}: a capital letter, then 1-9 letters or digits (e.g. HospitalD)")
    if any(o.name.lower() == name.lower() for o in net.topology.ever):
        raise ToolError(f"{name} is already an org of this consortium (or was; names are not reused)")
    manifest = net.state.read_manifest()
    if not manifest.get("ready"):
        raise ToolError("the network is not up (run `fedledger network up --hosts` first)")
    org = Org(name, f"{name}MSP", f"{name.lower()}.fedledger.local", "hospital")
    _joined(manifest).append({"name": org.name, "msp_id": org.msp_id, "domain": org.domain, "kind": org.kind,
                              "status": "initialised"})  # fmt: skip
    plan = net.hosts.with_member(org.name)  # type: ignore[union-attr]
    manifest["hosts"] = plan.to_json()
    net.state.write_manifest(manifest)
    net = LocalConsortium.open(net.state.root, net.progress)
    host = plan.hostlab.attach(host_name(org), len(plan.members) - 1)
    say(f"{org.name}: its host {host.namespace} at {host.address}")
    site = net.state_of(org)
    render_core_yaml(site)
    copy_orderer_yaml(site)
    ca = org_ca(net.topology, site, org)
    net.launch(ca.spec())
    net.wait_healthy(ca.spec())
    enroll_org(ca, net.topology, site)
    say(f"{org.name}: its CA {ca.url} enrolled Admin, User1 and peer0 (keys stay in {site.root})")
    for other in net.topology.orgs:
        if other != org and not net.is_pending(other):
            net.exchange.take(other, into=org)
    out = net.exchange.export(org)
    say(f"{org.name}: its org definition is at {out}; next, a member's admin runs "
        f"`fedledger org propose --org {org.name} --as <member>`")  # fmt: skip
    return net


def _update_path(net: LocalConsortium, action: str, org: Org) -> Path:
    return net.sites.exchange / "updates" / f"{action}-{org.short}.pb"


def _work(net: LocalConsortium, org: Org, label: str) -> Path:
    """A scratch folder in ``org``'s own state directory."""
    work = net.state_of(org).root / "config-updates" / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return work


def propose(net: LocalConsortium, name: str, as_name: str, say: Progress, remove: bool = False) -> Update:
    """Step 2, by a member's admin: the config update adding (or removing) org ``name``,
    signed by the proposer."""
    _hosts_required(net)
    proposer = _member(net, as_name)
    site = net.state_of(proposer)
    if remove:
        org = _member(net, name)
        if org == proposer:
            raise ToolError("an org does not propose its own removal here; another member's admin does")

        def edit(config: dict[str, Any]) -> None:
            config["channel_group"]["groups"]["Application"]["groups"].pop(org.name, None)
    else:
        entry = _entry(net.state.read_manifest(), name)
        org = net.org(entry["name"])
        if entry["status"] != "initialised":
            raise ToolError(f"{org.name} is {entry['status']} already")
        net.exchange.take(org, into=proposer)
        work = _work(net, proposer, f"print-{org.short}")
        printed = run_tool([fabric_bin("configtxgen"), "-printOrg", org.name, "-configPath",
                            str(render_org_configtx(net.topology, site, org, work))],
                           what=f"configtxgen -printOrg {org.name}")  # fmt: skip
        definition, _ = json.JSONDecoder().raw_decode(printed[printed.find("{") :])  # log lines may follow

        def edit(config: dict[str, Any]) -> None:
            config["channel_group"]["groups"]["Application"]["groups"][org.name] = definition

    action = "remove" if remove else "add"
    update = Update(_update_path(net, action, org), action, org.name)
    work = _work(net, proposer, f"{action}-{org.short}")
    channel_config.propose(net.topology, site, proposer, edit, work, work / "update.pb")
    update.path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(work / "update.pb", update.path)
    update.about.write_text(json.dumps({"action": action, "org": org.name}))
    say(f"{proposer.name} proposed to {action} {org.name} and signed: {update.path}")
    say(signature_status(net, update))
    return update


def needed_signatures(net: LocalConsortium) -> int:
    """Admins whose signatures the Application group's policy needs: a majority of its orgs."""
    return len([o for o in net.topology.application_orgs if not net.is_pending(o)]) // 2 + 1


def signature_status(net: LocalConsortium, update: Update) -> str:
    signed = channel_config.signers(update.path)
    needed = needed_signatures(net)
    if len(signed) + 1 >= needed:
        nxt = f"next: a member that has not signed runs `fedledger org submit --update {update.path} --as <member>`"
    else:
        nxt = f"next: another member's admin runs `fedledger org sign --update {update.path} --as <member>`"
    who = ", ".join(signed) or "no one"
    return f"signed by {who} ({len(signed)} of {needed} needed, the submitter's counts); {nxt}"


def _take(net: LocalConsortium, update: Update, org: Org) -> Path:
    """The org's own copy of the update, checked to be unsigned by it."""
    if org.msp_id in channel_config.signers(update.path):
        raise ToolError(f"{org.name} has signed this update already")
    if update.action == "add":
        added = net.org(update.org)
        net.exchange.take(added, into=org)
    work = _work(net, org, f"{update.action}-{update.org.lower()}")
    shutil.copy(update.path, work / "update.pb")
    return work / "update.pb"


def sign(net: LocalConsortium, path: Path, as_name: str, say: Progress) -> Update:
    """Step 3, by another member's admin."""
    _hosts_required(net)
    update = Update.load(path)
    org = _member(net, as_name)
    mine = _take(net, update, org)
    channel_config.sign(net.topology, net.state_of(org), org, mine)
    shutil.copy(mine, update.path)
    say(f"{org.name} signed the update to {update.action} {update.org}")
    say(signature_status(net, update))
    return update


def submit(net: LocalConsortium, path: Path, as_name: str, say: Progress) -> LocalConsortium:
    """Step 4, by a member's admin: the channel takes the update once the policy is met."""
    _hosts_required(net)
    update = Update.load(path)
    org = _member(net, as_name)
    signed = len(channel_config.signers(update.path)) + 1
    if signed < needed_signatures(net):
        raise ToolError(f"only {signed} of {needed_signatures(net)} signatures with yours; "
                        "more members' admins must sign first (`fedledger org sign`)")  # fmt: skip
    channel_config.submit(net.topology, net.state_of(org), org, _take(net, update, org))
    manifest = net.state.read_manifest()
    if update.action == "add":
        _entry(manifest, update.org)["status"] = "admitted"
        say(f"{org.name} submitted: the channel admits {update.org}; next, {update.org} runs "
            f"`fedledger org join --org {update.org}`")  # fmt: skip
    else:
        manifest.setdefault("removed", []).append(update.org)
        say(f"{org.name} submitted: {update.org} is no longer a channel member; next, {update.org} runs "
            f"`fedledger org leave --org {update.org}` to stop its nodes")  # fmt: skip
    net.state.write_manifest(manifest)
    update.about.unlink()
    update.path.rename(update.path.with_suffix(".submitted"))
    net = LocalConsortium.open(net.state.root, net.progress)
    if update.action == "add":  # in the channel's config now: every member takes its certificates
        added = net.org(update.org)
        for member in net.topology.orgs:
            if member != added:
                net.exchange.take(added, into=member)
    return net


def join(net: LocalConsortium, name: str, say: Progress) -> LocalConsortium:
    """Step 5, by the admitted org: its peer joins, its chaincode service runs, it approves."""
    _hosts_required(net)
    manifest = net.state.read_manifest()
    entry = _entry(manifest, name)
    if entry["status"] == "initialised":
        raise ToolError(f"the channel has not admitted {entry['name']} yet (its update must be submitted first)")
    org, topo = net.org(entry["name"]), net.topology
    site = net.state_of(org)
    channel_config.fetch_block(topo, site, org, "0", site.genesis_block)
    say(f"{org.name}: fetched the channel's first block from the ordering service")
    peer = peer_spec(topo.peer_of(org), site)
    if not process.alive(process.read_record(site.pid(peer.name))):
        net.launch(peer)
    net.wait_healthy(peer)
    channel.join_peer(topo, site, org)
    say(f"{org.name}: peer0 joined the channel and catches up from the orderers")
    record = manifest["chaincode"]
    package_id = net.chaincode.package(org, record["version"], record["generation"])
    service = net.chaincode.spec(org, package_id, record["generation"])
    process.stop(site.pid(service.name))
    net.launch(service)
    net.wait_healthy(service)
    lifecycle.install(topo, site, org, str(net.chaincode.package_path(org, record["version"])))
    lifecycle.approve(topo, site, org, package_id, record["version"], record["sequence"])
    say(f"{org.name}: built its chaincode package {package_id[:40]}..., started its service, "
        f"installed it and approved version {record['version']} (sequence {record['sequence']})")  # fmt: skip
    record["package_ids"][org.msp_id] = package_id
    if manifest.get("ipfs_peers"):
        peer_ids = dict(manifest["ipfs_peers"])
        peer_ids[org.msp_id] = ipfs_nodes.init_repo(site, org)
        ipfs_nodes.configure_repo(topo, site, org, peer_ids)
        spec = ipfs_nodes.ipfs_spec(topo, site, org)
        net.launch(spec)
        net.wait_healthy(spec)
        manifest["ipfs_peers"] = peer_ids
        say(f"{org.name}: its Kubo daemon runs, peered with the other hospitals")
    entry["status"] = "joined"
    net.state.write_manifest(manifest)
    net = LocalConsortium.open(net.state.root, net.progress)
    net.wait_endorsable()
    say(
        f"{org.name} is a member: next, its admin registers and stakes (`fedledger registry register`), "
        "and a study enrolls it or its running study picks it up in a later round"
    )
    return net


def leave(net: LocalConsortium, name: str, say: Progress) -> list[str]:
    """After its removal: stop the org's nodes (its ledger and keys stay in its directory)."""
    _hosts_required(net)
    manifest = net.state.read_manifest()
    if name not in manifest.get("removed", []):
        raise ToolError(f"{name} is still a channel member; its removal must be submitted first")
    org = next(o for o in net.topology.ever if o.name == name)
    site, topo = net.state_of(org), net.topology
    names = [topo.chaincode_service_name(org, g) for g in (0, 1)] + [ipfs_nodes.node_name(org), f"peer0.{org.short}"]
    names.append(org_ca(topo, site, org).name)
    stopped = [n for n in names if process.stop(site.pid(n))]
    say(f"{org.name}: stopped {', '.join(stopped) or 'nothing (nothing ran)'}")
    return stopped
