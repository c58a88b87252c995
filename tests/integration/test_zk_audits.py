"""Audited studies on the real network: every endorsing peer verifies Groth16 proofs of the
audited training steps through fedledger-zk (keys from a one-party test setup here; the
ceremony is tested in zk/ceremony).

* Three hospital agents run an audited round of the demo's model end to end: they train with
  recorded steps, commit, prove the steps the ledger challenges, and the round finalizes with
  every audit verified.
* Attacks, driven step by step (tests/unit/zk_sim.py): a hospital that fabricates its update,
  hands in another hospital's or another round's proofs, proves other data than it committed,
  skips steps (its steps do not chain) or forges proof bytes is slashed on every peer and
  dropped, while honest hospitals pass.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agent.data import demo_split
from agent.data.schema import Schema
from fedledger.agent_study import StudyPlan, run_agent_study
from fedledger.consortium_admin import Admins
from fedledger.zk_setup import dev_keys
from network.consortium import Network
from network.topology import CHAINCODE_NAME, CHANNEL
from tests.integration.hospitals import NAMES, consortium
from tests.unit import zk_sim

pytestmark = pytest.mark.integration


def test_agents_prove_their_audited_steps_and_the_round_finalizes(network: Network, tmp_path: Path) -> None:
    with Admins(network) as admins:
        admins.register_hospitals()
    keys = dev_keys(tmp_path / "zk", "logreg-d30-b32", network.org(NAMES[0]).msp_id)
    sid = f"audited-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(rounds=1, epsilon_per_round=1.0, zk=keys, audit_rate_ppm=100_000, local_steps=20)
    run = run_agent_study(network, Console(width=120, force_terminal=False), plan, study_id=sid, timeout_s=900)
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"]
    with network.gateway("Regulator", "User1") as gw:
        rounds = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Round")
        rnd = rounds.evaluate("Get", {"study_id": sid, "round": 0})
        lineage = gw.network(CHANNEL).contract(CHAINCODE_NAME, "Compliance").evaluate("ModelLineage",
                                                                                       {"study_id": sid})  # fmt: skip
    assert rnd["audited"] and all(len(steps) == 2 for steps in rnd["audits"].values())
    assert {m: p["status"] for m, p in rnd["proofs"].items()} == {m: "verified" for m in rnd["participants"]}
    assert rnd["aggregate"]["commitment"] and rnd["inclusion"] == rnd["participants"]
    assert lineage["versions"][0]["audits"] == {m: "verified" for m in rnd["participants"]}
    assert all(c["step_count"] == 20 for c in rnd["commitments"].values())


def _params(model: dict[str, str], schema: Schema, keys: zk_sim.Keys) -> dict[str, Any]:
    return {
        "title": "audited", "model_spec_hash": "0" * 64, "model_cid": model["cid"], "model_hash": model["hash"],
        "data_schema_hash": schema.hash, "epsilon_budget_micro": 6_000_000, "delta_e12": 10_000_000, "rounds": 1,
        "local_steps": 8, "audit_rate_ppm": 250_000, "committee_size": 1, "committee_threshold": 1,
        "participants_per_round": 3, "min_participants": 2, "min_stake": 100, "reward_pool": 300,
        "reward_per_round": 300, "missing_slash": 10, "cheat_slash": 100, "commit_window_s": 600,
        "prove_window_s": 600, "aggregate_window_s": 600, "validation_window_s": 600,
        "zk_circuit": zk_sim.CIRCUIT, "zk_vk_hash": keys.vk_hash,
        "model_commitment": zk_sim.commitment_of(zk_sim.initial_weights()), "learning_rate_ppm": zk_sim.LR_PPM,
        "clip_ppm": zk_sim.CLIP_PPM, "expected_batch": zk_sim.EXPECTED_BATCH,
    }  # fmt: skip


@pytest.mark.parametrize("cheat", zk_sim.CHEATS)
def test_a_cheater_is_slashed_on_every_peer_while_honest_hospitals_pass(network: Network, tmp_path: Path,
                                                                         cheat: str) -> None:  # fmt: skip
    run = uuid.uuid4().hex[:6]
    sid = f"zk-{run}"
    keys = zk_sim.dev_keys(tmp_path)
    schema = Schema.load(demo_split.build(tmp_path / "data").schema_path)
    with consortium(network, tmp_path, f"zk-{run}") as cons:
        if _unregistered(cons, keys):
            ceremony = {"phase1": [keys.vk_hash], "phase2": [keys.vk_hash], "beacon1": "00", "beacon2": "00",
                        "contributors": [network.org(NAMES[0]).msp_id]}  # fmt: skip
            cons.submit(NAMES[0], "Zk", "RegisterKey", {"circuit": zk_sim.CIRCUIT, "vk": keys.vk_b64,
                                                        "ceremony": ceremony}, admin=True)  # fmt: skip
        _, model0 = cons.initial_model(f"{sid}/initial")
        cons.study(sid, _params(model0, schema, keys))
        rnd = cons.submit(NAMES[0], "Round", "Open", {"study_id": sid})
        people = {m: zk_sim.Participant(m, sid, 0, 8, seed=30 + k) for k, m in enumerate(rnd["participants"])}
        honest_a, cheater, honest_c = rnd["participants"]
        for m in (honest_a, honest_c):
            people[m].train(zk_sim.initial_weights())
        zk_sim.prepare_cheater(cheat, people[cheater], people[honest_a])
        for m, p in people.items():
            commit = {"study_id": sid, "round": 0, "sample_bucket": 3, "epsilon_micro": 1_000_000,
                      "consented_records": 10, **p.commit_args()}  # fmt: skip
            cons.everywhere(cons.as_msp(m, "Round").submit("Commit", commit))
        rnd = cons.submit(NAMES[0], "Round", "Advance", {"study_id": sid, "round": 0})
        assert rnd["state"] == "PROVE"
        honest_a, cheater, honest_c = rnd["participants"]
        args = zk_sim.cheating_proofs(cheat, people[cheater], people[honest_a], rnd["audits"][cheater], keys)
        staked = cons.c(NAMES[0], "Token").evaluate("Account", {"msp_id": cheater})["staked"]
        out = cons.everywhere(cons.as_msp(cheater, "Round").submit("SubmitProof", {"study_id": sid, "round": 0,
                                                                                    **args})).json()  # fmt: skip
        assert out["status"] == "failed" and out["reason"], out
        assert cons.c(NAMES[0], "Token").evaluate("Account", {"msp_id": cheater})["staked"] == staked - 100
        for m in (honest_a, honest_c):
            args = {"study_id": sid, "round": 0, **people[m].proof_args(rnd["audits"][m], keys)}
            assert cons.everywhere(cons.as_msp(m, "Round").submit("SubmitProof", args)).json()["status"] == "verified"
        rnd = cons.submit(NAMES[0], "Round", "Advance", {"study_id": sid, "round": 0})
        assert rnd["state"] == "AGGREGATE" and rnd["inclusion"] == sorted([honest_a, honest_c])
        assert "audit failed" in rnd["dropped"][cheater]


def _unregistered(cons: Any, keys: zk_sim.Keys) -> bool:
    try:
        cons.c(NAMES[0], "Zk").evaluate("GetKey", {"vk_hash": keys.vk_hash})
        return False
    except Exception:
        return True
