"""Audited studies on the real network: every endorsing peer verifies Groth16 proofs of the
audited training steps through fedledger-zk (keys from a one-party test setup here; the
consortium's ceremony is tests/integration/test_zk_ceremony.py).

* Three hospital agents run an audited round end to end, for each model spec (logistic
  regression, the demo's, and the 30-16-1 perceptron): they train with
  recorded steps, commit, prove the steps the ledger challenges, and the round finalizes with
  every audit verified.
* Attacks, driven step by step (tests/integration/zk_rounds.py): a hospital that fabricates its update,
  hands in another hospital's or another round's proofs, proves other data than it committed,
  skips steps (its steps do not chain) or forges proof bytes is slashed on every peer and
  dropped, while honest hospitals pass.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rich.console import Console

from agent.models import LOGREG_30, MLP_30_16_1, ModelSpec
from clients.ledger import Compliance, Round
from demo.agent_study import StudyPlan, run_agent_study
from demo.consortium_admin import register_hospitals
from demo.zk_setup import dev_keys
from network.admins import Admins
from network.consortium import LocalConsortium
from tests.integration.hospitals import NAMES
from tests.integration.zk_rounds import audited_round
from tests.unit import zk_sim

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("circuit", "spec"), [("logreg-d30-b32", LOGREG_30), ("mlp-d30-h16-b32", MLP_30_16_1)])
def test_agents_prove_their_audited_steps_and_the_round_finalizes(
    network: LocalConsortium, tmp_path: Path, circuit: str, spec: ModelSpec
) -> None:
    with Admins(network) as admins:
        register_hospitals(admins)
    keys = dev_keys(tmp_path / "zk", circuit, network.org(NAMES[0]).msp_id)
    sid = f"audited-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(rounds=1, epsilon_per_round=1.0, zk=keys, audit_rate_ppm=100_000, local_steps=20, spec=spec)
    run = run_agent_study(network, Console(width=120, force_terminal=False), plan, study_id=sid, timeout_s=900)
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"]
    with network.ledger("Regulator", "User1") as regulator:
        rnd = regulator.evaluate(Round.get(sid, 0))
        lineage = regulator.evaluate(Compliance.model_lineage(sid))
    assert rnd["audited"] and all(len(steps) == 2 for steps in rnd["audits"].values())
    assert {m: p["status"] for m, p in rnd["proofs"].items()} == {m: "verified" for m in rnd["participants"]}
    assert rnd["aggregate"]["commitment"] and rnd["inclusion"] == rnd["participants"]
    assert lineage["versions"][0]["audits"] == {m: "verified" for m in rnd["participants"]}
    assert all(c["step_count"] == 20 for c in rnd["commitments"].values())


@pytest.mark.parametrize("cheat", zk_sim.CHEATS)
def test_a_cheater_is_slashed_on_every_peer_while_honest_hospitals_pass(network: LocalConsortium, tmp_path: Path,
                                                                         cheat: str) -> None:  # fmt: skip
    audited_round(network, tmp_path, zk_sim.dev_keys(tmp_path), cheat)
