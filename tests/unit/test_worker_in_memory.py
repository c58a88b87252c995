"""Whole studies run by the agents' real workers on the real contracts in memory (see
tests/unit/agents_in_memory.py): the duty planner, the round modes, training, envelopes,
aggregation, validation and settlement, in trusted and secure mode (with and without bound inputs); no
action sent twice."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.daemon.worker import StudyMismatch
from agent.data.schema import load_records
from agent.federation import fetch_model
from agent.models import LOGREG_30, get_weights
from agent.privacy import Release
from agent.training import DPConfig, evaluate
from agent.zk import binary
from agent.zk.participant import weights_commitment
from tests.unit.agents_in_memory import InMemoryAgents

SID = "bc-screening"
SECURE = {"aggregation": "secure", "committee_size": 3, "committee_threshold": 2}
CEREMONY = {"phase1": ["0" * 64], "phase2": ["0" * 64], "contributors": ["HospitalAMSP"], "beacon1": "00",
            "beacon2": "00"}  # fmt: skip


def bound_inputs(agents: InMemoryAgents, tmp_path: Path) -> dict[str, Any]:
    """One-party keys of the demo model's binding circuit, registered and handed to every agent;
    the study parameters that bind its inputs."""
    pk, vk = tmp_path / "bind.pk", tmp_path / "bind.vk"
    binary.dev_setup("bind-w31", pk, vk)
    vk_b64 = base64.b64encode(vk.read_bytes()).decode()
    first = agents.cons.hospitals[0]
    agents.cons.ok(agents.cons.admins[first], "Zk:RegisterKey", {"circuit": "bind-w31", "vk": vk_b64,
                                                                 "ceremony": CEREMONY})  # fmt: skip
    digest = hashlib.sha256(vk.read_bytes()).hexdigest()
    for worker in agents.workers.values():
        target = worker.cfg.keys_dir / "zk" / f"{digest}.pk"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pk, target)
    weights = get_weights(LOGREG_30.build(seed=0))
    return {"zk_circuit": "logreg-d30-b32", "model_commitment": weights_commitment("logreg-d30-b32", weights),
            "bind_vk_hash": digest, "update_norm_micro": 20_000_000}  # fmt: skip


@pytest.mark.parametrize("mode", ["trusted", "secure", "bound"])
def test_the_real_workers_run_a_whole_study_each_action_once(tmp_path: Path, mode: str) -> None:
    agents = InMemoryAgents(tmp_path)
    over = SECURE if mode != "trusted" else {"committee_size": 1, "committee_threshold": 1}
    if mode == "bound":
        over = {**over, **bound_inputs(agents, tmp_path)}
    agents.study(SID, min_participants=3, **over)
    done = agents.run(SID)
    cons = agents.cons
    assert max(done.values()) == 1, "no hospital performed any duty twice"
    for m, submitter in agents.submitters.items():
        assert max(submitter.sent.values()) == 1, f"{m} sent an action twice: {submitter.sent}"
    for n in range(3):
        rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": n})
        assert rnd["state"] == "FINALIZED" and rnd["settled"] and rnd["aggregation"] == mode.replace("bound", "secure")
        assert not rnd["aggregate"].get("excluded") and set(rnd["inclusion"]) == set(cons.hospitals)
        assert {m for (m, k, r, _) in done if k == "commit" and r == n} == set(rnd["participants"])
        assert {m for (m, k, r, _) in done if k == "validate" and r == n} == set(cons.hospitals)
        if mode != "trusted":
            assert {m for (m, k, r, _) in done if k == "keys" and r == n} == set(rnd["participants"])
            assert len({m for (m, k, r, _) in done if k == "shares" and r == n}) >= rnd["threshold"]
            assert len(rnd["aggregate"]["members"]) >= rnd["threshold"]
        else:
            steward = rnd["committee"][0]
            assert [m for (m, k, r, _) in done if k in ("advance", "aggregate", "settle") and r == n] == [steward] * 3
        for m, c in rnd["commitments"].items():  # what the worker committed is what it journaled
            saved = agents.workers[m].journal.artifact(f"{SID}/r{n}/update")
            assert saved["commit"]["update_hash"] == c["update_hash"]
            assert saved["codec"] == ("none" if mode == "trusted" else "masked")
            if mode != "trusted":  # trained while the others published their keys
                phases = {t["phase"] for t in agents.workers[m].journal.timings(SID) if t["round"] == n
                          and t["kind"] == "training"}  # fmt: skip
                assert phases == {"keys"}, phases
        if mode == "bound":  # every input bound on the ledger and checked by the committee
            assert {b["status"] for b in rnd["bindings"].values()} == {"verified"}
            assert [c["failed"] for c in rnd["binding_checks"]] == [[]] and rnd["model_in"]["commitment"]
            assert {m for (m, k, r, _) in done if k == "bind" and r == n} == set(rnd["participants"])
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": SID})
    assert study["status"] == "COMPLETED"
    for m, worker in agents.workers.items():  # no round secrets are left on disk
        assert [a for a in worker.journal.artifact_names(f"{SID}/") if a.endswith("/secrets")] == [], m
    # secrets left by a stop between sending and deleting them go at the agent's next look
    worker = agents.workers[cons.hospitals[0]]
    worker.journal.put_artifact(f"{SID}/r1/secrets", {"left": "behind"})
    worker.anticipate(study, cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": 2}))
    assert worker.journal.artifact(f"{SID}/r1/secrets") is None
    last = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": 2})
    first = agents.workers[cons.hospitals[0]]
    final = fetch_model(first.hospital, last["aggregate"], LOGREG_30)  # opened and checked against the ledger hash
    test = evaluate(LOGREG_30, final, load_records(agents.data.test_path, agents.schema))
    assert test["accuracy"] >= 0.85, test


def test_a_budget_that_buys_no_round_is_a_study_mismatch_not_a_failed_duty(tmp_path: Path) -> None:
    """When the journaled releases leave too little for any noise, the worker refuses the study
    (StudyMismatch: the runner stops taking part and says why) instead of failing the duty and
    retrying it for ever."""
    agents = InMemoryAgents(tmp_path)
    agents.study(SID, min_participants=3, committee_size=1, committee_threshold=1)
    me, worker = next(iter(agents.workers.items()))
    study, _ = worker.current(SID)
    rnd = {"round": 0, "model_in": {"cid": study["params"]["model_cid"], "hash": study["params"]["model_hash"]}}
    spent = (Release(0.5, 1.0, 1000),)  # far beyond the study's budget
    worker.plan = lambda s, n: DPConfig(epsilon=1.0, delta=1e-5, rounds=2, history=spent)  # type: ignore[method-assign]
    with pytest.raises(StudyMismatch, match="privacy budget exhausted"):
        worker._train(study, rnd, "commit")
    assert worker.journal.artifact(f"{SID}/r{rnd['round']}/update") is None, f"{me} saved nothing"
