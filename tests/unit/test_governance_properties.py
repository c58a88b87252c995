"""Property tests: token conservation, monotone privacy spend, legal round transitions and
deterministic selection, over random sequences of governance actions."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaincode.contracts import selection
from chaincode.contracts.rounds import NEXT
from tests.unit.consortium_sim import Consortium

A, B, C = "HospitalAMSP", "HospitalBMSP", "HospitalCMSP"
STUDY = "bc-screening"

action = st.one_of(
    st.tuples(st.just("stake"), st.sampled_from([A, B, C]), st.integers(-5, 3000)),
    st.tuples(st.just("unstake"), st.sampled_from([A, B, C]), st.integers(-5, 3000)),
    st.tuples(st.just("open"), st.sampled_from([A, B, C]), st.just(0)),
    st.tuples(st.just("commit"), st.sampled_from([A, B, C]), st.integers(0, 1_500_000)),
    st.tuples(st.just("advance"), st.sampled_from([A, B, C]), st.just(0)),
    st.tuples(st.just("aggregate"), st.sampled_from([A, B, C]), st.integers(0, 1)),
    st.tuples(st.just("validate"), st.sampled_from([A, B, C]), st.integers(-50_000, 50_000)),
    st.tuples(st.just("settle"), st.sampled_from([A, B, C]), st.just(0)),
    st.tuples(st.just("tick"), st.just(A), st.integers(1, 700)),
    st.tuples(st.just("mint"), st.sampled_from([A, B, C]), st.integers(1, 500)),
)


def perform(cons: Consortium, step: tuple[str, str, int], counter: list[int]) -> None:
    kind, m, x = step
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": STUDY})
    n = max(study["current_round"], 0)
    if kind == "stake":
        cons.call(cons.admins[m], "Token:Stake", {"amount": x})
    elif kind == "unstake":
        cons.call(cons.admins[m], "Token:Unstake", {"amount": x})
    elif kind == "open":
        cons.call(cons.agents[m], "Round:Open", {"study_id": STUDY})
    elif kind == "commit":
        cons.commit(m, STUDY, n, epsilon_micro=max(x, 1))
    elif kind == "advance":
        cons.call(cons.agents[m], "Round:Advance", {"study_id": STUDY, "round": n})
    elif kind == "aggregate":
        cons.aggregate(m, STUDY, n, model=f"model{x}")
    elif kind == "validate":
        cons.call(
            cons.agents[m],
            "Round:ReportValidation",
            {"study_id": STUDY, "round": n, "metric_ppm": 500_000 + x, "previous_metric_ppm": 500_000},
        )
    elif kind == "settle":
        cons.call(cons.agents[m], "Round:Settle", {"study_id": STUDY, "round": n})
    elif kind == "tick":
        cons.tick(x)
    elif kind == "mint":
        counter[0] += 1
        mint_id = f"p-{counter[0]}"
        cons.call(cons.admins[m], "Token:ProposeMint", {"mint_id": mint_id, "to": m, "amount": x})
        other = B if m == A else A
        cons.call(cons.admins[other], "Token:ApproveMint", {"mint_id": mint_id})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=5, max_size=40))
def test_invariants_hold_under_any_sequence_of_actions(steps: list[tuple[str, str, int]]) -> None:
    cons = Consortium()
    cons.ready(epsilon_budget_micro=2_000_000)
    spent_before = {m: 0 for m in cons.hospitals}
    counter = [0]
    for step in steps:
        perform(cons, step, counter)
        supply = cons.supply()
        assert supply["conserved"], (step, supply)
        for m in cons.hospitals:
            acct = cons.ok(cons.regulator, "Token:Account", {"msp_id": m})
            assert 0 <= acct["locked"] <= acct["staked"] and acct["balance"] >= 0
            spent = cons.ok(cons.regulator, "Round:Budget", {"study_id": STUDY, "msp_id": m})
            assert spent_before[m] <= spent["spent_micro"] <= spent["budget_micro"]
            spent_before[m] = spent["spent_micro"]
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": STUDY})
    for n in range(study["current_round"] + 1):
        rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": STUDY, "round": n})
        states = [t["state"] for t in rnd["transitions"]]
        assert states[0] == "OPEN"
        assert all(b in NEXT[a] for a, b in itertools.pairwise(states)), states


@given(
    weights=st.dictionaries(st.sampled_from([f"Org{i}MSP" for i in range(12)]), st.integers(0, 10**12), min_size=1),
    k=st.integers(0, 15),
    seed=st.binary(min_size=32, max_size=32),
)
def test_selection_is_deterministic_distinct_and_bounded(weights: dict[str, int], k: int, seed: bytes) -> None:
    first = selection.weighted_sample(weights, k, seed, "participants")
    assert first == selection.weighted_sample(dict(reversed(list(weights.items()))), k, seed, "participants")
    assert len(first) == len(set(first)) == min(k, sum(1 for w in weights.values() if w > 0))
    assert all(weights[m] > 0 for m in first)


@given(seed=st.binary(min_size=32, max_size=32), steps=st.integers(1, 500), count=st.integers(0, 40))
def test_audit_indices_are_distinct_in_range_and_reproducible(seed: bytes, steps: int, count: int) -> None:
    picked = selection.audit_indices(seed, "HospitalAMSP", steps, count)
    assert picked == selection.audit_indices(seed, "HospitalAMSP", steps, count)
    assert picked == sorted(set(picked)) and len(picked) == min(count, steps)
    assert all(0 <= i < steps for i in picked)


def test_identical_ledgers_select_identically() -> None:
    runs = []
    for _ in range(2):
        cons = Consortium(hospitals=(A, B, C, "HospitalDMSP", "HospitalEMSP"))
        cons.ready(participants_per_round=3, committee_size=3, min_participants=2)
        runs.append(cons.ok(cons.agents[A], "Round:Open", {"study_id": STUDY}))
    assert runs[0]["participants"] == runs[1]["participants"]
    assert runs[0]["committee"] == runs[1]["committee"]
    assert runs[0]["seed"] == runs[1]["seed"]
