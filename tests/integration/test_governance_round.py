"""A whole study round on the real network, driven by each org's own identities: admins mint,
stake, propose, approve and enroll (the first test checks each step; the other sets up with the
consortium's sequence, network/admins.py); agents (client identities) open, commit concurrently,
advance, aggregate, validate and settle; the Regulator audits the result."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import uuid

import pytest

from clients.fabric import Checkpoint, GatewayError, SubmitResult
from clients.ledger import CommitArgs, Compliance, Registry, Round, Study, StudyParams, Token
from network import channel
from network.admins import Admins
from network.consortium import LocalConsortium, ledger_client
from network.topology import CHAINCODE_NAME

pytestmark = pytest.mark.integration
HOSPITALS = ("HospitalA", "HospitalB", "HospitalC")


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cid(text: str) -> str:
    return "bafkrei" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")[:52]


class Org:
    """One hospital's two identities on the network: its admin and its agent."""

    def __init__(self, net: LocalConsortium, name: str, admins: Admins) -> None:
        self.name = name
        self.msp = net.org(name).msp_id
        self.admin = admins.ledger(name)
        self._gw = net.gateway(name, "User1")
        self.agent = ledger_client(self._gw)

    def close(self) -> None:
        self._gw.close()


def everywhere(orgs: dict[str, Org], result: SubmitResult) -> SubmitResult:
    """Wait until every hospital's peer committed ``result``'s transaction, as an event-driven
    agent would (it reacts to events its own peer delivers after committing the block)."""
    for o in orgs.values():
        assert o.agent.wait_for_commit(result.tx_id)[0] == 0
    return result


@pytest.fixture(scope="module")
def admins(network: LocalConsortium):
    """The hospitals' admins, registered (with fresh share keys) unless they are already."""
    with Admins(network, list(HOSPITALS)) as out:
        registered = {e["msp_id"] for e in out.ledger(HOSPITALS[0]).evaluate(Registry.list())}
        out.register({n: base64.b64encode(os.urandom(32)).decode() for n in HOSPITALS
                      if network.org(n).msp_id not in registered})  # fmt: skip
        yield out


@pytest.fixture(scope="module")
def orgs(network: LocalConsortium, admins: Admins):
    out = {n: Org(network, n, admins) for n in HOSPITALS}
    yield out
    for o in out.values():
        o.close()


def study_args(study_id: str) -> StudyParams:
    return {
        "study_id": study_id,
        "title": "Integration study",
        "model": "logreg-d30-c2",
        "model_spec_hash": h("logreg"),
        "model_cid": cid("initial-model"),
        "model_hash": h("initial-weights"),
        "data_schema_hash": h("schema"),
        "epsilon_budget_micro": 3_000_000,
        "delta_e12": 10_000_000,
        "rounds": 2,
        "local_steps": 50,
        "audit_rate_ppm": 0,
        "committee_size": 3,
        "committee_threshold": 2,
        "participants_per_round": 2,
        "min_participants": 2,
        "min_stake": 100,
        "reward_pool": 2000,
        "reward_per_round": 1000,
        "missing_slash": 50,
        "cheat_slash": 100,
        "commit_window_s": 300,
        "prove_window_s": 300,
        "aggregate_window_s": 300,
        "validation_window_s": 300,
    }


def test_a_study_round_end_to_end(network: LocalConsortium, orgs: dict[str, Org]) -> None:
    a, b, c = (orgs[n] for n in HOSPITALS)
    run = uuid.uuid4().hex[:6]
    study_id = f"it-{run}"
    regulator_gw = network.gateway("Regulator", "User1")
    reg = ledger_client(regulator_gw)
    supply_before = reg.evaluate(Token.supply())

    # tokens enter by majority-approved mints (2 of 3 registered hospitals)
    for o in (a, b, c):
        proposed = a.admin.submit(Token.propose_mint(f"m-{run}-{o.msp.lower()}", o.msp, 5000))
        mint = everywhere(orgs, proposed).json()  # B's peer must know the proposal before B approves
        assert mint["status"] == "PROPOSED"
        approved = b.admin.submit(Token.approve_mint(mint["mint_id"]))
        assert approved.json()["status"] == "EXECUTED"
        # the recipient acts on its own peer, which must have committed the mint first
        assert o.admin.wait_for_commit(approved.tx_id)[0] == 0
        o.admin.submit(Token.stake(1000))

    # the Regulator may not write, a client identity may not propose
    with network.ledger("Regulator", "Admin") as regulator_admin, pytest.raises(GatewayError) as refused:
        regulator_admin.submit(Study.propose(study_args(study_id)))
    assert refused.value.chaincode_status == 403
    with pytest.raises(GatewayError) as refused:
        a.agent.submit(Study.propose(study_args(study_id)))
    assert refused.value.chaincode_status == 403

    study = everywhere(orgs, a.admin.submit(Study.propose(study_args(study_id)))).json()
    assert study["status"] == "PROPOSED"
    approved = everywhere(orgs, b.admin.submit(Study.approve(study_id)))
    assert approved.json()["status"] == "ACTIVE"
    for o in (a, b, c):
        everywhere(orgs, o.admin.submit(Study.enroll(study_id)))

    # agents learn about the round from chaincode events
    start = channel.peer_height(network.topology, network.state, network.org("HospitalC"))
    stream = c.agent.network.chaincode_events(CHAINCODE_NAME, Checkpoint(start))
    seen: list = []

    def watch() -> None:
        for ev in stream:
            seen.append(ev)
            if ev.name == "round.opened":
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rnd = everywhere(orgs, a.agent.submit(Round.open(study_id))).json()
    watcher.join(timeout=30)
    stream.close()
    assert seen and seen[-1].name == "round.opened" and seen[-1].json()["participants"] == rnd["participants"]
    assert len(rnd["participants"]) == 2 and len(rnd["committee"]) == 3

    # an org that was not selected cannot commit; the selected ones commit concurrently
    by_msp = {o.msp: o for o in (a, b, c)}
    outsider = next(o for m, o in by_msp.items() if m not in rnd["participants"])
    commit: CommitArgs = {
        "study_id": study_id,
        "round": 0,
        "update_hash": h("u"),
        "step_root": h("r"),
        "sample_bucket": 7,
        "epsilon_micro": 1_000_000,
        "share_cids": [cid("s1")],
        "consented_records": 120,
    }
    with pytest.raises(GatewayError) as refused:
        outsider.agent.submit(Round.commit(commit))
    assert refused.value.chaincode_status == 403
    errors: list = []

    def do_commit(o: Org) -> None:
        try:
            everywhere(orgs, o.agent.submit(Round.commit({**commit, "update_hash": h(f"u-{o.msp}")})))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=do_commit, args=(by_msp[m],)) for m in rnd["participants"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    rnd = everywhere(orgs, c.agent.submit(Round.advance(study_id, 0))).json()
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == rnd["participants"]
    for m in rnd["committee"][:2]:
        everywhere(orgs, by_msp[m].agent.submit(Round.submit_aggregate(study_id, 0, cid(f"g-{run}"), h(run))))
    for o in (a, b, c):
        everywhere(orgs, o.agent.submit(Round.report_validation(study_id, 0, 930_000, previous_metric_ppm=900_000)))
    settled_tx = b.agent.submit(Round.settle(study_id, 0))
    reg.wait_for_commit(settled_tx.tx_id)  # the compliance officer reads the Regulator's own peer
    settled = settled_tx.json()
    assert settled["state"] == "FINALIZED" and settled["settled"]
    assert sorted(settled["rewards"]) == rnd["participants"] and sum(settled["rewards"].values()) <= 1000

    # the compliance officer's view
    lineage = reg.evaluate(Compliance.model_lineage(study_id))
    v0 = lineage["versions"][0]
    assert v0["model_out"]["hash"] == h(run) and v0["contributors"] == rnd["participants"]
    assert v0["audited"] is False and "unaudited" in v0["audit_note"]
    timeline = reg.evaluate(Compliance.study_timeline(study_id))
    assert [e["action"] for e in timeline][:2] == ["study.proposed", "study.approved"]
    supply = reg.evaluate(Token.supply())
    assert supply["conserved"] and supply["minted"] == supply_before["minted"] + 15_000
    regulator_gw.close()


def test_deadlines_in_transaction_time_slash_a_missing_participant(
    network: LocalConsortium, admins: Admins, orgs: dict[str, Org]
) -> None:
    a, _, _ = (orgs[n] for n in HOSPITALS)
    run = uuid.uuid4().hex[:6]
    study_id = f"dl-{run}"
    admins.fund(f"d-{run}", 1000)  # a fresh mint each and stake, so the test stands alone
    admins.stake(500)
    admins.create_study({**study_args(study_id), "participants_per_round": 3, "min_participants": 2,
                         "commit_window_s": 2, "rounds": 1, "reward_pool": 1000})  # fmt: skip
    rnd = everywhere(orgs, a.agent.submit(Round.open(study_id))).json()
    by_msp = {o.msp: o for o in orgs.values()}
    absent = rnd["participants"][-1]
    commit = {"study_id": study_id, "round": 0, "step_root": h("r"), "sample_bucket": 3, "epsilon_micro": 500_000}
    for m in rnd["participants"][:-1]:
        everywhere(orgs, by_msp[m].agent.submit(Round.commit({**commit, "update_hash": h(m)})))
    with pytest.raises(GatewayError) as early:
        a.agent.submit(Round.advance(study_id, 0))
    assert early.value.chaincode_status == 409 and "2/3 committed" in str(early.value)
    staked = by_msp[absent].agent.evaluate(Token.account(absent))["staked"]
    import time

    time.sleep(2.5)  # the commit window, measured in transaction timestamps, closes
    with pytest.raises(GatewayError) as late:
        by_msp[absent].agent.submit(Round.commit({**commit, "update_hash": h(absent)}))
    assert late.value.chaincode_status == 409 and "deadline passed" in str(late.value)
    rnd = everywhere(orgs, a.agent.submit(Round.advance(study_id, 0))).json()
    assert rnd["missing"] == [absent] and rnd["state"] == "AGGREGATE"
    assert by_msp[absent].agent.evaluate(Token.account(absent))["staked"] == staked - 50
    slashes = a.agent.evaluate(Compliance.slashings(absent))
    assert any(s["study"] == study_id and s["reason"] == "missed the commit deadline" for s in slashes)
