"""Bound secure rounds on the in-memory ledger with the real arithmetic and real Groth16 binding
proofs (one-party test keys): honest rounds finalize to the weighted FedAvg of the grid updates;
a hospital that masks something other than its bound update is caught after the reveal, slashed,
and removed by a second reveal; a lie about a pair value excludes both ends and the liar is
slashed; forged, replayed, over-norm and tampered bindings fail; malformed calls change nothing."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.secagg import field
from agent.secagg.binding import Blinding, bound_input, evaluate, prove
from agent.zk import binary
from chaincode.contracts import binding as rules
from tests.unit.bound_sim import BIND, A, B, BoundRound, C, D, bound_params
from tests.unit.consortium_sim import Consortium, h
from tests.unit.zk_sim import commitment_of

SID = "bc-screening"
CEREMONY = {"phase1": [h("p1")], "phase2": [h("p2")], "contributors": [A], "beacon1": "01", "beacon2": "02"}


@pytest.fixture(scope="module")
def bind_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    d = tmp_path_factory.mktemp("bind-keys")
    binary.dev_setup(BIND, d / "pk", d / "vk")
    return d / "pk", base64.b64encode((d / "vk").read_bytes()).decode()


def bound_consortium(keys: tuple[Path, str], hospitals: tuple[str, ...] = (A, B, C), **over: Any) -> Consortium:
    cons = Consortium(hospitals=hospitals)
    cons.register_all()
    cons.fund_all()
    cons.stake_all()
    cons.ok(cons.admins[A], "Zk:RegisterKey", {"circuit": BIND, "vk": keys[1], "ceremony": CEREMONY})
    cons.active_study(**{**bound_params(keys[1], len(hospitals)), **over})
    return cons


def unchanged(cons: Consortium, result: Any, status: int, fragment: str, before: dict) -> None:
    assert result.status == status, (result.status, result.message)
    assert fragment in result.message, result.message
    assert cons.ledger.state == before


def staked(cons: Consortium, m: str) -> int:
    return cons.ok(cons.regulator, "Token:Account", {"msp_id": m})["staked"]


def test_an_honest_bound_round_finalizes_to_fedavg_of_the_bound_updates(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    r.to_prove()
    for m in (A, B, C):
        assert r.bind(m).json()["status"] == "verified"
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == [A, B, C] and rnd["disputes"] == []
    assert r.submit_shares(A).ok and r.submit_shares(B).ok and r.get()["unmask_ready"]
    assert r.aggregate(A).ok
    assert r.aggregate(B).json()["state"] == "FINALIZED"
    rnd = r.get()
    assert rnd["binding_checks"][0]["failed"] == []
    _, _, weights = r.member_view()
    assert np.max(np.abs(weights - r.expected([A, B, C]))) < 1e-6
    assert cons.supply()["conserved"]


def test_a_hospital_masking_another_update_is_caught_slashed_and_removed(bind_keys: tuple[Path, str]) -> None:
    """The poisoning attack: C trains and binds honestly but masks a different vector."""
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    poison = [w + 3000 for w in r.final[C]]
    r.to_prove(cheat={C: poison})
    for m in (A, B, C):  # its binding proof is about its committed weights: it verifies
        assert r.bind(m).json()["status"] == "verified"
    before_c = staked(cons, C)
    rnd = r.advance()
    assert rnd["inclusion"] == [A, B, C]
    assert r.submit_shares(A).ok and r.submit_shares(C).ok and r.get()["unmask_ready"]
    _, _, weights = r.member_view()
    assert weights is None  # an honest member's own check already fails: it publishes no model
    assert r.aggregate(A).ok
    out = r.aggregate(C).json()  # C, on the committee, votes like the others: the values are what they are
    assert out["state"] == "AGGREGATE"
    rnd = r.get()
    assert rnd["binding_checks"][-1]["failed"] == [C] and rnd["inclusion"] == [A, B]
    assert rnd["reveal_stage"] == 2 and rnd["reveal2"] == {"seed": [], "key": [C]} and not rnd["unmask_ready"]
    assert rnd["bindings"][C]["status"] == "failed" and "not the update it bound" in rnd["dropped"][C]
    assert staked(cons, C) == before_c - 100
    # the second reveal: C's round key comes off the others' inputs; then the round finalizes
    assert r.submit_shares(B).ok and r.submit_shares(C).ok and r.get()["unmask_ready"]
    _, _, weights = r.member_view()
    assert weights is not None and np.max(np.abs(weights - r.expected([A, B]))) < 1e-6
    assert r.aggregate(B).ok
    assert r.aggregate(A).json()["state"] == "FINALIZED"
    rnd = r.get()
    assert rnd["aggregate"]["members"] == [A, B] and rnd["binding_checks"][-1] == {
        "stage": 2, "failed": [], "ts_ms": rnd["binding_checks"][-1]["ts_ms"]}  # fmt: skip
    assert cons.supply()["conserved"]


def test_a_lie_about_a_pair_value_excludes_both_ends_and_slashes_the_liar(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys, hospitals=(A, B, C, D), min_participants=2)
    r = BoundRound(cons, bind_keys[0], SID)
    r.to_prove()
    honest = r.binding_args(A)
    lie = {**honest, "pair_values": {**honest["pair_values"], B: str((int(honest["pair_values"][B]) + 1) % rules.P)}}
    assert r.cons.ok(cons.agents[A], "Round:SubmitBinding", lie)["status"] == "verified"
    for m in (B, C, D):
        assert r.bind(m).ok
    before = {m: staked(cons, m) for m in (A, B)}
    rnd = r.advance()
    assert rnd["disputes"] and rnd["disputes"][0]["pair"] == f"{A}|{B}"
    assert rnd["inclusion"] == [C, D] and rnd["reveal"] == {"seed": [C, D], "key": [A, B]}
    members = rnd["committee"]
    assert r.submit_shares(members[0]).ok and r.submit_shares(members[1]).ok and r.get()["unmask_ready"]
    assert r.aggregate(members[0]).ok
    assert r.aggregate(members[1]).json()["state"] == "FINALIZED"
    rnd = r.get()
    assert rnd["disputes"][0]["liars"] == [A]
    assert staked(cons, A) == before[A] - 100 and staked(cons, B) == before[B]
    _, _, weights = r.member_view()
    assert np.max(np.abs(weights - r.expected([C, D]))) < 1e-6


@pytest.mark.parametrize("cheat", ["forged proof", "another hospital's binding", "over-norm update",
                                   "tampered blinding commitment"])  # fmt: skip
def test_bindings_that_do_not_hold_fail_and_are_slashed(bind_keys: tuple[Path, str], cheat: str) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    if cheat == "over-norm update":
        r.final[C] = [w + 1500 for w in r.start]  # ||update|| ~ 0.63 > 0.2
    if cheat == "tampered blinding commitment":
        for m in r.rnd["participants"]:
            r.publish_keys(m)
        r.advance()
        assert r.commit(A).ok and r.commit(B).ok
        assert r.commit(C, bind_commitment=Blinding.new().commitment()).ok
        r.advance()
    else:
        r.to_prove()
    before = staked(cons, C)
    if cheat == "forged proof":
        args = r.binding_args(C)
        args["proof"] = base64.b64encode(bytes(len(base64.b64decode(args["proof"])))).decode()
    elif cheat == "another hospital's binding":
        args = {**r.binding_args(B), "pair_values": r.binding_args(C)["pair_values"]}
    elif cheat == "over-norm update":  # proven against a bound of its own choosing
        args = r.binding_args(C, norm_micro=10_000_000)
    else:
        args = r.binding_args(C)
    out = cons.ok(cons.agents[C], "Round:SubmitBinding", args)
    assert out["status"] == "failed" and "does not verify" in out["reason"]
    assert staked(cons, C) == before - 100
    for m in (A, B):
        assert r.bind(m).ok
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == [A, B] and C in rnd["reveal"]["key"]


def test_no_binding_by_the_deadline_fails_it(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    r.to_prove()
    assert r.bind(A).ok and r.bind(B).ok
    with pytest.raises(AssertionError, match="participants have not bound"):
        r.advance()
    cons.tick(601)
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and "no binding by the prove deadline" in rnd["dropped"][C]


def test_malformed_or_misplaced_bindings_change_nothing(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    for m in r.rnd["participants"]:
        r.publish_keys(m)
    r.advance()
    for m in (A, B, C):
        assert r.commit(m).ok
    before = dict(cons.ledger.state)
    early = {"study_id": SID, "round": r.n, "value": "1", "pair_values": {}, "proof": "AAAA"}
    unchanged(cons, cons.call(cons.agents[A], "Round:SubmitBinding", early), 409, "accepted in PROVE only", before)
    r.advance()
    good = r.binding_args(A)
    before = dict(cons.ledger.state)
    cases = [
        ({**good, "value": str(rules.P)}, 400, "not below the field order"),
        ({**good, "value": "-1"}, 400, "value has an invalid format"),
        ({**good, "pair_values": {B: good["pair_values"][B]}}, 400, "exactly the other committed participants"),
        ({**good, "pair_values": {**good["pair_values"], "HospitalZMSP": "1"}}, 400, "exactly the other committed"),
        ({**good, "pair_values": {"|": "1"}}, 400, "pair_values key"),
        ({**good, "proof": "***"}, 400, "proof has an invalid format"),
    ]
    for args, status, fragment in cases:
        unchanged(cons, cons.call(cons.agents[A], "Round:SubmitBinding", args), status, fragment, before)
    unchanged(cons, cons.call(cons.regulator, "Round:SubmitBinding", good), 403, "", before)
    assert cons.call(cons.agents[A], "Round:SubmitBinding", good).ok
    before = dict(cons.ledger.state)
    unchanged(cons, cons.call(cons.agents[A], "Round:SubmitBinding", good), 409, "already submitted", before)


def test_a_bound_commitment_needs_its_binding_fields(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0], SID)
    for m in r.rnd["participants"]:
        r.publish_keys(m)
    r.advance()
    before = dict(cons.ledger.state)
    for missing in ("bind_commitment", "final_commitment"):
        r.blinding[A] = Blinding.new()
        args = {"update_hash": h("x"), "consented_records": 10, "final_commitment": commitment_of(r.final[A]),
                "bind_commitment": r.blinding[A].commitment()}  # fmt: skip
        del args[missing]
        unchanged(cons, cons.commit(A, SID, r.n, **args), 400, "needs final_commitment, bind_commitment", before)


def test_agent_and_circuit_compute_the_same_value(tmp_path: Path) -> None:
    """The Go circuit's value of the bound input at a point is the agent's evaluation of the
    vector it masks (the layouts of zk/circuit/bind.go and agent/secagg/field.py agree)."""
    rng = np.random.default_rng(5)
    start = [int(v) for v in rng.integers(-4000, 4000, 31)]
    final = [w + int(d) for w, d in zip(start, rng.integers(-300, 300, 31), strict=True)]
    blinding = Blinding.new()
    x = bound_input(start, final, 977, blinding)
    assert len(x) == field.elements(31) + 2 and rules.P == field.P
    binary.dev_setup("bind-w31", tmp_path / "pk", tmp_path / "vk")
    for z in (1, 2, 123456789123456789, rules.P - 1):
        out = prove("bind-w31", tmp_path / "pk", start, final, 977, z, blinding, 2**61)
        assert evaluate(x, z) == int(out["value"])


def test_long_vectors_are_evaluated_alike_here_and_by_fedledger_zk() -> None:
    import os

    from agent.secagg.binding import evaluate_many
    from agent.secagg.long_vectors import SMALL

    vectors = [field.expand(os.urandom(32), SMALL + 5, b"t") for _ in range(3)]
    z = 987654321987654321987654321
    slow = [sum(c * pow(z, k, field.P) for k, c in enumerate(field.ints(v))) % field.P for v in vectors]
    assert evaluate_many(vectors, z) == slow


@pytest.mark.parametrize("elements", [40, 4100])
def test_a_members_check_and_unmasking_agree_with_the_plain_unmasking(elements: int) -> None:
    """One reading gives every input's value at the point and the same sum ``unmask_with``
    gives, in numpy (short vectors) and through fedledger-zk (long ones); a dropped participant's
    masks come off both."""
    import os

    from cryptography.hazmat.primitives.asymmetric import x25519

    from agent.keys import public_b64
    from agent.secagg.binding import unmask_and_check
    from agent.secagg.masking import mask, pairwise_seed, self_mask
    from agent.secagg.protocol import unmask_with

    names = ["A", "B", "C", "D"]
    keys = {m: x25519.X25519PrivateKey.generate() for m in names}
    publics = {m: public_b64(k) for m, k in keys.items()}
    seeds = {m: os.urandom(32) for m in names}
    inputs = {m: field.expand(os.urandom(32), elements, b"u") for m in names}
    masked = {m: mask(inputs[m], m, seeds[m], {o: pairwise_seed(keys[m], keys[o].public_key(), m, o, "c")
                                                for o in names if o != m}) for m in names}  # fmt: skip
    included = {m: masked[m] for m in ("A", "B", "D")}
    z = 31337
    values, total = unmask_and_check(included, {m: seeds[m] for m in included}, {"C": keys["C"]}, publics, "c", z)

    class Bundle:  # what unmask_with reads of a dealt bundle: the round public key
        def __init__(self, m: str) -> None:
            self.round_public = publics[m]

    bundles = {m: Bundle(m) for m in names}
    assert np.array_equal(total, unmask_with({m: seeds[m] for m in included}, {"C": keys["C"]}, bundles, included, "c"))
    for m in included:  # each value is its input's plus the masks it shares with the other included
        y = field.sub(masked[m], self_mask(seeds[m], elements))
        c_mask = field.expand(pairwise_seed(keys["C"], keys[m].public_key(), "C", m, "c"), elements, b"fedledger-pair")
        y = field.sub(y, c_mask) if m < "C" else field.add(y, c_mask)
        assert int(values[m]) == evaluate(y, z)
