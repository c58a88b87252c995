"""Governance rules on the in-memory ledger: tokens, studies and enrolment, and who may write
at all. Round rules are tests/unit/test_round_rules.py. Each rule has a failing case."""

from __future__ import annotations

from typing import Any

import pytest

from chaincode.contracts import all_contracts
from chaincode.contracts.diagnostics import DiagnosticsContract
from chaincode.contracts.loadtest import LoadTestContract
from chaincode.runtime.errors import Forbidden
from chaincode.runtime.proposal import TransactionContext
from chaincode.runtime.testing import InMemoryLedger, MemoryStub, make_identity
from tests.unit.consortium_sim import Consortium, h, study_params

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
