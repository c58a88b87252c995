"""Bound secure rounds on the in-memory ledger with the real arithmetic and real Groth16 binding
proofs (one-party test keys): honest rounds finalize to the weighted FedAvg of the grid updates;
a hospital that masks something other than its bound update is caught after the reveal, slashed,
and removed by a second reveal; a lie about a pair value excludes both ends and the liar is
slashed; forged, replayed, over-norm and tampered bindings fail; malformed calls change nothing."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.keys import public_b64
from agent.secagg import field
from agent.secagg.binding import (
    Blinding,
    bound_input,
    evaluate,
    grid_update,
    pair_truths,
    pair_values,
    prove,
    unmasked_values,
)
from agent.secagg.protocol import (
    RoundSecrets,
    bundle_bytes,
    context,
    deal_bundle,
    effective_reveal,
    keys_args,
    mask_input,
    member_shares,
    new_global,
    stage_records,
    unmask,
)
from agent.secagg.shamir import Share
from agent.secagg.shares import ShareBundle, recover, round_key_from
from agent.zk import binary
from chaincode.contracts import binding as rules
from tests.unit.consortium_sim import Consortium, cid, h
from tests.unit.zk_sim import CIRCUIT, commitment_of, initial_weights

A, B, C, D = "HospitalAMSP", "HospitalBMSP", "HospitalCMSP", "HospitalDMSP"
SID = "bc-screening"
BIND = "bind-w3"
NORM_MICRO = 200_000  # ||update|| <= 0.2
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
    vk = keys[1]
    cons.ok(cons.admins[A], "Zk:RegisterKey", {"circuit": BIND, "vk": vk, "ceremony": CEREMONY})
    params = {"aggregation": "secure", "committee_size": 3, "committee_threshold": 2, "keys_window_s": 60,
              "zk_circuit": CIRCUIT, "model_commitment": commitment_of(initial_weights()),
              "bind_vk_hash": hashlib.sha256(base64.b64decode(vk)).hexdigest(), "update_norm_micro": NORM_MICRO,
              "participants_per_round": len(hospitals)}  # fmt: skip
    cons.active_study(**{**params, **over})
    return cons


class BoundRound:
    """One bound round driven the way the agents would, keeping what each party holds."""

    def __init__(self, cons: Consortium, pk: Path) -> None:
        self.cons, self.pk = cons, pk
        self.member_keys = {m: x25519.X25519PrivateKey.generate() for m in cons.hospitals}
        self.secrets: dict[str, RoundSecrets] = {}
        self.bundles: dict[str, ShareBundle] = {}
        self.blinding: dict[str, Blinding] = {}
        self.masked: dict[str, np.ndarray] = {}
        self.start = initial_weights()
        rng = np.random.default_rng(3)
        self.final = {m: [w + int(d) for w, d in zip(self.start, rng.integers(-60, 61, 3), strict=True)]
                      for m in cons.hospitals}  # fmt: skip
        self.samples = {A: 120, B: 80, C: 200, D: 50}
        self.rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": SID})
        self.n = self.rnd["round"]
        self.ctx = context(SID, self.n)

    def get(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.regulator, "Round:Get", {"study_id": SID, "round": self.n})

    def advance(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.agents[A], "Round:Advance", {"study_id": SID, "round": self.n})

    def publish_keys(self, m: str) -> None:
        secrets = RoundSecrets.new()
        pubs = {k: public_b64(v) for k, v in self.member_keys.items() if k in self.rnd["committee"]}
        bundle = deal_bundle(m, secrets, pubs, self.rnd["threshold"], self.ctx)
        raw = bundle_bytes(bundle)
        self.cons.ok(self.cons.agents[m], "Round:PublishKeys", keys_args(SID, self.n, bundle, cid(f"b-{m}"), raw))
        self.secrets[m], self.bundles[m] = secrets, bundle

    def commit(self, m: str, masked_final: list[int] | None = None, **over: Any) -> Any:
        """Commit to ``self.final[m]``; ``masked_final``: mask the update to these weights instead."""
        rnd = self.get()
        self.blinding[m] = Blinding.new()
        x = bound_input(self.start, masked_final or self.final[m], self.samples[m], self.blinding[m])
        self.masked[m] = mask_input(m, self.secrets[m], x, {p: rnd["keys"][p] for p in rnd["masking_set"]}, self.ctx)
        args = {"update_hash": hashlib.sha256(field.to_bytes(self.masked[m])).hexdigest(),
                "consented_records": self.samples[m], "final_commitment": commitment_of(self.final[m]),
                "bind_commitment": self.blinding[m].commitment(), **over}  # fmt: skip
        return self.cons.commit(m, SID, self.n, **args)

    def binding_args(self, m: str, norm_micro: int = NORM_MICRO, **over: Any) -> dict[str, Any]:
        rnd = self.get()
        z = int(rnd["bind_point"])
        peers = sorted(set(rnd["committed"]) - {m})
        publics = {p: rnd["keys"][p]["round_public"] for p in rnd["masking_set"]}
        proof = prove(BIND, self.pk, self.start, self.final[m], self.samples[m], z, self.blinding[m],
                      rules.norm_bound(norm_micro))  # fmt: skip
        pairs = pair_values(m, self.secrets[m].round_key, publics, peers, self.ctx, len(self.masked[m]), z)
        return {"study_id": SID, "round": self.n, "value": proof["value"], "pair_values": pairs,
                "proof": proof["proof"], **over}  # fmt: skip

    def bind(self, m: str, **over: Any) -> Any:
        return self.cons.call(self.cons.agents[m], "Round:SubmitBinding", self.binding_args(m, **over))

    def to_prove(self, cheat: dict[str, list[int]] | None = None) -> dict[str, Any]:
        for m in self.rnd["participants"]:
            self.publish_keys(m)
        self.advance()
        for m in self.rnd["participants"]:
            assert self.commit(m, masked_final=(cheat or {}).get(m)).ok
        rnd = self.advance()
        assert rnd["state"] == "PROVE" and rnd["bind_point"]
        return rnd

    def submit_shares(self, m: str) -> Any:
        rnd = self.get()
        plan = rnd["reveal2"] if rnd.get("reveal_stage", 1) == 2 else rnd["reveal"]
        shares, complaints = member_shares(m, self.member_keys[m], plan, self.bundles, self.ctx)
        assert complaints == []
        return self.cons.call(self.cons.agents[m], "Round:SubmitShares",
                              {"study_id": SID, "round": self.n, "shares": shares})  # fmt: skip

    def member_view(self) -> tuple[dict[str, str], dict[str, str], np.ndarray | None]:
        """What an honest member computes after the reveal: values at z, disputed pairs' values,
        and the new weights (None when its own check finds an input that fails)."""
        rnd = self.get()
        reveal, records = effective_reveal(rnd), stage_records(rnd)
        included = {p: self.masked[p] for p in reveal["seed"]}
        publics = {p: rnd["keys"][p]["round_public"] for p in rnd["masking_set"]}

        def shared(p: str) -> dict[str, Share]:
            return {m: Share.from_bytes(base64.b64decode(r["shares"][p])) for m, r in records.items()
                    if p in r["shares"]}  # fmt: skip

        seeds = {p: recover(self.bundles[p], shared(p), "seed") for p in reveal["seed"]}
        keys = {p: round_key_from(recover(self.bundles[p], shared(p), "key")) for p in reveal["key"]}
        z = int(rnd["bind_point"])
        values = unmasked_values(included, seeds, keys, publics, self.ctx, z)
        truths = pair_truths(rnd.get("disputes", []), keys, publics, self.ctx, len(next(iter(included.values()))), z)
        if rules.failures(values, rnd["bindings"], reveal["seed"]):
            return values, truths, None
        total = sum(self.samples[p] for p in reveal["seed"])
        field_sum = unmask(reveal, self.bundles, records, included, self.ctx)
        weights = new_global(np.array(self.start) / 4096, field_sum[: field.elements(3)], total)
        return values, truths, weights

    def aggregate(self, m: str) -> Any:
        values, truths, weights = self.member_view()
        args = {"study_id": SID, "round": self.n, "evaluations": values}
        if truths:
            args["pair_truths"] = truths
        if weights is not None:
            args.update(model_cid=cid(f"model-{m}"), model_hash=h(weights.tobytes().hex()))
        return self.cons.call(self.cons.agents[m], "Round:SubmitAggregate", args)

    def expected(self, included: list[str]) -> np.ndarray:
        total = sum(self.samples[p] for p in included)
        mean = sum(grid_update(self.start, self.final[p]) * self.samples[p] for p in included) / total
        return np.array(self.start) / 4096 + mean


def unchanged(cons: Consortium, result: Any, status: int, fragment: str, before: dict) -> None:
    assert result.status == status, (result.status, result.message)
    assert fragment in result.message, result.message
    assert cons.ledger.state == before


def staked(cons: Consortium, m: str) -> int:
    return cons.ok(cons.regulator, "Token:Account", {"msp_id": m})["staked"]


def test_an_honest_bound_round_finalizes_to_fedavg_of_the_bound_updates(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0])
    r.to_prove()
    for m in (A, B, C):
        assert r.bind(m).json()["status"] == "verified"
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == [A, B, C] and rnd["disputes"] == []
    assert r.submit_shares(A).ok and r.submit_shares(B).json()["unmask_ready"]
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
    r = BoundRound(cons, bind_keys[0])
    poison = [w + 3000 for w in r.final[C]]
    r.to_prove(cheat={C: poison})
    for m in (A, B, C):  # its binding proof is about its committed weights: it verifies
        assert r.bind(m).json()["status"] == "verified"
    before_c = staked(cons, C)
    rnd = r.advance()
    assert rnd["inclusion"] == [A, B, C]
    assert r.submit_shares(A).ok and r.submit_shares(C).json()["unmask_ready"]
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
    assert r.submit_shares(B).ok and r.submit_shares(C).json()["unmask_ready"]
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
    r = BoundRound(cons, bind_keys[0])
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
    assert r.submit_shares(members[0]).ok and r.submit_shares(members[1]).json()["unmask_ready"]
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
    r = BoundRound(cons, bind_keys[0])
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
    r = BoundRound(cons, bind_keys[0])
    r.to_prove()
    assert r.bind(A).ok and r.bind(B).ok
    with pytest.raises(AssertionError, match="participants have not bound"):
        r.advance()
    cons.tick(601)
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and "no binding by the prove deadline" in rnd["dropped"][C]


def test_malformed_or_misplaced_bindings_change_nothing(bind_keys: tuple[Path, str]) -> None:
    cons = bound_consortium(bind_keys)
    r = BoundRound(cons, bind_keys[0])
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
    r = BoundRound(cons, bind_keys[0])
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
