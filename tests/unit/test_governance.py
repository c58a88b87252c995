"""Governance rules on the in-memory ledger: tokens, studies, rounds, audits, committee,
privacy budget, rewards, reputation, compliance queries. Each rule has a failing case."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.contracts import all_contracts
from chaincode.contracts.diagnostics import DiagnosticsContract
from chaincode.contracts.loadtest import LoadTestContract
from chaincode.contracts.rounds import NEXT
from chaincode.runtime.errors import Forbidden
from chaincode.runtime.proposal import TransactionContext
from chaincode.runtime.testing import InMemoryLedger, MemoryStub, make_identity
from tests.unit.consortium_sim import Consortium, cid, h, study_params

A, B, C = "HospitalAMSP", "HospitalBMSP", "HospitalCMSP"


@pytest.fixture()
def cons() -> Consortium:
    c = Consortium()
    c.register_all()
    return c


def assert_no_change(cons: Consortium, result, status: int, fragment: str, before: dict) -> None:
    assert result.status == status, (result.status, result.message)
    assert fragment in result.message, result.message
    assert cons.ledger.state == before


# --- tokens ---------------------------------------------------------------------------------------
def test_mint_needs_a_majority_of_registered_hospitals(cons: Consortium) -> None:
    mint = cons.ok(cons.admins[A], "Token:ProposeMint", {"mint_id": "m-1", "to": B, "amount": 500})
    assert mint["status"] == "PROPOSED" and cons.supply()["minted"] == 0
    before = dict(cons.ledger.state)
    assert_no_change(
        cons, cons.call(cons.admins[A], "Token:ApproveMint", {"mint_id": "m-1"}), 409, "already approved", before
    )
    assert_no_change(
        cons, cons.call(cons.agents[C], "Token:ApproveMint", {"mint_id": "m-1"}), 403, "only an admin", before
    )
    assert_no_change(cons, cons.call(cons.regulator, "Token:ApproveMint", {"mint_id": "m-1"}), 403, "read-only", before)
    mint = cons.ok(cons.admins[C], "Token:ApproveMint", {"mint_id": "m-1"})
    assert mint["status"] == "EXECUTED"
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": B})["balance"] == 500
    assert cons.supply() == {"minted": 500, "accounts": 500, "pools": 0, "conserved": True}
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.call(cons.admins[B], "Token:ApproveMint", {"mint_id": "m-1"}), 409, "EXECUTED", before)


def test_mint_to_an_unregistered_org_is_refused(cons: Consortium) -> None:
    before = dict(cons.ledger.state)
    res = cons.call(cons.admins[A], "Token:ProposeMint", {"mint_id": "m-2", "to": "EvilMSP", "amount": 5})
    assert_no_change(cons, res, 403, "EvilMSP is not a registered hospital", before)


def test_stake_and_unstake_respect_balances_and_locks(cons: Consortium) -> None:
    cons.fund_all(1000)
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.call(cons.admins[A], "Token:Stake", {"amount": 1001}), 409, "cannot stake", before)
    cons.ok(cons.admins[A], "Token:Stake", {"amount": 600})
    acct = cons.ok(cons.admins[A], "Token:Unstake", {"amount": 100})
    assert acct == {"balance": 500, "staked": 500, "locked": 0}
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.call(cons.admins[A], "Token:Unstake", {"amount": 501}), 409, "at most 500", before)
    for bad in ({"amount": 0}, {"amount": -5}, {"amount": "7"}, {"amount": 10**16}, {}):
        assert cons.call(cons.admins[A], "Token:Stake", bad).status == 400


def test_transfer_moves_free_tokens_between_registered_hospitals(cons: Consortium) -> None:
    cons.fund_all(1000)
    assert cons.ok(cons.admins[A], "Token:Transfer", {"to": B, "amount": 300})["balance"] == 700
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": B})["balance"] == 1300
    before = dict(cons.ledger.state)
    assert_no_change(
        cons, cons.call(cons.admins[A], "Token:Transfer", {"to": B, "amount": 701}), 409, "cannot transfer", before
    )
    assert_no_change(
        cons,
        cons.call(cons.admins[A], "Token:Transfer", {"to": "NopeMSP", "amount": 1}),
        403,
        "not a registered hospital",
        before,
    )
    assert_no_change(cons, cons.call(cons.admins[A], "Token:Transfer", {"to": A, "amount": 1}), 400, "yourself", before)
    assert cons.supply()["conserved"]


# --- studies --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"committee_threshold": 4}, "committee_threshold must not exceed committee_size"),
        ({"min_participants": 4}, "min_participants must not exceed participants_per_round"),
        ({"reward_per_round": 2000}, "exceeds reward_pool"),
        ({"cheat_slash": 101}, "must not exceed min_stake"),
        ({"audit_rate_ppm": 1_000_001}, "audit_rate_ppm must be between"),
        ({"model_spec_hash": "xyz"}, "model_spec_hash has an invalid format"),
        ({"epsilon_budget_micro": 0}, "epsilon_budget_micro must be between"),
    ],
)
def test_bad_study_parameters_are_refused(cons: Consortium, over: dict, fragment: str) -> None:
    cons.fund_all()
    before = dict(cons.ledger.state)
    res = cons.call(cons.admins[A], "Study:Propose", {"study_id": "s-bad", **study_params(**over)})
    assert_no_change(cons, res, 400, fragment, before)


def test_study_escrows_its_pool_and_activates_on_majority(cons: Consortium) -> None:
    cons.fund_all(5000)
    study = cons.ok(cons.admins[A], "Study:Propose", {"study_id": "s-1", **study_params()})
    assert study["status"] == "PROPOSED" and study["genesis_hash"] is None
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": A})["balance"] == 2000
    before = dict(cons.ledger.state)
    assert_no_change(cons, cons.call(cons.admins[B], "Study:Enroll", {"study_id": "s-1"}), 409, "not ACTIVE", before)
    study = cons.ok(cons.admins[B], "Study:Approve", {"study_id": "s-1"})
    assert study["status"] == "ACTIVE" and len(study["genesis_hash"]) == 64
    assert cons.supply()["conserved"]
    poor = cons.call(
        cons.admins[C], "Study:Propose", {"study_id": "s-2", **study_params(reward_pool=6000, reward_per_round=2000)}
    )
    assert poor.status == 409 and "free tokens" in poor.message


def test_enrolment_needs_unlocked_stake(cons: Consortium) -> None:
    cons.fund_all()
    cons.ok(cons.admins[A], "Study:Propose", {"study_id": "s-1", **study_params()})
    cons.ok(cons.admins[B], "Study:Approve", {"study_id": "s-1"})
    before = dict(cons.ledger.state)
    assert_no_change(
        cons, cons.call(cons.admins[C], "Study:Enroll", {"study_id": "s-1"}), 409, "unlocked stake", before
    )


def test_a_repeated_enrollment_returns_the_record_and_writes_nothing() -> None:
    """A retried or replayed Enroll must not move the enrollment's timestamp or add history."""
    cons = Consortium()
    cons.ready()
    first = cons.ok(cons.regulator, "Study:Get", {"study_id": "bc-screening"})
    state, events = dict(cons.ledger.state), list(cons.ledger.events)
    history = {k: list(v) for k, v in cons.ledger.history.items()}
    cons.tick(30)
    again = cons.ok(cons.admins[B], "Study:Enroll", {"study_id": "bc-screening"})
    assert again == {"active": True, "enrolled_at_ms": again["enrolled_at_ms"]}
    assert again["enrolled_at_ms"] < cons.now_ms - 29_000  # the first enrollment's time, not this call's
    assert cons.ledger.state == state and cons.ledger.events == events
    assert {k: list(v) for k, v in cons.ledger.history.items()} == history
    assert cons.ok(cons.regulator, "Study:Get", {"study_id": "bc-screening"})["enrolled"] == first["enrolled"]
    # a withdrawn hospital that enrolls again is a new enrollment, written with its new time
    cons.ok(cons.admins[B], "Study:Withdraw", {"study_id": "bc-screening"})
    back = cons.ok(cons.admins[B], "Study:Enroll", {"study_id": "bc-screening"})
    assert back == {"active": True, "enrolled_at_ms": cons.now_ms}


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


def test_regulator_reads_everything_and_writes_nothing() -> None:
    cons = Consortium()
    cons.ready()
    cons.run_round()
    before = dict(cons.ledger.state)
    for fn, args in [
        ("Round:Open", {"study_id": "bc-screening"}),
        ("Study:Approve", {"study_id": "bc-screening"}),
        ("Round:Advance", {"study_id": "bc-screening", "round": 0}),
    ]:
        assert_no_change(cons, cons.call(cons.regulator, fn, args), 403, "read-only regulator", before)
    activity = cons.ok(cons.regulator, "Compliance:OrgActivity", {"msp_id": A})
    assert {"token.staked", "study.enrolled"} <= {e["action"] for e in activity}


# --- roles ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["peer", "orderer", None])
def test_peer_orderer_and_roleless_identities_cannot_write(role: str | None) -> None:
    cons = Consortium()
    cons.ready()
    rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": "bc-screening"})
    node = make_identity(A, role)
    named = role or "no NodeOU"
    before = dict(cons.ledger.state)
    for fn, args in [
        ("Round:Open", {"study_id": "bc-screening"}),
        ("Round:Advance", {"study_id": "bc-screening", "round": 0}),
        ("Consent:Register", {}),
        ("Study:Enroll", {"study_id": "bc-screening"}),
        ("Token:Stake", {"amount": 1}),
    ]:
        assert_no_change(cons, cons.call(node, fn, args), 403, named, before)
    cons.agents[A] = node
    assert_no_change(cons, cons.commit(A, "bc-screening", 0), 403, named, before)
    assert A in rnd["participants"]


class _Untouched(dict):
    """Arguments that fail the test if a transaction reads them before checking its caller."""

    def __getitem__(self, key: str) -> Any:
        raise AssertionError(f"read argument {key!r} before checking the caller's role")


def test_every_write_checks_the_callers_role_before_anything_else() -> None:
    ledger = InMemoryLedger()
    contracts = [*all_contracts(), LoadTestContract(), DiagnosticsContract()]
    writes = [(c.name, name, fn) for c in contracts for name, (spec, fn) in c.transactions().items() if spec.submit]
    assert len(writes) > 20
    for role in ("peer", "orderer", None):
        caller = make_identity(A, role)
        for contract, name, fn in writes:
            context = TransactionContext("fedledger", h(name), 1_767_225_600, 0, caller, {})
            with pytest.raises(Forbidden) as refused:
                fn(MemoryStub(ledger, context, [f"{contract}:{name}".encode()]), _Untouched())
            assert (role or "no NodeOU") in refused.value.message, (contract, name, refused.value.message)
    assert ledger.state == {}
