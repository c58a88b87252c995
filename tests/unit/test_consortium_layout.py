"""How a consortium on hosts is laid out, without starting anything: which host and state
directory each org gets, that an org joining or leaving moves no one's ports, that an org
definition never carries a private key, and that the admission runbook refuses what it cannot do."""

from __future__ import annotations

from pathlib import Path

import pytest

from network import org_admission, org_definitions
from network.binaries import ToolError
from network.consortium import LocalConsortium
from network.host_plan import HostPlan, consortium_plan, host_name
from network.sites import PATIENTS, Sites
from network.state import StateDir
from network.topology import HOSPITALS, ORDERER_ORG, Org, Topology

HOSPITAL_D = Org("HospitalD", "HospitalDMSP", "hospitald.fedledger.local", "hospital")


def _every_port(topo: Topology) -> dict[str, int]:
    ports = {n.name: n.port for n in topo.nodes}
    ports |= {f"ca.{o.short}": topo.ca_ports(o)[0] for o in topo.orgs}
    ports |= {f"cc2.{o.short}": topo.chaincode_port(o, 1) for o in topo.peer_orgs}
    return ports


def test_an_org_joining_or_leaving_moves_no_one_s_ports() -> None:
    before = _every_port(Topology(port_base=20000))
    joined = _every_port(Topology(port_base=20000, joined=(HOSPITAL_D,)))
    assert {k: joined[k] for k in before} == before
    assert len(set(joined.values())) == len(joined)  # and the newcomer's ports are its own
    left = _every_port(Topology(port_base=20000, joined=(HOSPITAL_D,), removed=("HospitalC",)))
    assert all(left[k] == joined[k] for k in left)
    assert "peer0.hospitalc" not in left and "HospitalC" not in [o.name for o in Topology(removed=("HospitalC",)).orgs]


def test_a_plan_gives_each_member_its_host_and_survives_the_manifest() -> None:
    plan = consortium_plan("fl", "10.77.5.0/24", [ORDERER_ORG, *HOSPITALS], patients=True)
    hosts = plan.hosts()
    assert [h.name for h in hosts] == ["orderers", "hospitala", "hospitalb", "hospitalc", "patients"]
    assert [h.address for h in hosts] == [f"10.77.5.{10 + i}" for i in range(5)]
    assert dict(plan.addresses())["HospitalB"] == "10.77.5.12" and plan.host(PATIENTS).namespace == "fl-patients"
    assert HostPlan.from_json(plan.to_json()) == plan
    grown = plan.with_member("HospitalD")
    assert grown.host("HospitalD").address == "10.77.5.15" and grown.with_member("HospitalD") == grown
    assert host_name(ORDERER_ORG) == "orderers" and host_name(HOSPITAL_D) == "hospitald"
    with pytest.raises(KeyError, match="no host"):
        plan.host("Regulator")


def test_sites_keep_each_org_apart_on_hosts_and_together_on_one_machine(tmp_path: Path) -> None:
    root = StateDir(tmp_path / "net")
    assert Sites(root).state(HOSPITALS[0]) == root and Sites(root).netns("10.0.0.1") is None
    apart = Sites(root, separate=True, namespaces=(("10.77.5.11", "fl-hospitala"),))
    assert apart.state(HOSPITALS[0]).root == tmp_path / "net" / "orgs" / "hospitala"
    assert apart.state("HospitalA") == apart.state(HOSPITALS[0])
    assert apart.state(ORDERER_ORG).root.name == "ordererorg" and apart.state(PATIENTS).root.name == "patients"
    assert apart.netns("10.77.5.11") == "fl-hospitala" and apart.netns("127.0.0.1") is None


def test_a_consortium_on_hosts_needs_the_plan_s_addresses(tmp_path: Path) -> None:
    plan = consortium_plan("fl", "10.77.5.0/24", [ORDERER_ORG, *Topology().application_orgs])
    net = LocalConsortium.on_hosts(StateDir(tmp_path), plan, 20000, with_aries=False)
    assert net.topology.host_of(HOSPITALS[1]) == "10.77.5.12" and net.sites.separate
    assert {s.host for s in net.launch_specs()} <= {a for _, a in plan.addresses()}
    with pytest.raises(ValueError, match="host plan"):
        LocalConsortium(StateDir(tmp_path), Topology(), hosts=plan)


def _fake_org(state: StateDir, topo: Topology, org: Org, private: bool = False) -> None:
    """The files of an org's crypto folder that a definition copies (certificates as text)."""
    base = state.org_dir(org)
    for rel in ("msp/cacerts/ca.pem", "msp/tlscacerts/ca.pem", "msp/config.yaml",
                f"tlsca/tlsca.{org.domain}-cert.pem", "msp/keystore/priv_sk"):  # fmt: skip
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text("-----BEGIN CERTIFICATE-----\n")
    for node in (n for n in topo.nodes if n.org == org):
        tls = state.node_dir(node) / "tls"
        tls.mkdir(parents=True)
        (tls / "ca.crt").write_text("-----BEGIN PRIVATE KEY-----\n" if private else "-----BEGIN CERTIFICATE-----\n")
        (tls / "server.crt").write_text("-----BEGIN CERTIFICATE-----\n")
        (tls / "server.key").write_text("-----BEGIN PRIVATE KEY-----\n")


def test_an_org_definition_carries_certificates_and_endpoints_never_a_key(tmp_path: Path) -> None:
    topo, org = Topology(), HOSPITALS[0]
    mine, theirs = StateDir(tmp_path / "a"), StateDir(tmp_path / "b")
    _fake_org(mine, topo, org)
    out = org_definitions.export(mine, topo, org, tmp_path / "exchange" / "hospitala")
    shipped = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "endpoints.json" in shipped and not [p for p in shipped if "keystore" in p or p.endswith(".key")]
    org_definitions.receive(out, theirs, org)
    assert (theirs.org_dir(org) / "msp" / "cacerts" / "ca.pem").exists()
    with pytest.raises(ToolError, match="defines"):
        org_definitions.receive(out, theirs, HOSPITALS[1])
    (out / "msp" / "keystore").mkdir()
    (out / "msp" / "keystore" / "priv_sk").write_text("x")
    with pytest.raises(ToolError, match="private key"):
        org_definitions.receive(out, theirs, org)
    leaky = StateDir(tmp_path / "c")
    _fake_org(leaky, topo, org, private=True)
    with pytest.raises(ToolError, match="private key"):
        org_definitions.export(leaky, topo, org, tmp_path / "exchange" / "leaky")


def test_the_runbook_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    one_machine = LocalConsortium(StateDir(tmp_path / "one"), Topology())
    with pytest.raises(ToolError, match="needs a network on hosts"):
        org_admission.init(one_machine, "HospitalD", print)
    plan = consortium_plan("fl", "10.77.5.0/24", [ORDERER_ORG, *Topology().application_orgs])
    hosted = LocalConsortium.on_hosts(StateDir(tmp_path / "hosts"), plan, 20000, with_aries=False)
    for bad in ("hospitalD", "Hospital-D", "H", "HospitalDDDDD"):
        with pytest.raises(ToolError, match="org name"):
            org_admission.init(hosted, bad, print)
    with pytest.raises(ToolError, match="already an org"):
        org_admission.init(hosted, "HospitalB", print)
    with pytest.raises(ToolError, match="not up"):
        org_admission.init(hosted, "HospitalD", print)
    with pytest.raises(ToolError, match="no such config update"):
        org_admission.sign(hosted, tmp_path / "nope.pb", "HospitalA", print)
    with pytest.raises(ToolError, match="has not been initialised"):
        org_admission.join(hosted, "HospitalD", print)
    with pytest.raises(ToolError, match="still a channel member"):
        org_admission.leave(hosted, "HospitalB", print)


def test_a_network_made_before_the_fixed_service_slots_keeps_its_ports() -> None:
    """Its manifest has no layout version: the patients' agent stays on the slot after the last
    node and an upgrade's second generation on the next one, where its packages point."""
    from network.aries import PATIENTS as PATIENTS_AGENT
    from network.aries import ports as aries_ports

    old, new = Topology(port_base=7100, legacy_service_slots=True), Topology(port_base=7100)
    assert aries_ports(old, PATIENTS_AGENT) == (7170, 7171) and aries_ports(new, PATIENTS_AGENT) == (7500, 7501)
    assert [old.chaincode_port(o, 1) for o in old.peer_orgs] == [7180, 7181, 7182, 7183]
    assert [new.chaincode_port(o, 1) for o in new.peer_orgs] == [7510, 7511, 7512, 7513]


def test_a_network_reopens_with_what_it_was_created_with(tmp_path: Path) -> None:
    """A network on hosts made without ACA-Py (no patients' host) reopens without it, and with
    its ordering; one whose manifest predates the flags keeps the old defaults."""
    plan = consortium_plan("fl", "10.77.5.0/24", [ORDERER_ORG, *Topology().application_orgs])
    state = StateDir(tmp_path / "hosts")
    state.write_manifest({"port_base": 20000, "hosts": plan.to_json(), "with_aries": False, "with_ipfs": True,
                          "consensus": "etcdraft", "orderer_count": 3, "added_orderers": 1, "layout": 2})  # fmt: skip
    net = LocalConsortium.open(state.root)
    assert not net.with_aries and net.with_ipfs and net.hosts == plan
    assert [n.name for n in net.topology.orderers] == ["orderer1", "orderer2", "orderer3", "orderer4"]
    old = StateDir(tmp_path / "old")
    old.write_manifest({"port_base": 20000, "ready": True, "aries": True, "ipfs_peers": {"HospitalAMSP": "x"}})
    reopened = LocalConsortium.open(old.root)
    assert reopened.with_aries and reopened.with_ipfs and reopened.topology.legacy_service_slots


def test_refusals_name_the_problem_and_change_nothing(tmp_path: Path) -> None:
    """An unknown org in the runbook, a BFT consenter change, and an orderer beyond the added
    slots are refused with a message before anything is written."""
    from network import orderer_set

    plan = consortium_plan("fl", "10.77.5.0/24", [ORDERER_ORG, *Topology().application_orgs])
    hosted = LocalConsortium.on_hosts(StateDir(tmp_path / "hosts"), plan, 20000, with_aries=False)
    with pytest.raises(ToolError, match="unknown org 'HospitalZ'"):
        org_admission.propose(hosted, "HospitalB", "HospitalZ", print, remove=True)
    full = StateDir(tmp_path / "full")
    full.write_manifest({"port_base": 20000, "ready": True, "layout": 2, "added_orderers": 4})
    before = full.manifest.read_text()
    with pytest.raises(ToolError, match="no slots for more"):
        orderer_set.add_orderer(LocalConsortium.open(full.root), print)
    assert full.manifest.read_text() == before
    bft = StateDir(tmp_path / "bft")
    bft.write_manifest({"port_base": 20000, "ready": True, "layout": 2, "consensus": "BFT", "orderer_count": 4})
    with pytest.raises(ToolError, match="Raft ordering only"):
        orderer_set.remove_orderer(LocalConsortium.open(bft.root), "orderer1", print)
