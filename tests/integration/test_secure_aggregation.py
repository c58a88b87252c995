"""Secure-committee aggregation on the real network: three hospitals train with DP-SGD, deal
shares of their round secrets to the committee chosen by the chaincode (bundles on their Kubo
daemons, hashes on the ledger), commit masked updates, and the committee unmasks the weighted
sum without any party seeing an update.

* A participant drops after the others masked against it: its round key is revealed instead of
  its seed; a member publishing a forged share is caught by the ledger and slashed; the other two
  members reconstruct, and the finalized model equals the plaintext weighted FedAvg of the two
  included updates within the fixed-point bound.
* Only the committee can open a masked update, and what a member opens is unrelated to the
  update behind it.
* With fewer than t members publishing shares the round aborts at its deadline and no secret
  has t shares anywhere.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.federation import fetch_model
from agent.models import LOGREG_30
from agent.rounds.commit import commit_args
from agent.rounds.secure import SecureMode, committee_shares, publish_keys
from agent.secagg import field
from agent.secagg.protocol import RoundSecrets
from agent.storage.envelope import open_envelope
from agent.storage.vault import ArtifactError
from agent.training import DPConfig, train_round
from clients.ledger import Round, Token
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES, Consortium, consortium

pytestmark = pytest.mark.integration


def _params(model: dict[str, str], schema: Schema, **over: Any) -> dict[str, Any]:
    params = {
        "title": "secure aggregation", "model": LOGREG_30.name, "model_spec_hash": LOGREG_30.hash,
        "model_cid": model["cid"], "model_hash": model["hash"], "data_schema_hash": schema.hash,
        "epsilon_budget_micro": 6_000_000,
        "delta_e12": 10_000_000, "rounds": 1, "local_steps": 100, "audit_rate_ppm": 0, "committee_size": 3,
        "committee_threshold": 2, "participants_per_round": 3, "min_participants": 2, "min_stake": 100,
        "reward_pool": 300, "reward_per_round": 300, "missing_slash": 10, "cheat_slash": 100,
        "commit_window_s": 600, "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
        "aggregation": "secure", "keys_window_s": 600,
    }  # fmt: skip
    return {**params, **over}


def _get(cons: Consortium, sid: str) -> dict[str, Any]:
    return cons.ledger(NAMES[0]).evaluate(Round.get(sid, 0))


def _advance(cons: Consortium, sid: str) -> dict[str, Any]:
    return cons.tx(NAMES[0], Round.advance(sid, 0))


def _publish_shares(cons: Consortium, member: str, rnd: dict[str, Any], forge: str | None = None) -> dict[str, Any]:
    """``member`` publishes its shares; ``forge`` names a participant whose share it corrupts."""
    args = committee_shares(cons.hospitals[member], rnd, LOGREG_30)
    if forge is not None:
        raw = bytearray(base64.b64decode(args["shares"][forge]))
        raw[10] ^= 0xFF
        args["shares"][forge] = base64.b64encode(bytes(raw)).decode()
    return cons.tx(cons.name_of(member), Round.submit_shares(args))


def _keys_then_train(cons: Consortium, sid: str, data: demo_split.DemoData, schema: Schema) -> tuple[dict, dict]:
    """Open round 0; every participant publishes its round key, then trains (before masking)."""
    rnd = cons.tx(NAMES[0], Round.open(sid))
    assert rnd["state"] == "KEYS" and rnd["committee"] == sorted(cons.hospitals)
    secrets, results = {}, {}
    for m in rnd["participants"]:
        secrets[m] = RoundSecrets.new()
        cons.tx(cons.name_of(m), Round.publish_keys(publish_keys(cons.hospitals[m], rnd, secrets[m])))
        records = load_records(data.train_paths[cons.name_of(m)], schema)
        weights_in = fetch_model(cons.hospitals[m], rnd["model_in"], LOGREG_30)
        results[m] = train_round(LOGREG_30, weights_in, records, DPConfig(epsilon=2.0, delta=1e-5, epochs=5), seed=1)
    return secrets, results


def test_a_secure_round_with_a_dropout_and_a_lying_member(network: LocalConsortium, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    sid = f"sa-{run}"
    data = demo_split.build(tmp_path / "data")
    schema = Schema.load(data.schema_path)
    with consortium(network, tmp_path, f"sa-{run}") as cons:
        initial, model0 = cons.initial_model(f"{sid}/initial")
        cons.study(sid, _params(model0, schema, commit_window_s=8))
        secrets, results = _keys_then_train(cons, sid, data, schema)
        rnd = _advance(cons, sid)
        assert rnd["state"] == "OPEN" and rnd["masking_set"] == sorted(cons.hospitals)
        rnd = _get(cons, sid)
        a, b, dropped = rnd["masking_set"]  # the last one dealt its shares, then never commits
        for m in (a, b):
            stored = SecureMode(lambda m=m: secrets[m]).store_update(cons.hospitals[m], rnd, results[m])
            assert stored.size == field.ELEMENT_BYTES * field.elements(LOGREG_30.parameter_count())
            commit = commit_args(rnd, results[m], stored)
            cons.tx(cons.name_of(m), Round.commit(commit))

        # only committee members can open a masked update, and what they open is masked
        rnd = _get(cons, sid)
        envelope = rnd["commitments"][a]["share_cids"][0]
        with pytest.raises(ArtifactError, match="holds no key"):
            open_envelope(cons.hospitals[a].ipfs, envelope, "OutsiderMSP", x25519.X25519PrivateKey.generate())
        seen = field.decode(field.from_bytes(open_envelope(cons.hospitals[b].ipfs, envelope, b,
                                                           cons.hospitals[b].share_key), 31), 31)  # fmt: skip
        truth = results[a].update * results[a].sample_count
        assert np.min(np.abs(seen - truth)) > 1.0, "a member sees masked values, nowhere near the weighted update"

        time.sleep(max(0.0, rnd["deadlines"]["commit_ms"] / 1000 - time.time()) + 0.5)
        rnd = _advance(cons, sid)
        assert rnd["state"] == "AGGREGATE" and rnd["missing"] == [dropped]
        assert rnd["reveal"] == {"seed": [a, b], "key": [dropped]}
        rnd = _get(cons, sid)

        honest, liar, second = rnd["committee"][0], rnd["committee"][1], rnd["committee"][2]
        _publish_shares(cons, honest, rnd)
        assert not _get(cons, sid)["unmask_ready"]
        staked = cons.ledger(NAMES[0]).evaluate(Token.account(liar))["staked"]
        out = _publish_shares(cons, liar, rnd, forge=a)
        assert out["record"]["status"] == "wrong" and not _get(cons, sid)["unmask_ready"]
        assert cons.ledger(NAMES[0]).evaluate(Token.account(liar))["staked"] == staked - 100
        _publish_shares(cons, second, rnd)
        assert _get(cons, sid)["unmask_ready"]

        rnd = _get(cons, sid)
        refs = {}
        for m in (honest, second):
            refs[m] = SecureMode(lambda m=m: secrets[m]).aggregate(cons.hospitals[m], rnd, LOGREG_30,
                                                                   sorted(cons.hospitals)).model  # fmt: skip
            state = cons.tx(cons.name_of(m), Round.submit_aggregate(sid, 0, refs[m]["cid"], refs[m]["hash"]))["state"]
        assert state == "FINALIZED" and refs[honest]["hash"] == refs[second]["hash"]
        assert refs[honest]["cid"] != refs[second]["cid"]  # each member encrypted its own copy
        final_round = _get(cons, sid)
        assert final_round["aggregate"]["members"] == sorted([honest, second])
        final = fetch_model(cons.hospitals[a], final_round["aggregate"], LOGREG_30)
        included = [results[a], results[b]]
        expected = initial + sum(r.update * r.sample_count for r in included) / sum(r.sample_count for r in included)
        bound = 2 * 2**-17 / sum(r.sample_count for r in included) + 1e-6  # fixed point + float32 rounding
        assert np.max(np.abs(final - expected)) <= bound
        assert cons.ledger(NAMES[0]).evaluate(Token.supply())["conserved"]


def test_below_t_members_the_round_aborts_and_nothing_is_unmasked(network: LocalConsortium, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:6]
    sid = f"sb-{run}"
    data = demo_split.build(tmp_path / "data")
    schema = Schema.load(data.schema_path)
    with consortium(network, tmp_path, f"sb-{run}") as cons:
        _, model0 = cons.initial_model(f"{sid}/initial")
        cons.study(sid, _params(model0, schema, aggregate_window_s=6))
        secrets, results = _keys_then_train(cons, sid, data, schema)
        _advance(cons, sid)
        rnd = _get(cons, sid)
        for m in rnd["masking_set"]:
            stored = SecureMode(lambda m=m: secrets[m]).store_update(cons.hospitals[m], rnd, results[m])
            commit = commit_args(rnd, results[m], stored)
            cons.tx(cons.name_of(m), Round.commit(commit))
        rnd = _advance(cons, sid)
        assert rnd["state"] == "AGGREGATE"
        rnd = _get(cons, sid)
        only = rnd["committee"][0]
        _publish_shares(cons, only, rnd)
        time.sleep(max(0.0, rnd["deadlines"]["aggregate_ms"] / 1000 - time.time()) + 0.5)
        rnd = _advance(cons, sid)
        assert rnd["state"] == "ABORTED" and "nothing was unmasked" in rnd["abort_reason"]
        shares = _get(cons, sid)["shares"]
        assert list(shares) == [only]  # one share per secret: below t = 2, every seed stays hidden
