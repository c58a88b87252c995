"""Round rules on the in-memory ledger: a whole round and study, commitment refusals, the
privacy budget, deadlines and slashing, the committee's quorum on models and exclusions.
Each rule has a failing case."""

from __future__ import annotations

from typing import Any

from chaincode.contracts.rounds import NEXT
from tests.unit.consortium_sim import Consortium, cid, h
from tests.unit.test_governance import A, B, C, assert_no_change


# --- a whole unaudited round ------------------------------------------------------------------------
def test_full_unaudited_round_pays_rewards_and_conserves_tokens() -> None:
    cons = Consortium()
    cons.ready()
    pool_before = cons.ok(cons.regulator, "Study:Get", {"study_id": "bc-screening"})["pool"]
    rnd = cons.run_round()
    assert rnd["state"] == "FINALIZED" and rnd["settled"]
    assert [t["state"] for t in rnd["transitions"]] == [
        "OPEN",
        "COMMIT",
        "CHALLENGE",
        "PROVE",
        "AGGREGATE",
        "FINALIZED",
    ]
    assert all(b["state"] in NEXT[a["state"]] for a, b in zip(rnd["transitions"], rnd["transitions"][1:], strict=False))
    assert rnd["audited"] is False and rnd["audits"] == {}
    assert sum(rnd["rewards"].values()) <= 1000 and all(v > 0 for v in rnd["rewards"].values())
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": "bc-screening"})
    assert study["pool"] == pool_before - sum(rnd["rewards"].values())
    assert cons.supply()["conserved"]
    # each paid hospital's record shows its reward, its epsilon against the budget and its reputation
    for m, amount in rnd["rewards"].items():
        record = cons.ok(cons.regulator, "Compliance:OrgRecord", {"msp_id": m})
        s = record["studies"]["bc-screening"]
        assert [(r["round"], r["amount"]) for r in s["rewards"]] == [(0, amount)]
        assert 0 < s["spent_micro"] <= s["budget_micro"] and record["reputation"] and record["account"]
    found = cons.ok(cons.regulator, "Compliance:FindModel", {"model_hash": rnd["aggregate"]["hash"]})
    assert found == {"study_id": "bc-screening", "round": 0}
    assert cons.ok(cons.regulator, "Compliance:FindModel", {"model_hash": rnd["model_in"]["hash"]})["round"] is None
    for m in cons.hospitals:  # stake locks released at finalization
        assert cons.ok(cons.regulator, "Token:Account", {"msp_id": m})["locked"] == 0
    lineage = cons.ok(cons.regulator, "Compliance:ModelLineage", {"study_id": "bc-screening"})
    v0 = lineage["versions"][0]
    assert v0["model_out"]["hash"] == h("model-0") and v0["audit_note"].startswith("unaudited")
    assert v0["consented_records"] == {m: 150 for m in rnd["inclusion"]}
    timeline = cons.ok(cons.regulator, "Compliance:StudyTimeline", {"study_id": "bc-screening"})
    actions = [e["action"] for e in timeline]
    assert actions[:2] == ["study.proposed", "study.approved"] and "round.settled" in actions
    rep = cons.ok(cons.regulator, "Round:Reputation", {"msp_id": A})
    assert rep["score_ppm"] > 500_000  # on time, positive validation gain


def test_rounds_run_to_study_completion_and_next_round_waits() -> None:
    cons = Consortium()
    cons.ready(rounds=2, reward_pool=2000)
    opened = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    before = dict(cons.ledger.state)
    res = cons.call(cons.agents[B], "Round:Open", {"study_id": "bc-screening"})
    assert_no_change(cons, res, 409, "round 0 of bc-screening is still OPEN", before)
    for m in opened["participants"]:
        cons.commit(m, "bc-screening", 0)
    cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})
    for m in opened["committee"][:2]:
        cons.aggregate(m, "bc-screening", 0)
    r1 = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    assert r1["round"] == 1 and r1["model_in"]["hash"] == h("model-0")
    assert r1["seed"] == cons.ok(cons.regulator, "Round:Get", {"study_id": "bc-screening", "round": 0})["final_hash"]
    for m in r1["participants"]:
        cons.commit(m, "bc-screening", 1)
    cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 1})
    for m in r1["committee"][:2]:
        cons.aggregate(m, "bc-screening", 1)
    assert cons.ok(cons.regulator, "Study:Get", {"study_id": "bc-screening"})["status"] == "COMPLETED"
    res = cons.call(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    assert res.status == 409 and "COMPLETED" in res.message


# --- commitments ---------------------------------------------------------------------------------
def test_commit_refusals_change_nothing() -> None:
    cons = Consortium(hospitals=(A, B, C, "HospitalDMSP"))
    cons.ready(participants_per_round=3, committee_size=3)
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    outsider = next(m for m in cons.hospitals if m not in rnd["participants"])
    insider = rnd["participants"][0]
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.commit(outsider, "bc-screening", 0), 403, "is not a participant", before)
    assert_no_change(
        cons, cons.commit(insider, "bc-screening", 0, epsilon_micro=3_000_001), 409, "privacy budget exceeded", before
    )
    assert_no_change(cons, cons.commit(insider, "bc-screening", 0, update_hash="nan"), 400, "update_hash", before)
    assert_no_change(
        cons, cons.commit(insider, "bc-screening", 0, share_cids=["not-a-cid"]), 400, "share_cids[0]", before
    )
    assert_no_change(cons, cons.commit(insider, "bc-screening", 7), 404, "no round 7", before)
    assert cons.commit(insider, "bc-screening", 0).ok
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.commit(insider, "bc-screening", 0), 409, "already committed", before)
    cons.tick(601)
    late = rnd["participants"][1]
    assert_no_change(cons, cons.commit(late, "bc-screening", 0), 409, "commit deadline passed", before)


def test_privacy_budget_accumulates_across_rounds_and_is_enforced() -> None:
    cons = Consortium()
    cons.ready(epsilon_budget_micro=2_500_000)
    for n in range(2):
        cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
        for m in cons.hospitals:
            assert cons.commit(m, "bc-screening", n, epsilon_micro=1_000_000).ok
        cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": n})
        committee = cons.ok(cons.regulator, "Round:Get", {"study_id": "bc-screening", "round": n})["committee"]
        for m in committee[:2]:
            cons.aggregate(m, "bc-screening", n)
    spent = cons.ok(cons.regulator, "Round:Budget", {"study_id": "bc-screening", "msp_id": B})
    assert spent["spent_micro"] == 2_000_000 and spent["commits"] == 2
    cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    before = dict(cons.ledger.state)
    res = cons.commit(B, "bc-screening", 2, epsilon_micro=600_000)
    assert_no_change(cons, res, 409, "has spent 2 of 2.5 epsilon", before)
    assert cons.commit(B, "bc-screening", 2, epsilon_micro=500_000).ok


def test_missing_participant_is_slashed_and_dropped_at_the_deadline() -> None:
    cons = Consortium()
    cons.ready()
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    absent = rnd["participants"][-1]
    for m in rnd["participants"][:-1]:
        cons.commit(m, "bc-screening", 0)
    early = cons.call(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})
    assert early.status == 409 and "2/3 committed" in early.message
    staked = cons.ok(cons.regulator, "Token:Account", {"msp_id": absent})["staked"]
    cons.tick(601)
    rnd = cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})
    assert rnd["missing"] == [absent] and absent not in rnd["inclusion"]
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": absent})["staked"] == staked - 50
    slashes = cons.ok(cons.regulator, "Compliance:Slashings", {"msp_id": absent})
    assert slashes[0]["reason"] == "missed the commit deadline" and slashes[0]["amount"] == 50
    assert cons.ok(cons.regulator, "Round:Reputation", {"msp_id": absent})["availability_ppm"] < 500_000
    assert cons.supply()["conserved"]


# --- audits: tests/unit/test_zk_audits.py ---------------------------------------------------------


# --- committee --------------------------------------------------------------------------------------
def test_committee_needs_t_matching_records_and_aborts_without_them() -> None:
    cons = Consortium()
    cons.ready()
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    for m in rnd["participants"]:
        cons.commit(m, "bc-screening", 0)
    cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})
    first, second = rnd["committee"][0], rnd["committee"][1]
    assert cons.aggregate(first, "bc-screening", 0, model="honest").json()["state"] == "AGGREGATE"
    assert cons.aggregate(second, "bc-screening", 0, model="tampered").json()["state"] == "AGGREGATE"
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.aggregate(first, "bc-screening", 0), 409, "already published", before)
    cons.tick(601)
    rnd = cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})
    assert rnd["state"] == "ABORTED" and "matching committee records" in rnd["abort_reason"]
    assert all(cons.ok(cons.regulator, "Token:Account", {"msp_id": m})["locked"] == 0 for m in cons.hospitals)


def _to_aggregate(cons: Consortium) -> dict[str, Any]:
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    for m in rnd["participants"]:
        assert cons.commit(m, "bc-screening", 0).ok
    return cons.ok(cons.agents[A], "Round:Advance", {"study_id": "bc-screening", "round": 0})


def _aggregate(cons: Consortium, m: str, excluded: list[dict[str, str]]) -> dict[str, Any]:
    args = {"study_id": "bc-screening", "round": 0, "model_cid": cid(f"model-{m}"), "model_hash": h("model-0"),
            "excluded": excluded}  # fmt: skip
    return cons.ok(cons.agents[m], "Round:SubmitAggregate", args)


def _settle(cons: Consortium) -> dict[str, Any]:
    report = {"study_id": "bc-screening", "round": 0, "metric_ppm": 910_000, "previous_metric_ppm": 900_000}
    for m in cons.hospitals:
        cons.ok(cons.agents[m], "Round:ReportValidation", report)
    return cons.ok(cons.agents[A], "Round:Settle", {"study_id": "bc-screening", "round": 0})


def test_one_committee_member_alone_cannot_exclude_a_participant() -> None:
    cons = Consortium()
    cons.ready()  # a committee of 3, any 2 agreeing finalize
    rnd = _to_aggregate(cons)
    first, second, third = rnd["committee"]
    victim = next(m for m in rnd["participants"] if m != first)
    assert _aggregate(cons, first, [{"msp_id": victim, "reason": "unreadable"}])["state"] == "AGGREGATE"
    assert _aggregate(cons, second, [])["state"] == "AGGREGATE"  # same weights, other exclusions: no agreement
    assert _aggregate(cons, third, [])["state"] == "FINALIZED"
    rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": "bc-screening", "round": 0})
    assert rnd["aggregate"]["members"] == sorted([second, third])
    assert rnd["aggregate"]["excluded"] == {} and rnd["aggregate"]["unconfirmed_exclusions"] == {victim: [first]}
    settled = _settle(cons)
    assert settled["rewards"][victim] > 0
    assert cons.supply()["conserved"]


def test_one_committee_member_alone_cannot_keep_an_excluded_participant_in() -> None:
    cons = Consortium()
    cons.ready()
    rnd = _to_aggregate(cons)
    first, second, third = rnd["committee"]
    cheat = next(m for m in rnd["participants"] if m not in (first, third))
    _aggregate(cons, first, [{"msp_id": cheat, "reason": "hash mismatch"}])
    assert _aggregate(cons, second, [])["state"] == "AGGREGATE"  # a colluding member leaves the exclusion out
    assert _aggregate(cons, third, [{"msp_id": cheat, "reason": "hash mismatch"}])["state"] == "FINALIZED"
    rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": "bc-screening", "round": 0})
    assert rnd["aggregate"]["excluded"] == {cheat: "hash mismatch"}
    assert cheat not in _settle(cons)["rewards"]


def test_an_exclusion_counts_once_a_quorum_of_the_agreeing_members_makes_it() -> None:
    cons = Consortium()
    cons.ready()
    rnd = _to_aggregate(cons)
    first, second = rnd["committee"][:2]
    victim = next(m for m in rnd["participants"] if m not in (first, second))
    _aggregate(cons, first, [{"msp_id": victim, "reason": "ipfs timeout"}])
    _aggregate(cons, second, [{"msp_id": victim, "reason": "hash mismatch"}])  # any reason counts
    rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": "bc-screening", "round": 0})
    assert rnd["state"] == "FINALIZED" and rnd["aggregate"]["unconfirmed_exclusions"] == {}
    assert rnd["aggregate"]["excluded"] == {victim: "ipfs timeout" if first < second else "hash mismatch"}
    assert victim not in _settle(cons)["rewards"]


def test_outsider_cannot_publish_an_aggregate() -> None:
    cons = Consortium(hospitals=(A, B, C, "HospitalDMSP"))
    cons.ready(committee_size=2, committee_threshold=2)
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    outsider = next(m for m in cons.hospitals if m not in rnd["committee"])
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.aggregate(outsider, "bc-screening", 0), 403, "not on the committee", before)
