"""Whole studies run by the agents' real workers on the real contracts in memory (see
tests/unit/agents_in_memory.py): the duty planner, the round modes, training, envelopes,
aggregation, validation and settlement, in trusted and secure mode; no action sent twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.data.schema import load_records
from agent.federation import fetch_model
from agent.models import LOGREG_30
from agent.training import evaluate
from tests.unit.agents_in_memory import InMemoryAgents

SID = "bc-screening"
SECURE = {"aggregation": "secure", "committee_size": 3, "committee_threshold": 2}


@pytest.mark.parametrize("mode", ["trusted", "secure"])
def test_the_real_workers_run_a_whole_study_each_action_once(tmp_path: Path, mode: str) -> None:
    agents = InMemoryAgents(tmp_path)
    over = SECURE if mode == "secure" else {"committee_size": 1, "committee_threshold": 1}
    agents.study(SID, min_participants=3, **over)
    done = agents.run(SID)
    cons = agents.cons
    assert max(done.values()) == 1, "no hospital performed any duty twice"
    for m, submitter in agents.submitters.items():
        assert max(submitter.sent.values()) == 1, f"{m} sent an action twice: {submitter.sent}"
    for n in range(3):
        rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": n})
        assert rnd["state"] == "FINALIZED" and rnd["settled"] and rnd["aggregation"] == mode
        assert not rnd["aggregate"].get("excluded") and set(rnd["inclusion"]) == set(cons.hospitals)
        assert {m for (m, k, r, _) in done if k == "commit" and r == n} == set(rnd["participants"])
        assert {m for (m, k, r, _) in done if k == "validate" and r == n} == set(cons.hospitals)
        if mode == "secure":
            assert {m for (m, k, r, _) in done if k == "keys" and r == n} == set(rnd["participants"])
            assert len({m for (m, k, r, _) in done if k == "shares" and r == n}) >= rnd["threshold"]
            assert len(rnd["aggregate"]["members"]) >= rnd["threshold"]
        else:
            steward = rnd["committee"][0]
            assert [m for (m, k, r, _) in done if k in ("advance", "aggregate", "settle") and r == n] == [steward] * 3
        for m, c in rnd["commitments"].items():  # what the worker committed is what it journaled
            saved = agents.workers[m].journal.artifact(f"{SID}/r{n}/update")
            assert saved["commit"]["update_hash"] == c["update_hash"]
            assert saved["codec"] == ("masked" if mode == "secure" else "none")
    study = cons.ok(cons.regulator, "Study:Get", {"study_id": SID})
    assert study["status"] == "COMPLETED"
    last = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": 2})
    first = agents.workers[cons.hospitals[0]]
    final = fetch_model(first.hospital, last["aggregate"], LOGREG_30)  # opened and checked against the ledger hash
    test = evaluate(LOGREG_30, final, load_records(agents.data.test_path, agents.schema))
    assert test["accuracy"] >= 0.85, test
