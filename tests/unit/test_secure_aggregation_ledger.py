"""Secure-committee rounds on the in-memory ledger with the real protocol arithmetic: keys,
masking set, reveal plan, share checks and slashing, unmasking, dropouts, refusals."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.keys import public_b64
from agent.secagg import field
from agent.secagg.protocol import (
    RoundSecrets,
    bundle_bytes,
    context,
    deal_bundle,
    keys_args,
    mask_input,
    member_shares,
    new_global,
    unmask,
    weighted_input,
)
from agent.secagg.shares import ShareBundle
from tests.unit.consortium_sim import Consortium, cid, h

A, B, C = "HospitalAMSP", "HospitalBMSP", "HospitalCMSP"
SID = "bc-screening"
DIM = 200


class SecureRound:
    """Drives one secure round the way three agents would, keeping what each party holds."""

    def __init__(self, cons: Consortium) -> None:
        self.cons = cons
        self.member_keys = {m: x25519.X25519PrivateKey.generate() for m in cons.hospitals}
        self.secrets: dict[str, RoundSecrets] = {}
        self.bundles: dict[str, ShareBundle] = {}
        self.pending: dict[str, tuple[RoundSecrets, ShareBundle]] = {}
        self.masked: dict[str, np.ndarray] = {}
        rng = np.random.default_rng(7)
        self.updates = {m: rng.normal(0, 0.05, DIM) for m in cons.hospitals}
        self.samples = {A: 120, B: 80, C: 200}
        self.rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": SID})
        self.n = self.rnd["round"]
        self.ctx = context(SID, self.n)

    def get(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.regulator, "Round:Get", {"study_id": SID, "round": self.n})

    def publish_keys(self, m: str, **over: Any):
        result = self.cons.call(self.cons.agents[m], "Round:PublishKeys", self.key_args(m, **over))
        if result.ok:
            self.keep(m)
        return result

    def key_args(self, m: str, **over: Any) -> dict[str, Any]:
        """``m``'s round key record, from new secrets (``keep`` them once the ledger took it)."""
        secrets = RoundSecrets.new()
        pubs = {k: public_b64(v) for k, v in self.member_keys.items() if k in self.rnd["committee"]}
        bundle = deal_bundle(m, secrets, pubs, self.rnd["threshold"], self.ctx)
        self.pending[m] = (secrets, bundle)
        return {**keys_args(SID, self.n, bundle, cid(f"bundle-{m}"), bundle_bytes(bundle)), **over}

    def keep(self, m: str) -> None:
        """What ``m`` holds is what the ledger took."""
        self.secrets[m], self.bundles[m] = self.pending.pop(m)

    def advance(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.agents[A], "Round:Advance", {"study_id": SID, "round": self.n})

    def commit(self, m: str):
        return self.cons.call(*self.commit_call(m))

    def commit_call(self, m: str) -> tuple[Any, str, dict[str, Any]]:
        """``m``'s masked update against the masking set the ledger shows, as a call to send."""
        rnd = self.get()
        masking = {p: rnd["keys"][p] for p in rnd["masking_set"]}
        x = weighted_input(self.updates[m], self.samples[m])
        self.masked[m] = mask_input(m, self.secrets[m], x, masking, self.ctx)
        args = self.cons.commit_args(m, SID, self.n, update_hash=h(field.to_bytes(self.masked[m]).hex()),
                                     consented_records=self.samples[m])  # fmt: skip
        return self.cons.agents[m], "Round:Commit", args

    def to_aggregate(self) -> dict[str, Any]:
        """Everyone publishes keys and commits; the round reaches AGGREGATE."""
        for m in self.rnd["participants"]:
            assert self.publish_keys(m).ok
        self.advance()
        for m in self.rnd["participants"]:
            assert self.commit(m).ok
        rnd = self.advance()
        assert rnd["state"] == "AGGREGATE"
        return rnd

    def shares_of(self, m: str) -> dict[str, str]:
        shares, complaints = member_shares(m, self.member_keys[m], self.get()["reveal"], self.bundles, self.ctx)
        assert complaints == []
        return shares

    def submit_shares(self, m: str, shares: dict[str, str] | None = None):
        args = {"study_id": SID, "round": self.n, "shares": self.shares_of(m) if shares is None else shares}
        return self.cons.call(self.cons.agents[m], "Round:SubmitShares", args)

    def unmasked(self) -> np.ndarray:
        rnd = self.get()
        included = {p: self.masked[p] for p in rnd["inclusion"]}
        total = sum(self.samples[p] for p in rnd["inclusion"])
        return new_global(np.zeros(DIM), unmask(rnd["reveal"], self.bundles, rnd["shares"], included, self.ctx), total)

    def expected(self, included: list[str]) -> np.ndarray:
        total = sum(self.samples[p] for p in included)
        return sum(self.updates[p] * self.samples[p] for p in included) / total

    def aggregate(self, m: str, weights: np.ndarray, **over: Any):
        args = {
            "study_id": SID,
            "round": self.n,
            "model_cid": cid(f"model-{m}"),
            "model_hash": h(weights.tobytes().hex()),
        }
        return self.cons.call(self.cons.agents[m], "Round:SubmitAggregate", {**args, **over})


def secure_consortium(**over: Any) -> Consortium:
    cons = Consortium()
    params = {"aggregation": "secure", "committee_size": 3, "committee_threshold": 2, "keys_window_s": 60}
    cons.ready(**{**params, **over})
    return cons


def unchanged(cons: Consortium, result, status: int, fragment: str, before: dict) -> None:
    assert result.status == status, (result.status, result.message)
    assert fragment in result.message, result.message
    assert cons.ledger.state == before


def test_a_secure_round_aggregates_the_weighted_average_and_finalizes() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    assert r.rnd["state"] == "KEYS" and r.rnd["deadlines"]["commit_ms"] is None
    for m in r.rnd["participants"]:
        assert r.publish_keys(m).ok
    rnd = r.advance()
    assert rnd["state"] == "OPEN" and rnd["masking_set"] == [A, B, C] and rnd["deadlines"]["commit_ms"]
    for m in rnd["masking_set"]:
        assert r.commit(m).ok
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE"
    assert rnd["reveal"] == {"seed": [A, B, C], "key": []} and not r.get()["unmask_ready"]
    before = dict(cons.ledger.state)
    unchanged(cons, r.aggregate(A, np.zeros(DIM)), 409, "valid shares yet", before)
    assert r.submit_shares(A).ok and r.get()["unmask_ready"] is False
    assert r.submit_shares(C).ok and r.get()["unmask_ready"] is True  # t = 2 of k = 3: B need not publish
    weights = r.unmasked()
    bound = 3 * 2**-17 / (120 + 80 + 200) * max(r.samples.values())  # fixed-point rounding, worst case
    assert np.max(np.abs(weights - r.expected([A, B, C]))) <= bound + 1e-6  # + float32 rounding of the result
    assert r.aggregate(A, weights).ok
    final = r.aggregate(C, weights).json()
    assert final["state"] == "FINALIZED"
    rnd = r.get()
    assert rnd["aggregate"]["members"] == [A, C] and rnd["aggregate"]["cid"] == cid(f"model-{A}")
    assert all(rec["status"] == "valid" for rec in rnd["shares"].values())
    assert cons.supply()["conserved"]
    lineage = cons.ok(cons.regulator, "Compliance:ModelLineage", {"study_id": SID})
    assert lineage["versions"][0]["aggregation"] == "secure"


def test_a_rounds_concurrent_submissions_share_blocks_and_commitments_start_in_keys() -> None:
    """Keys, commitments and shares each write only their sender's record, so a phase's
    submissions commit in one block (validated as peers validate it); commitments are taken in
    KEYS as soon as every round key is in, and one Advance then takes the round to AGGREGATE.
    The t-th aggregate decides the round, so aggregates of one block still conflict: the
    gateway resubmits the later one, which then finalizes."""
    cons = secure_consortium()
    r = SecureRound(cons)
    first = r.publish_keys(A)
    before = dict(cons.ledger.state)
    unchanged(cons, cons.commit(A, SID, r.n), 409, "published no round key yet", before)
    results = cons.block([(cons.agents[m], "Round:PublishKeys", r.key_args(m)) for m in (B, C)])
    assert first.ok and [res.validation for res in results] == ["VALID"] * 2
    r.keep(B)
    r.keep(C)
    view = r.get()
    assert view["state"] == "KEYS" and view["masking_set"] == [A, B, C] and "challenge" not in view
    results = cons.block([r.commit_call(m) for m in (A, B, C)])
    assert [res.validation for res in results] == ["VALID"] * 3, [(x.status, x.message) for x in results]
    view = r.get()
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["masking_set"] == [A, B, C] and rnd["committed"] == [A, B, C]
    assert [t["state"] for t in rnd["transitions"]] == ["KEYS", "OPEN", "COMMIT", "CHALLENGE", "PROVE", "AGGREGATE"]
    assert view["challenge"] == {"challenge_seed": rnd["challenge_seed"]}
    shares = {m: {"study_id": SID, "round": r.n, "shares": r.shares_of(m)} for m in (A, B, C)}
    results = cons.block([(cons.agents[m], "Round:SubmitShares", shares[m]) for m in (A, B, C)])
    assert [res.validation for res in results] == ["VALID"] * 3
    block_ms = cons.now_ms
    assert r.get()["unmask_ready"] and r.get()["unmask_ready_ms"] == block_ms
    weights = r.unmasked()
    args = {"study_id": SID, "round": r.n, "model_hash": h(weights.tobytes().hex())}
    results = cons.block([(cons.agents[m], "Round:SubmitAggregate", {**args, "model_cid": cid(f"model-{m}")})
                          for m in (A, B)])  # fmt: skip
    assert results[0].ok and results[1].validation == "PHANTOM_READ_CONFLICT"
    assert r.aggregate(B, weights).json()["state"] == "FINALIZED"


def test_a_participant_that_drops_after_masking_is_recovered_from_its_round_key() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    for m in (A, B, C):
        assert r.publish_keys(m).ok
    r.advance()
    assert r.commit(A).ok and r.commit(B).ok  # C published its key (A and B masked against it), never commits
    cons.tick(601)
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["missing"] == [C]
    assert rnd["reveal"] == {"seed": [A, B], "key": [C]}
    assert r.submit_shares(B).ok and r.submit_shares(C).ok and r.get()["unmask_ready"]
    weights = r.unmasked()
    assert np.allclose(weights, r.expected([A, B]), atol=1e-5)
    # what was published for C are shares of its round key (they match the key hashes C committed
    # to), never of its self seed, which keeps C's masked vector masked
    rnd = r.get()
    published = {m: hashlib.sha256(base64.b64decode(rec["shares"][C])).hexdigest() for m, rec in rnd["shares"].items()}
    assert published == {m: rnd["keys"][C]["share_hashes"][m]["key"] for m in (B, C)}


def test_missing_round_keys_shrink_the_masking_set_and_the_late_cannot_commit() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    assert r.publish_keys(A).ok and r.publish_keys(B).ok
    staked = cons.ok(cons.regulator, "Token:Account", {"msp_id": C})["staked"]
    cons.tick(61)
    before = dict(cons.ledger.state)
    unchanged(cons, r.publish_keys(C), 409, "keys deadline passed", before)
    rnd = r.advance()
    assert rnd["state"] == "OPEN" and rnd["masking_set"] == [A, B]
    assert "published no round key" in rnd["dropped"][C]
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": C})["staked"] == staked - 50
    before = dict(cons.ledger.state)
    unchanged(cons, cons.commit(C, SID, r.n), 403, "published no round key in time", before)
    assert r.commit(A).ok and r.commit(B).ok
    rnd = r.advance()
    assert rnd["state"] == "AGGREGATE" and rnd["reveal"] == {"seed": [A, B], "key": []}


def test_a_wrong_share_is_caught_by_its_hash_and_the_member_slashed() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    r.to_aggregate()
    honest = r.shares_of(B)
    raw = bytearray(base64.b64decode(honest[A]))
    raw[-1] ^= 1
    forged = {**honest, A: base64.b64encode(bytes(raw)).decode()}
    staked = cons.ok(cons.regulator, "Token:Account", {"msp_id": B})["staked"]
    out = r.submit_shares(B, forged).json()
    assert out["record"]["status"] == "wrong" and out["record"]["shares"] == {}
    assert out["record"]["wrong"][0]["participant"] == A and not r.get()["unmask_ready"]
    assert cons.ok(cons.regulator, "Token:Account", {"msp_id": B})["staked"] == staked - 100
    assert cons.ok(cons.regulator, "Round:Reputation", {"msp_id": B})["failed_m"] > 0
    # the honest two still reach t and the round finalizes without B's shares
    assert r.submit_shares(A).ok and r.submit_shares(C).ok and r.get()["unmask_ready"]
    weights = r.unmasked()
    assert np.allclose(weights, r.expected([A, B, C]), atol=1e-5)
    assert r.aggregate(A, weights).ok and r.aggregate(C, weights).json()["state"] == "FINALIZED"


def test_a_member_cannot_reveal_the_other_secret_of_an_included_participant() -> None:
    """Publishing its share of A's round key (A is included, so only A's seed may be revealed)
    fails the seed hash: caught and slashed like any wrong share, and it does not count."""
    cons = secure_consortium()
    r = SecureRound(cons)
    r.to_aggregate()
    from agent.secagg.shares import open_share

    key_share = open_share(r.bundles[A], C, r.member_keys[C], "key", r.ctx)
    out = r.submit_shares(C, {A: base64.b64encode(key_share.to_bytes()).decode()}).json()
    assert out["record"]["status"] == "wrong" and out["record"]["wrong"][0]["which"] == "seed"


def test_below_t_members_the_round_aborts_with_nothing_unmasked() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    r.to_aggregate()
    assert r.submit_shares(A).ok  # one of the t = 2 needed
    cons.tick(601)
    before = dict(cons.ledger.state)
    unchanged(cons, r.submit_shares(B), 409, "deadline passed", before)
    rnd = r.advance()
    assert rnd["state"] == "ABORTED" and "nothing was unmasked" in rnd["abort_reason"]
    published = [rec for rec in r.get()["shares"].values() if rec["status"] == "valid"]
    assert len(published) < rnd["threshold"]  # no secret has t shares: every self seed stays hidden
    with pytest.raises(ValueError):
        r.unmasked()


def test_secure_round_refusals_change_nothing() -> None:
    cons = secure_consortium()
    r = SecureRound(cons)
    before = dict(cons.ledger.state)
    unchanged(cons, r.publish_keys(A, round_public="AAAA"), 400, "round_public must decode to 32 bytes", before)
    unchanged(cons, r.publish_keys(A, share_hashes={A: {"seed": h("x"), "key": h("y")}}), 400,
              "exactly the round's committee", before)  # fmt: skip
    unchanged(cons, r.publish_keys(A, commitments={"seed": h("x")}), 400, "commitments must be", before)
    assert r.publish_keys(A).ok
    before = dict(cons.ledger.state)
    unchanged(cons, r.publish_keys(A), 409, "already published its round key", before)
    outsider = cons.call(cons.regulator, "Round:PublishKeys", keys_args(SID, r.n, r.bundles[A], cid("x"), b"x"))
    # (a refused call leaves the participant's dealt bundle as the ledger has it)
    unchanged(cons, outsider, 403, "", before)
    unchanged(cons, cons.commit(A, SID, r.n), 409, "round 0 is KEYS", before)
    unchanged(cons, r.submit_shares(A, {A: base64.b64encode(bytes(68)).decode()}), 409, "AGGREGATE only", before)
    r.publish_keys(B)
    r.publish_keys(C)
    r.advance()
    for m in (A, B, C):
        r.commit(m)
    r.advance()
    before = dict(cons.ledger.state)
    bad_share = {"EvilMSP": base64.b64encode(bytes(68)).decode()}
    unchanged(cons, r.submit_shares(A, bad_share), 400, "not in the masking set", before)
    unchanged(cons, r.submit_shares(A, {A: base64.b64encode(bytes(12)).decode()}), 400, "68 bytes", before)
    unchanged(cons, r.submit_shares(A, {}), 400, "shares is empty", before)
    too_many = {f"Org{i}MSP": base64.b64encode(bytes(68)).decode() for i in range(65)}
    unchanged(cons, r.submit_shares(A, too_many), 400, "at most 64", before)
    assert r.submit_shares(A).ok and r.submit_shares(B).ok
    before = dict(cons.ledger.state)
    unchanged(cons, r.submit_shares(A), 409, "already published its shares", before)
    weights = r.unmasked()
    unchanged(cons, r.aggregate(A, weights, excluded=[{"msp_id": B, "reason": "x"}]), 400, "cannot leave out", before)


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"committee_threshold": 1}, "committee_threshold >= 2"),
        ({"min_participants": 1}, "min_participants >= 2"),
        ({"aggregation": "magic"}, "aggregation must be one of trusted, secure"),
    ],
)
def test_secure_study_parameters_are_checked(over: dict, fragment: str) -> None:
    cons = Consortium()
    cons.register_all()
    cons.fund_all()
    from tests.unit.consortium_sim import study_params

    res = cons.call(cons.admins[A], "Study:Propose",
                    {"study_id": "s-1", **study_params(**{"aggregation": "secure", **over})})  # fmt: skip
    assert res.status == 400 and fragment in res.message, res.message


def test_trusted_rounds_take_no_keys_or_shares() -> None:
    cons = Consortium()
    cons.ready()
    r = SecureRound(cons)
    assert r.rnd["state"] == "OPEN" and r.rnd["aggregation"] == "trusted"
    before = dict(cons.ledger.state)
    unchanged(cons, r.publish_keys(A), 409, "uses trusted aggregation", before)
