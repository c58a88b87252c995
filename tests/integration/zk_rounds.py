"""An audited round of the small circuit (tests/unit/zk_sim.py) on the real network, driven step
by step: three hospitals train, commit, prove their challenged steps on every peer; optionally
one of them cheats. Shared by the attack tests and the ceremony test."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from agent.data import demo_split
from agent.data.schema import Schema
from clients.ledger import Round, Token, Zk
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES, consortium
from tests.unit import zk_sim


def study_params(model: dict[str, str], schema: Schema, keys: zk_sim.Keys) -> dict[str, Any]:
    return {
        "title": "audited", "model": zk_sim.MODEL, "model_spec_hash": "0" * 64, "model_cid": model["cid"],
        "model_hash": model["hash"],
        "data_schema_hash": schema.hash, "epsilon_budget_micro": 6_000_000, "delta_e12": 10_000_000, "rounds": 1,
        "local_steps": 8, "audit_rate_ppm": 250_000, "committee_size": 1, "committee_threshold": 1,
        "participants_per_round": 3, "min_participants": 2, "min_stake": 100, "reward_pool": 300,
        "reward_per_round": 300, "missing_slash": 10, "cheat_slash": 100, "commit_window_s": 600,
        "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
        "zk_circuit": zk_sim.CIRCUIT, "zk_vk_hash": keys.vk_hash,
        "model_commitment": zk_sim.commitment_of(zk_sim.initial_weights()), "learning_rate_ppm": zk_sim.LR_PPM,
        "clip_ppm": zk_sim.CLIP_PPM, "expected_batch": zk_sim.EXPECTED_BATCH,
    }  # fmt: skip


def _registered(cons: Any, keys: zk_sim.Keys) -> bool:
    try:
        cons.ledger(NAMES[0]).evaluate(Zk.get_key(keys.vk_hash))
        return True
    except Exception:
        return False


def audited_round(
    network: LocalConsortium, tmp_path: Path, keys: zk_sim.Keys, cheat: str | None = None
) -> dict[str, Any]:
    """Run round 0 of a fresh audited study to AGGREGATE; with ``cheat``, the second participant
    cheats that way and must fail its audit (slashed 100) while the others verify. Keys not yet
    on the ledger are registered with a one-party record. Returns the round in AGGREGATE."""
    run = uuid.uuid4().hex[:6]
    sid = f"zk-{run}"
    schema = Schema.load(demo_split.build(tmp_path / "data").schema_path)
    with consortium(network, tmp_path, f"zk-{run}") as cons:
        if not _registered(cons, keys):
            ceremony = {"phase1": [keys.vk_hash], "phase2": [keys.vk_hash], "beacon1": "00", "beacon2": "00",
                        "contributors": [network.org(NAMES[0]).msp_id]}  # fmt: skip
            cons.tx(NAMES[0], Zk.register_key(zk_sim.CIRCUIT, keys.vk_b64, ceremony), admin=True)
        _, model0 = cons.initial_model(f"{sid}/initial")
        cons.study(sid, study_params(model0, schema, keys))
        rnd = cons.tx(NAMES[0], Round.open(sid))
        people = {m: zk_sim.Participant(m, sid, 0, 8, seed=30 + k) for k, m in enumerate(rnd["participants"])}
        cheater = rnd["participants"][1] if cheat else None
        honest = [m for m in rnd["participants"] if m != cheater]
        for m in honest:
            people[m].train(zk_sim.initial_weights())
        if cheat:
            zk_sim.prepare_cheater(cheat, people[cheater], people[honest[0]])
        for m, p in people.items():
            commit = {"study_id": sid, "round": 0, "sample_bucket": 3, "epsilon_micro": 1_000_000,
                      "consented_records": 10, **p.commit_args()}  # fmt: skip
            cons.everywhere(cons.agent_of(m).submit(Round.commit(commit)))
        rnd = cons.tx(NAMES[0], Round.advance(sid, 0))
        assert rnd["state"] == "PROVE"
        if cheat:
            args = zk_sim.cheating_proofs(cheat, people[cheater], people[honest[0]], rnd["audits"][cheater], keys)
            staked = cons.ledger(NAMES[0]).evaluate(Token.account(cheater))["staked"]
            out = cons.everywhere(cons.agent_of(cheater).submit(Round.submit_proof({"study_id": sid, "round": 0,
                                                                                   **args}))).json()  # fmt: skip
            assert out["status"] == "failed" and out["reason"], out
            assert cons.ledger(NAMES[0]).evaluate(Token.account(cheater))["staked"] == staked - 100
        for m in honest:
            args = {"study_id": sid, "round": 0, **people[m].proof_args(rnd["audits"][m], keys)}
            assert cons.everywhere(cons.agent_of(m).submit(Round.submit_proof(args))).json()["status"] == "verified"
        rnd = cons.tx(NAMES[0], Round.advance(sid, 0))
        assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == sorted(honest)
        if cheat:
            assert "audit failed" in rnd["dropped"][cheater]
        return rnd
