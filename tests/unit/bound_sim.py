"""A bound secure round driven the way the agents drive it, keeping what each party holds: the
same driver runs on the in-memory ledger (tests/unit/test_binding_ledger.py) and on the real
network (tests/integration/test_bound_aggregation.py). ``cons`` offers ``call``/``ok``/
``commit`` with agent identities ``cons.agents[msp]`` and ``cons.regulator`` for queries."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.keys import public_b64
from agent.secagg import field
from agent.secagg.binding import Blinding, bound_input, grid_update, pair_truths, pair_values, prove, unmasked_values
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
from chaincode.contracts import binding as rules
from tests.unit.consortium_sim import cid, h
from tests.unit.zk_sim import CIRCUIT, commitment_of, initial_weights

A, B, C, D = "HospitalAMSP", "HospitalBMSP", "HospitalCMSP", "HospitalDMSP"
BIND = "bind-w3"
NORM_MICRO = 200_000  # ||update|| <= 0.2
SAMPLES = (120, 80, 200, 50)


def bound_params(vk_b64: str, participants: int) -> dict[str, Any]:
    """What a secure study with bound inputs of the small circuit's model adds to its parameters."""
    return {"aggregation": "secure", "committee_size": 3, "committee_threshold": 2, "keys_window_s": 60,
            "zk_circuit": CIRCUIT, "model_commitment": commitment_of(initial_weights()),
            "bind_vk_hash": hashlib.sha256(base64.b64decode(vk_b64)).hexdigest(), "update_norm_micro": NORM_MICRO,
            "participants_per_round": participants}  # fmt: skip


class BoundRound:
    """One bound round driven the way the agents would, keeping what each party holds."""

    def __init__(self, cons: Any, pk: Path, study_id: str, start: list[int] | None = None) -> None:
        self.cons, self.pk, self.sid = cons, pk, study_id
        self.member_keys = {m: x25519.X25519PrivateKey.generate() for m in cons.hospitals}
        self.secrets: dict[str, RoundSecrets] = {}
        self.bundles: dict[str, ShareBundle] = {}
        self.blinding: dict[str, Blinding] = {}
        self.masked: dict[str, np.ndarray] = {}
        self.start = start or initial_weights()
        rng = np.random.default_rng(3)
        self.final = {m: [w + int(d) for w, d in zip(self.start, rng.integers(-60, 61, 3), strict=True)]
                      for m in cons.hospitals}  # fmt: skip
        self.samples = dict(zip(sorted(cons.hospitals), SAMPLES, strict=False))
        self.rnd = cons.ok(cons.agents[A], "Round:Open", {"study_id": self.sid})
        self.n = self.rnd["round"]
        self.ctx = context(self.sid, self.n)

    def get(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.regulator, "Round:Get", {"study_id": self.sid, "round": self.n})

    def advance(self) -> dict[str, Any]:
        return self.cons.ok(self.cons.agents[A], "Round:Advance", {"study_id": self.sid, "round": self.n})

    def publish_keys(self, m: str) -> None:
        secrets = RoundSecrets.new()
        pubs = {k: public_b64(v) for k, v in self.member_keys.items() if k in self.rnd["committee"]}
        bundle = deal_bundle(m, secrets, pubs, self.rnd["threshold"], self.ctx)
        raw = bundle_bytes(bundle)
        self.cons.ok(self.cons.agents[m], "Round:PublishKeys", keys_args(self.sid, self.n, bundle, cid(f"b-{m}"), raw))
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
        return self.cons.commit(m, self.sid, self.n, **args)

    def binding_args(self, m: str, norm_micro: int = NORM_MICRO, **over: Any) -> dict[str, Any]:
        rnd = self.get()
        z = int(rnd["bind_point"])
        peers = sorted(set(rnd["committed"]) - {m})
        publics = {p: rnd["keys"][p]["round_public"] for p in rnd["masking_set"]}
        proof = prove(BIND, self.pk, self.start, self.final[m], self.samples[m], z, self.blinding[m],
                      rules.norm_bound(norm_micro))  # fmt: skip
        pairs = pair_values(m, self.secrets[m].round_key, publics, peers, self.ctx, len(self.masked[m]), z)
        return {"study_id": self.sid, "round": self.n, "value": proof["value"], "pair_values": pairs,
                "proof": proof["proof"], **over}  # fmt: skip

    def bind(self, m: str, **over: Any) -> Any:
        return self.cons.call(self.cons.agents[m], "Round:SubmitBinding", self.binding_args(m, **over))

    def to_prove(self, cheat: dict[str, list[int]] | None = None) -> dict[str, Any]:
        for m in self.rnd["participants"]:
            self.publish_keys(m)
        self.advance()
        for m in self.rnd["participants"]:
            assert self.commit(m, masked_final=(cheat or {}).get(m)).ok
        early = self.get()["challenge"]  # what agents bind and prove from before the Advance
        rnd = self.advance()
        assert rnd["state"] == "PROVE" and rnd["bind_point"]
        assert early == {"challenge_seed": rnd["challenge_seed"], "bind_point": rnd["bind_point"]}
        return rnd

    def submit_shares(self, m: str) -> Any:
        rnd = self.get()
        plan = rnd["reveal2"] if rnd.get("reveal_stage", 1) == 2 else rnd["reveal"]
        shares, complaints = member_shares(m, self.member_keys[m], plan, self.bundles, self.ctx)
        assert complaints == []
        return self.cons.call(self.cons.agents[m], "Round:SubmitShares",
                              {"study_id": self.sid, "round": self.n, "shares": shares})  # fmt: skip

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
        args = {"study_id": self.sid, "round": self.n, "evaluations": values}
        if truths:
            args["pair_truths"] = truths
        if weights is not None:
            args.update(model_cid=cid(f"model-{m}"), model_hash=h(weights.tobytes().hex()),
                        model_commitment=commitment_of([int(v) for v in np.rint(weights * 4096)]))  # fmt: skip
        return self.cons.call(self.cons.agents[m], "Round:SubmitAggregate", args)

    def expected(self, included: list[str]) -> np.ndarray:
        total = sum(self.samples[p] for p in included)
        mean = sum(grid_update(self.start, self.final[p]) * self.samples[p] for p in included) / total
        return np.array(self.start) / 4096 + mean
