"""A consortium whose orgs each run on a host of their own (network namespaces on one bridge,
network/hosts.py), with their own CA and state directory (network/sites.py), driven the way
its admins drive it: a study runs across the hosts; a hospital's host is cut off mid-round
and the others go on by the deadline rules, then it catches up; a fourth hospital is admitted
to the running channel through the `fedledger org` runbook and is selected in the next round;
the chaincode is upgraded mid-round; the fourth hospital is removed again and its writes are
refused from then on."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from rich.console import Console

from agent.consent.credentials import PatientSide, register, stored_consents
from agent.keys import public_b64
from clients.fabric import GatewayError
from clients.kubo import IPFSClient
from clients.ledger import Call, LedgerClient, Round, Study, Token
from demo.agent_study import StudyPlan, run_agent_study
from demo.consortium_admin import register_hospitals
from fedledger.cli import cli
from network import channel, lifecycle, process
from network.admins import Admins
from network.chaincode_upgrade import upgrade_chaincode
from network.compose import MOUNT, compose_document
from network.consortium import LocalConsortium
from network.host_plan import consortium_plan
from network.hosts import HostLab
from network.org_definitions import holds_private_key
from network.state import StateDir
from network.topology import ORDERER_ORG, Topology
from tests.integration.hospitals import NAMES, consortium, one_round_study

pytestmark = pytest.mark.integration
# a second test session on this machine sets its own lab (and FEDLEDGER_TEST_PORT_BASE)
LAB = os.environ.get("FEDLEDGER_TEST_LAB", "flmh")
SUBNET = os.environ.get("FEDLEDGER_TEST_SUBNET", "10.77.20.0/24")
COMMIT_WINDOW_S = 45


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    root = tmp_path_factory.mktemp("hosted") / "network"
    base = int(os.environ.get("FEDLEDGER_TEST_PORT_BASE", "17100")) + 1000
    plan = consortium_plan(LAB, SUBNET, [ORDERER_ORG, *Topology().application_orgs], patients=True)
    net = LocalConsortium.on_hosts(StateDir(root), plan, base, progress=lambda m: print(f"[hosts] {m}"),
                                   test_contracts=True)  # fmt: skip
    started = time.monotonic()
    try:
        net.up()
    except Exception:
        net.down()
        raise
    print(f"[hosts] six hosts (five orgs, the patients' agent) up in {time.monotonic() - started:.1f}s")
    yield net
    net = LocalConsortium.open(root)  # the topology as the tests left it (orgs joined or removed)
    records = {s.name: s.pid for s in net.status() if s.pid}
    net.down()
    survivors = [name for name, pid in records.items() if process.pid_alive(pid)]
    assert not survivors, f"processes survived `network down`: {survivors}"
    assert HostLab(LAB, SUBNET).namespaces() == [], "the hosts outlived `network down`"


def _netns_of(pid: int) -> str:
    return subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True, check=True,
                          timeout=10).stdout.strip()  # fmt: skip


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except (InvalidSignature, TypeError, ValueError):  # another key type or a bad signature: not issued by it
        return False
    return cert.issuer == ca.subject


def test_every_org_runs_on_its_own_host_and_holds_only_its_own_keys(hosted: LocalConsortium) -> None:
    topo, plan = hosted.topology, hosted.hosts
    assert plan is not None
    statuses = hosted.status()
    assert {s.kind for s in statuses} == {"ca", "orderer", "peer", "chaincode", "ipfs", "aries"}
    for s in statuses:
        assert s.healthy, f"{s.name} is not healthy"
        assert _netns_of(s.pid) == plan.host(s.org).namespace, f"{s.name} runs outside {s.org}'s host"  # type: ignore[arg-type]
    # no process is handed a path in another org's state directory
    orgs_root = hosted.state.root / "orgs"
    for spec in hosted.launch_specs():
        own = hosted.state_of(spec.owner).root
        for value in [*spec.env.values(), *spec.argv]:
            for part in value.strip("[]").split(","):
                if part.startswith(str(orgs_root)):
                    assert Path(part).is_relative_to(own), f"{spec.name} is given {part}, outside {own}"
    # what crossed between orgs holds no key; what an org holds of another org is certificates only
    exchanged = [p for p in hosted.sites.exchange.rglob("*") if p.is_file()]
    assert exchanged and not [p for p in exchanged if holds_private_key(p)]
    for org in topo.orgs:
        site = hosted.state_of(org)
        for other in topo.orgs:
            held = [p for p in site.org_dir(other).rglob("*") if p.is_file()]
            keys = [p for p in held if holds_private_key(p)]
            assert held, f"{org.name} holds nothing of {other.name}"
            assert (keys != []) == (other == org), f"{org.name} holds {len(keys)} private keys of {other.name}"
    # docker-compose.fabric.yml, generated from this topology, names certificate and key files
    # that exist in each service's own org directory (its volume)
    doc = compose_document(plan, topo.port_base)
    checked = 0
    for name, service in doc["services"].items():
        org_dir = hosted.state.root / "orgs" / service["volumes"][0].split(":")[0].removeprefix("./orgs/")
        for value in service["environment"].values():
            if value.startswith(f"{MOUNT}/") and ("/crypto/" in value or "/tls/" in value):
                assert (org_dir / value.removeprefix(f"{MOUNT}/")).exists(), f"{name}: {value} is not in {org_dir}"
                checked += 1
    assert checked >= 3 * len(doc["services"]) // 2
    # each org's identities come from its own CA, and no other org's CA vouches for them
    for org in topo.peer_orgs:
        site = hosted.state_of(org)
        peer_cert = _cert(site.node_dir(topo.peer_of(org)) / "msp" / "signcerts" / "cert.pem")
        for other in topo.orgs:
            ca = _cert(site.org_dir(other) / "msp" / "cacerts" / "ca.pem")
            assert _issued_by(peer_cert, ca) == (other == org)


def test_consent_credentials_cross_hosts_through_acapy(hosted: LocalConsortium) -> None:
    """The patients' ACA-Py agent, on a host of its own, issues consent credentials over DIDComm
    to HospitalA's agent on HospitalA's host; HospitalA registers them on the ledger, where the
    chaincode verifies them."""
    net = LocalConsortium.open(hosted.state.root)
    a_msp = net.org("HospitalA").msp_id
    side = PatientSide(net.aries("patients"), net.aries_connections())
    now = int(time.time() * 1000)
    patients = [side.new_patient([a_msp]) for _ in range(2)]
    grants = [side.grant(p, a_msp, f"hosts-{uuid.uuid4().hex[:6]}", now - 3_600_000, now + 86_400_000)
              for p in patients]  # fmt: skip
    subjects = [p.pairwise[a_msp] for p in patients]
    vcs = {vc["credentialSubject"]["id"]: vc for vc in stored_consents(net.aries("HospitalA"), subjects)}
    hospitals = [net.org(n).msp_id for n in NAMES]
    with net.ledger("HospitalA", "User1") as a:
        ids = {s: register(a, vcs[s], hospitals)["consent_id"] for s in subjects}
    assert ids == {g.subject: g.consent_id for g in grants}
    aries_agents = [s for s in net.status() if s.kind == "aries"]
    assert len(aries_agents) == 4 and all(s.healthy for s in aries_agents)
    for s in aries_agents:
        assert _netns_of(s.pid) == net.hosts.host(s.org).namespace  # type: ignore[union-attr]


def test_hospital_agents_on_their_own_hosts_run_a_study(hosted: LocalConsortium) -> None:
    """Three hospital agents (`fedledger agent run`, DP training, secure committee), each inside
    its hospital's host, reaching its own peer and Kubo daemon on its host's address and reading
    only its own files, run a two-round study to the end."""
    net = LocalConsortium.open(hosted.state.root)
    with Admins(net) as admins:
        register_hospitals(admins)
    run = run_agent_study(net, Console(width=120, force_terminal=False), StudyPlan(rounds=2), timeout_s=600)
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"] * 2
    assert run.report.aggregation == "secure" and all(row["rewards"] for row in run.report.rounds)
    for cfg in run.agents.values():
        org, host = net.org(cfg.org), net.hosts.host(cfg.org)  # type: ignore[union-attr]
        site = net.state_of(org).root
        assert cfg.gateway_address == net.topology.peer_of(org).address and host.address in cfg.ipfs_api
        for path in (cfg.state_dir, cfg.msp_dir, cfg.tls_ca, cfg.keys_dir, cfg.train, cfg.validation, cfg.schema):
            assert path.is_relative_to(site), f"{cfg.org}'s agent reads {path}, outside {site}"
        started = (cfg.state_dir / "agent.out").read_text()
        assert f"ip netns exec {host.namespace} " in started, f"{cfg.org}'s agent did not run on its host"


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _submit(ledgers: dict[str, LedgerClient], name: str, call: Call, wait_on: list[str]) -> Any:
    """Submit as ``name``'s agent; wait until the peers of ``wait_on`` have committed it."""
    result = ledgers[name].submit(call)
    for other in wait_on:
        ledgers[other].wait_for_commit(result.tx_id)
    return result.json()


def _commit(sid: str, rnd: int, msp: str, cid: str) -> Call:
    return Round.commit({"study_id": sid, "round": rnd, "update_hash": _h(cid), "step_root": _h(f"root-{msp}"),
                         "sample_bucket": 7, "epsilon_micro": 900_000, "share_cids": [cid],
                         "consented_records": 150})  # fmt: skip


def _runbook(root: Path, *args: str) -> str:
    """One `fedledger org` step as its admin would run it; returns what it printed."""
    done = CliRunner().invoke(cli, ["org", *args, "--state-dir", str(root)], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.output


def _heights_agree(net: LocalConsortium, names: list[str], timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        heights = {n: channel.peer_height(net.topology, net.state_of(net.org(n)), net.org(n)) for n in names}
        if len(set(heights.values())) == 1:
            return next(iter(heights.values()))
        assert time.monotonic() < deadline, f"peers disagree on the height: {heights}"
        time.sleep(0.5)


def test_a_study_across_hosts_survives_a_partition_admits_a_hospital_and_an_upgrade(
    hosted: LocalConsortium, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    hosted = LocalConsortium.open(hosted.state.root)  # as the earlier tests left it
    sid, root = f"hosts-{run}", hosted.state.root
    a, b, c = NAMES
    with consortium(hosted, tmp_path, run) as cons:
        _, model0 = cons.initial_model(f"{sid}/initial")
        params = {**one_round_study(model0, _h("schema"), "across hosts"), "rounds": 2, "participants_per_round": 4,
                  "min_participants": 2, "commit_window_s": COMMIT_WINDOW_S, "reward_pool": 400,
                  "reward_per_round": 200}  # fmt: skip
        cons.study(sid, params)
        ledgers = dict(cons.agents)

        # round 0: HospitalC's host is cut off; A and B commit, the deadline passes, the round goes on
        rnd = cons.tx(a, Round.open(sid))
        assert sorted(rnd["participants"]) == sorted(hosted.org(n).msp_id for n in NAMES)
        hosted.cut(c)
        cut_at = time.monotonic()
        for n in (a, b):
            cid = cons.hospitals[hosted.org(n).msp_id].ipfs.add(f"update of {n} {run}".encode())
            _submit(ledgers, n, _commit(sid, 0, hosted.org(n).msp_id, cid), [a, b])
            print(f"[hosts] {n} committed {time.monotonic() - cut_at:.1f}s after the cut")
        time.sleep(max(0.0, COMMIT_WINDOW_S + 1 - (time.monotonic() - cut_at)))
        rnd = _submit(ledgers, a, Round.advance(sid, 0), [a, b])
        assert rnd["state"] == "AGGREGATE"
        assert set(rnd["dropped"]) == {hosted.org(c).msp_id}

        # C's link returns: its peer catches up, and reads the same round (nothing lost or doubled)
        hosted.restore(c)
        _heights_agree(hosted, [a, b, c])
        seen = {n: ledgers[n].evaluate(Round.get(sid, 0)) for n in NAMES}
        assert seen[a] == seen[b] == seen[c]
        assert sorted(seen[c]["commitments"]) == sorted(hosted.org(n).msp_id for n in (a, b))
        aggregator = cons.name_of(rnd["committee"][0])
        model_cid = cons.hospitals[rnd["committee"][0]].ipfs.add(f"model 0 {run}".encode())
        assert cons.tx(aggregator, Round.submit_aggregate(sid, 0, model_cid, _h("model0")))["state"] == "FINALIZED"
        for n in NAMES:
            cons.tx(n, Round.report_validation(sid, 0, 910_000, 900_000))
        cons.tx(b, Round.settle(sid, 0))

        # HospitalD is admitted while the study runs, through the runbook, each step by its party
        started = time.monotonic()
        said = _runbook(root, "init", "--name", "HospitalD")
        assert "org propose --org HospitalD" in said
        said = _runbook(root, "propose", "--org", "HospitalD", "--as", a)
        update = root / "exchange" / "updates" / "add-hospitald.pb"
        assert str(update) in said
        assert "1 of 3 needed" in said
        with pytest.raises(Exception, match="only 2 of 3 signatures"):
            CliRunner().invoke(cli, ["org", "submit", "--update", str(update), "--as", b, "--state-dir", str(root)],
                               catch_exceptions=False, standalone_mode=False)  # fmt: skip
        assert "2 of 3 needed" in _runbook(root, "sign", "--update", str(update), "--as", b)
        assert "the channel admits HospitalD" in _runbook(root, "submit", "--update", str(update), "--as", c)
        assert "is a member" in _runbook(root, "join", "--org", "HospitalD")
        net = LocalConsortium.open(root)
        d = net.org("HospitalD")
        assert net.hosts is not None and _netns_of(next(s.pid for s in net.status() if s.name == "peer0.hospitald")
                                                   ) == net.hosts.host(d).namespace  # fmt: skip
        with net.ledger(d.name, "User1") as d_ledger, Admins(net, [a, b, c, d.name]) as admins:
            ledgers[d.name] = d_ledger
            admins.register({d.name: public_b64(x25519.X25519PrivateKey.generate())})
            join_s = time.monotonic() - started  # from `org init` to its first committed write
            admins.fund(f"{run}-d", 1000, below=1)
            admins.stake(500, below=1)
            admins.tx(d.name, Study.enroll(sid))
            print(f"[hosts] HospitalD joined and registered in {join_s:.1f}s")

            # round 1 selects HospitalD; the chaincode is upgraded while the round is open
            everyone = [a, b, c, d.name]
            rnd = _submit(ledgers, a, Round.open(sid), everyone)
            assert d.msp_id in rnd["participants"] and len(rnd["participants"]) == 4
            d_ipfs = IPFSClient(net.ipfs_api(d.name))
            d_cid = d_ipfs.add(f"update of HospitalD {run}".encode())
            _submit(ledgers, d.name, _commit(sid, 1, d.msp_id, d_cid), everyone)
            old = net.state.read_manifest()["chaincode"]
            record = upgrade_chaincode(net, f"{old['version']}.{run}", say=print)
            assert record["sequence"] == old["sequence"] + 1 and d.msp_id in record["package_ids"]
            for org in net.member_peer_orgs:
                assert lifecycle.committed_sequence(net.topology, net.state_of(org), org) == record["sequence"]
            for n in (a, b, c):
                cid = cons.hospitals[net.org(n).msp_id].ipfs.add(f"update 1 of {n} {run}".encode())
                _submit(ledgers, n, _commit(sid, 1, net.org(n).msp_id, cid), everyone)
            assert _submit(ledgers, a, Round.advance(sid, 1), everyone)["state"] == "AGGREGATE"
            rnd = ledgers[d.name].evaluate(Round.get(sid, 1))
            assert set(rnd["commitments"]) == set(rnd["participants"]) and d.msp_id in rnd["commitments"]
            # D's update, stored on D's host, reaches A's host over bitswap
            assert IPFSClient(net.ipfs_api(a)).cat(d_cid) == f"update of HospitalD {run}".encode()
            aggregator = next(n for n in everyone if net.org(n).msp_id == rnd["committee"][0])
            model_cid = IPFSClient(net.ipfs_api(aggregator)).add(f"model 1 {run}".encode())
            agg = _submit(ledgers, aggregator, Round.submit_aggregate(sid, 1, model_cid, _h("model1")), everyone)
            assert agg["state"] == "FINALIZED"
            for n in everyone:
                _submit(ledgers, n, Round.report_validation(sid, 1, 920_000, 910_000), everyone)
            final = _submit(ledgers, b, Round.settle(sid, 1), everyone)
            assert final["settled"]

            # HospitalD is removed again: from the commit of the update on, its writes are refused
            said = _runbook(root, "propose", "--org", d.name, "--remove", "--as", a)
            update = root / "exchange" / "updates" / "remove-hospitald.pb"
            assert str(update) in said
            _runbook(root, "sign", "--update", str(update), "--as", b)
            assert "no longer a channel member" in _runbook(root, "submit", "--update", str(update), "--as", c)
            deadline = time.monotonic() + 30
            while True:  # staking one more of its free tokens: a write its admin may make as a member
                try:
                    admins.ledger(d.name).submit(Token.stake(1))
                except GatewayError as exc:
                    assert exc.chaincode_status is None, f"refused by the chaincode, not the channel: {exc}"
                    print(f"[hosts] HospitalD refused after its removal: {exc}")
                    break
                assert time.monotonic() < deadline, "HospitalD's writes are still accepted after its removal"
                time.sleep(1)
            assert "stopped" in _runbook(root, "leave", "--org", d.name)
    net = LocalConsortium.open(root)
    assert d.name not in [o.name for o in net.topology.application_orgs]
    assert {s.name for s in net.status()} >= {f"peer0.{o.short}" for o in net.topology.peer_orgs}
    print(f"[hosts] join_s={join_s:.1f}")


def test_an_orderer_joins_the_consenter_set_and_another_leaves(hosted: LocalConsortium) -> None:
    """The orderer org's admin adds orderer4 (enrolled from its own CA, started on its host, named
    a consenter by a config update, joined from the latest config block), then removes
    orderer1; writes commit throughout, with the three that remain."""
    root = hosted.state.root

    def write(net: LocalConsortium, tag: str) -> None:
        with Admins(net, ["HospitalA"]) as admins:
            admins.register({"HospitalA": public_b64(x25519.X25519PrivateKey.generate())})
        assert net.ordering_leader() in [n.name for n in net.topology.orderers], tag

    done = CliRunner().invoke(cli, ["network", "add-orderer", "--state-dir", str(root)], catch_exceptions=False)
    assert done.exit_code == 0 and "orderer4 joined" in done.output, done.output
    net = LocalConsortium.open(root)
    orderer4 = net.topology.node("orderer4")
    assert orderer4.host == net.topology.host_of(ORDERER_ORG)
    status = channel.orderer_channel_status(net.state_of(ORDERER_ORG), orderer4)
    assert status["consensusRelation"] == "consenter" and status["status"] == "active"
    write(net, "with four orderers")

    done = CliRunner().invoke(cli, ["network", "remove-orderer", "orderer1", "--state-dir", str(root)],
                              catch_exceptions=False)  # fmt: skip
    assert done.exit_code == 0 and "orderers: orderer2, orderer3, orderer4" in done.output, done.output
    net = LocalConsortium.open(root)
    assert not process.alive(process.read_record(net.pid_file(ORDERER_ORG, "orderer1")))
    write(net, "without orderer1")
    refused = CliRunner().invoke(cli, ["network", "remove-orderer", "orderer2", "--state-dir", str(root)])
    assert refused.exit_code == 1 and "fewer than 3 orderers" in refused.output
