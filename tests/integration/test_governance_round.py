"""A whole study round on the real network, driven by each org's own identities: admins mint,
stake, propose, approve and enroll; agents (client identities) open, commit concurrently,
advance, aggregate, validate and settle; the Regulator audits the result."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
import uuid

import pytest

from clients.fabric import Checkpoint, Contract, GatewayError, SubmitResult
from network import channel
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration
HOSPITALS = ("HospitalA", "HospitalB", "HospitalC")


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cid(text: str) -> str:
    return "bafkrei" + base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")[:52]


class Org:
    """One hospital's two identities on the network: its admin and its agent."""

    def __init__(self, net: LocalConsortium, name: str) -> None:
        self.name = name
        self.msp = net.org(name).msp_id
        self._gws = [net.gateway(name, "Admin"), net.gateway(name, "User1")]
        self.admin_net, self.agent_net = (g.network(CHANNEL) for g in self._gws)

    def admin(self, contract: str) -> Contract:
        return self.admin_net.contract(CHAINCODE_NAME, contract)

    def agent(self, contract: str) -> Contract:
        return self.agent_net.contract(CHAINCODE_NAME, contract)

    def close(self) -> None:
        for g in self._gws:
            g.close()


def everywhere(orgs: dict[str, Org], result: SubmitResult) -> SubmitResult:
    """Wait until every hospital's peer committed ``result``'s transaction, as an event-driven
    agent would (it reacts to events its own peer delivers after committing the block)."""
    for o in orgs.values():
        assert o.agent_net.wait_for_commit(result.tx_id)[0] == 0
    return result


@pytest.fixture(scope="module")
def orgs(network: LocalConsortium):
    out = {n: Org(network, n) for n in HOSPITALS}
    for o in out.values():
        try:
            registered = o.admin("Registry").submit(
                "Register",
                {
                    "msp_id": o.msp,
                    "display_name": o.name,
                    "share_key": base64.b64encode(os.urandom(32)).decode(),
                    "contact": f"fl@{o.name.lower()}.org",
                },
            )
            everywhere(out, registered)
        except GatewayError as exc:
            assert exc.chaincode_status == 409, exc
    yield out
    for o in out.values():
        o.close()


def study_args(study_id: str) -> dict:
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
    reg = regulator_gw.network(CHANNEL)
    supply_before = reg.contract(CHAINCODE_NAME, "Token").evaluate("Supply")

    # tokens enter by majority-approved mints (2 of 3 registered hospitals)
    for o in (a, b, c):
        proposed = a.admin("Token").submit(
            "ProposeMint", {"mint_id": f"m-{run}-{o.msp.lower()}", "to": o.msp, "amount": 5000}
        )
        mint = everywhere(orgs, proposed).json()  # B's peer must know the proposal before B approves
        assert mint["status"] == "PROPOSED"
        approved = b.admin("Token").submit("ApproveMint", {"mint_id": mint["mint_id"]})
        assert approved.json()["status"] == "EXECUTED"
        # the recipient acts on its own peer, which must have committed the mint first
        assert o.admin_net.wait_for_commit(approved.tx_id)[0] == 0
        o.admin("Token").submit("Stake", {"amount": 1000})

    # the Regulator may not write, a client identity may not propose
    with pytest.raises(GatewayError) as refused:
        network.gateway("Regulator", "Admin").network(CHANNEL).contract(CHAINCODE_NAME, "Study").submit(
            "Propose", study_args(study_id)
        )
    assert refused.value.chaincode_status == 403
    with pytest.raises(GatewayError) as refused:
        a.agent("Study").submit("Propose", study_args(study_id))
    assert refused.value.chaincode_status == 403

    study = everywhere(orgs, a.admin("Study").submit("Propose", study_args(study_id))).json()
    assert study["status"] == "PROPOSED"
    approved = everywhere(orgs, b.admin("Study").submit("Approve", {"study_id": study_id}))
    assert approved.json()["status"] == "ACTIVE"
    for o in (a, b, c):
        everywhere(orgs, o.admin("Study").submit("Enroll", {"study_id": study_id}))

    # agents learn about the round from chaincode events
    start = channel.peer_height(network.topology, network.state, network.org("HospitalC"))
    stream = c.agent_net.chaincode_events(CHAINCODE_NAME, Checkpoint(start))
    seen: list = []

    def watch() -> None:
        for ev in stream:
            seen.append(ev)
            if ev.name == "round.opened":
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rnd = everywhere(orgs, a.agent("Round").submit("Open", {"study_id": study_id})).json()
    watcher.join(timeout=30)
    stream.close()
    assert seen and seen[-1].name == "round.opened" and seen[-1].json()["participants"] == rnd["participants"]
    assert len(rnd["participants"]) == 2 and len(rnd["committee"]) == 3

    # an org that was not selected cannot commit; the selected ones commit concurrently
    by_msp = {o.msp: o for o in (a, b, c)}
    outsider = next(o for m, o in by_msp.items() if m not in rnd["participants"])
    commit = {
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
        outsider.agent("Round").submit("Commit", commit)
    assert refused.value.chaincode_status == 403
    errors: list = []

    def do_commit(o: Org) -> None:
        try:
            everywhere(orgs, o.agent("Round").submit("Commit", {**commit, "update_hash": h(f"u-{o.msp}")}))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=do_commit, args=(by_msp[m],)) for m in rnd["participants"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    rnd = everywhere(orgs, c.agent("Round").submit("Advance", {"study_id": study_id, "round": 0})).json()
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == rnd["participants"]
    for m in rnd["committee"][:2]:
        agg = {"study_id": study_id, "round": 0, "model_cid": cid(f"g-{run}"), "model_hash": h(run)}
        everywhere(orgs, by_msp[m].agent("Round").submit("SubmitAggregate", agg))
    for o in (a, b, c):
        report = {"study_id": study_id, "round": 0, "metric_ppm": 930_000, "previous_metric_ppm": 900_000}
        everywhere(orgs, o.agent("Round").submit("ReportValidation", report))
    settled_tx = b.agent("Round").submit("Settle", {"study_id": study_id, "round": 0})
    reg.wait_for_commit(settled_tx.tx_id)  # the compliance officer reads the Regulator's own peer
    settled = settled_tx.json()
    assert settled["state"] == "FINALIZED" and settled["settled"]
    assert sorted(settled["rewards"]) == rnd["participants"] and sum(settled["rewards"].values()) <= 1000

    # the compliance officer's view
    lineage = reg.contract(CHAINCODE_NAME, "Compliance").evaluate("ModelLineage", {"study_id": study_id})
    v0 = lineage["versions"][0]
    assert v0["model_out"]["hash"] == h(run) and v0["contributors"] == rnd["participants"]
    assert v0["audited"] is False and "unaudited" in v0["audit_note"]
    timeline = reg.contract(CHAINCODE_NAME, "Compliance").evaluate("StudyTimeline", {"study_id": study_id})
    assert [e["action"] for e in timeline][:2] == ["study.proposed", "study.approved"]
    supply = reg.contract(CHAINCODE_NAME, "Token").evaluate("Supply")
    assert supply["conserved"] and supply["minted"] == supply_before["minted"] + 15_000
    regulator_gw.close()


def test_deadlines_in_transaction_time_slash_a_missing_participant(
    network: LocalConsortium, orgs: dict[str, Org]
) -> None:
    a, b, c = (orgs[n] for n in HOSPITALS)
    run = uuid.uuid4().hex[:6]
    study_id = f"dl-{run}"
    for o in (a, b, c):  # fund and stake (a fresh mint each, so the test stands alone)
        mint = everywhere(
            orgs,
            a.admin("Token").submit(
                "ProposeMint", {"mint_id": f"d-{run}-{o.msp.lower()}", "to": o.msp, "amount": 1000}
            ),
        )
        approved = b.admin("Token").submit("ApproveMint", {"mint_id": mint.json()["mint_id"]})
        o.admin_net.wait_for_commit(approved.tx_id)
        o.admin("Token").submit("Stake", {"amount": 500})
    args = {
        **study_args(study_id),
        "participants_per_round": 3,
        "min_participants": 2,
        "commit_window_s": 2,
        "rounds": 1,
        "reward_pool": 1000,
    }
    everywhere(orgs, a.admin("Study").submit("Propose", args))
    everywhere(orgs, b.admin("Study").submit("Approve", {"study_id": study_id}))
    for o in (a, b, c):
        everywhere(orgs, o.admin("Study").submit("Enroll", {"study_id": study_id}))
    rnd = everywhere(orgs, a.agent("Round").submit("Open", {"study_id": study_id})).json()
    by_msp = {o.msp: o for o in (a, b, c)}
    absent = rnd["participants"][-1]
    commit = {"study_id": study_id, "round": 0, "step_root": h("r"), "sample_bucket": 3, "epsilon_micro": 500_000}
    for m in rnd["participants"][:-1]:
        everywhere(orgs, by_msp[m].agent("Round").submit("Commit", {**commit, "update_hash": h(m)}))
    with pytest.raises(GatewayError) as early:
        a.agent("Round").submit("Advance", {"study_id": study_id, "round": 0})
    assert early.value.chaincode_status == 409 and "2/3 committed" in str(early.value)
    staked = by_msp[absent].agent("Token").evaluate("Account", {"msp_id": absent})["staked"]
    import time

    time.sleep(2.5)  # the commit window, measured in transaction timestamps, closes
    with pytest.raises(GatewayError) as late:
        by_msp[absent].agent("Round").submit("Commit", {**commit, "update_hash": h(absent)})
    assert late.value.chaincode_status == 409 and "deadline passed" in str(late.value)
    rnd = everywhere(orgs, a.agent("Round").submit("Advance", {"study_id": study_id, "round": 0})).json()
    assert rnd["missing"] == [absent] and rnd["state"] == "AGGREGATE"
    assert by_msp[absent].agent("Token").evaluate("Account", {"msp_id": absent})["staked"] == staked - 50
    slashes = a.agent("Compliance").evaluate("Slashings", {"msp_id": absent})
    assert any(s["study"] == study_id and s["reason"] == "missed the commit deadline" for s in slashes)
