"""Studies run by hospital agent processes on the real network: three hospitals, their own
identities, Kubo daemons, keys and journals, driven only by ledger events.

* A 3-round study in the default secure-committee mode runs to the end; the report's figures
  come from the ledger and IPFS.
* Crash test (secure mode): one agent is made to die right after its commitment left for the
  orderer (the worst moment: it cannot know whether it landed), another right after it journaled
  its signed round key but before sending it. Restarted, each resumes from its journal and the
  ledger: the rounds complete, there is exactly one commitment of each, carried by the
  transaction signed before the crash, the round key is the one dealt before the crash (the
  committee's shares still match it), and nobody trained twice.
* A trusted-aggregator study with int8 updates.
* A multi-class study (scikit-learn's wine: 13 features, 3 classes, a scaler the proposer
  fitted): the model follows the schema, the secure committee aggregates softmax weights, and
  the report scores it with macro metrics against centralised and local baselines.
* The imaging task (digits, the CNN, 10 classes) with FedAvgM and FedProx as study parameters:
  the rounds record the server step and the model it started from, and the ledger's epsilon
  increments shrink as rounds compose under Renyi DP.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rich.console import Console

from agent.aggregation import ServerStep
from agent.daemon.journal import Journal
from agent.daemon.submitter import FAULT_ENV
from agent.data.demo_split import DemoData
from agent.data.schema import Schema, fit_scaler, load_records
from agent.models import ModelSpec
from agent.secagg import field
from clients.ledger import Compliance, Round, Study
from demo import example_data, tasks
from demo.agent_study import StudyPlan, StudyRun, run_agent_study
from demo.study_report import write_html
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration


def _console() -> Console:
    return Console(width=120, force_terminal=False)


def _committed_entries(net: LocalConsortium, msp_id: str, study_id: str, round_no: int) -> list[dict]:
    with net.ledger("Regulator", "User1") as regulator:
        activity = regulator.evaluate(Compliance.org_activity(msp_id))
    return [e for e in activity if e["action"] == "round.committed" and e["study"] == study_id
            and e["round"] == round_no]  # fmt: skip


def test_three_agents_run_a_three_round_study(registered: LocalConsortium, secure_study: StudyRun,
                                              tmp_path: Path) -> None:  # fmt: skip
    run = secure_study
    sid = run.study_id
    r = run.report
    assert [row["state"] for row in r.rounds] == ["FINALIZED"] * 3
    # six coordinates per 32-byte element, then the two blinding elements of a bound input
    assert r.aggregation == "secure" and r.update_bytes == {"masked": 32 * (6 + 2)}
    with registered.ledger("Regulator", "User1") as regulator:
        for n in range(3):
            rnd = regulator.evaluate(Round.get(sid, n))
            assert len(rnd["committee"]) == 3 and rnd["threshold"] == 2 and rnd["unmask_ready"]
            assert rnd["reveal"] == {"seed": rnd["inclusion"], "key": []}
            # every input bound on every endorsing peer and checked after the reveal, none failing
            assert rnd["bound"] and {b["status"] for b in rnd["bindings"].values()} == {"verified"}
            assert [c["failed"] for c in rnd["binding_checks"]] == [[]] and rnd["disputes"] == []
            assert len(rnd["aggregate"]["members"]) >= 2  # two members unmasked the same weights
            assert all(s["status"] == "valid" for s in rnd["shares"].values()) and len(rnd["shares"]) >= 2
    assert all(row["rewards"] for row in r.rounds), "every round paid its contributors"
    assert r.federated["accuracy"] >= 0.9 and r.federated["auroc"] >= 0.95, r.federated
    assert set(r.epsilon) == set(run.agents)
    assert all(2.5 < e <= r.epsilon_budget for e in r.epsilon.values()), r.epsilon  # budget used, never exceeded
    for row in r.rounds:
        assert row["critical"]["training"] > 0 and row["critical"]["ledger"] > 0 and row["wall_s"] > 0
        assert row["excluded"] == {}
    for msp_id, cfg in run.agents.items():  # one commitment per round and hospital, all journaled as committed
        journal = Journal(cfg.journal_path)
        subs = journal.submissions(sid)
        journal.close()
        # a hospital's own contributions (round key, commitment, validation) all landed; a committee
        # member's shares may lose an MVCC race and no longer be needed once t members' shares unmasked
        own = [s for s in subs if s.action.rsplit("/", 1)[-1] in ("keys", "commit", "validate")]
        assert own and all(s.state == "committed" for s in own), [(s.action, s.state) for s in subs]
        assert all(s.state in ("committed", "failed") for s in subs), [(s.action, s.state) for s in subs]
        for n in range(3):
            assert len(_committed_entries(registered, msp_id, sid, n)) == 1
    html_path, png_path = write_html(r, tmp_path / "report", ["test"])
    assert png_path.read_bytes().startswith(b"\x89PNG") and "data:image/png;base64," in html_path.read_text()


def test_an_agent_killed_after_sending_its_commitment_resumes_without_a_duplicate(registered: LocalConsortium) -> None:
    sid = f"crash-{uuid.uuid4().hex[:6]}"
    faults = {"HospitalB": "exit-after-send:commit", "HospitalC": "exit-after-endorse:keys"}
    run = run_agent_study(
        registered,
        _console(),
        StudyPlan(rounds=2, epsilon_per_round=1.0),
        study_id=sid,
        agent_env={name: {FAULT_ENV: fault} for name, fault in faults.items()},
        restarts=1,
        timeout_s=600,
    )
    assert sorted(run.crashes) == [("HospitalB", 75), ("HospitalC", 75)]
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED", "FINALIZED"]
    for victim, kind, expected_log in (
        ("HospitalB", "commit", "sent before the restart is on the ledger: VALID"),
        ("HospitalC", "keys", "is not on the ledger; re-sending its journaled envelope"),
    ):
        msp_id = registered.org(victim).msp_id
        cfg = run.agents[msp_id]
        out = (cfg.state_dir / "agent.out").read_text()
        assert "fault injection" in out and expected_log in out, out[-2000:]
        journal = Journal(cfg.journal_path)
        sent = journal.submission(f"{sid}/r0/{kind}")
        commit = journal.submission(f"{sid}/r0/commit")
        trainings = [t for t in journal.timings(sid) if t["round"] == 0 and t["kind"] == "training"]
        secrets_left = journal.artifact(f"{sid}/r0/secrets")
        journal.close()
        assert sent is not None and sent.state == "committed" and sent.attempts == 1
        assert len(trainings) == 1, "the restarted agent reused its journaled update instead of training again"
        assert secrets_left is None, "round secrets are deleted once the masked update is committed"
        entries = _committed_entries(registered, msp_id, sid, 0)
        assert len(entries) == 1 and entries[0]["tx_id"] == commit.tx_id  # the transaction signed before the crash


def test_a_trusted_aggregator_study_with_int8_updates(registered: LocalConsortium) -> None:
    sid = f"trusted-{uuid.uuid4().hex[:6]}"
    plan = StudyPlan(rounds=1, epsilon_per_round=1.0, compression="int8", aggregation="trusted")
    run = run_agent_study(registered, _console(), plan, study_id=sid, timeout_s=600)
    assert [row["state"] for row in run.report.rounds] == ["FINALIZED"]
    assert run.report.aggregation == "trusted" and len(run.report.rounds[0]["committee"]) == 1
    assert run.report.update_bytes == {"int8": 31 + 8}  # 4x smaller than float32 (124 B) plus a header


def test_a_multi_class_study_on_data_of_another_shape(registered: LocalConsortium, tmp_path: Path) -> None:
    root = tmp_path / "wine"
    folders = example_data.write("wine", root)
    raw = Schema.load(folders["HospitalA"] / "schema.json")
    schema = fit_scaler(raw, load_records(folders["HospitalA"] / "train.csv", raw))  # the proposer's scaler
    for folder in folders.values():
        schema.write(folder / "schema.json")
    data = DemoData(root, folders["HospitalA"] / "schema.json", root / "test.csv",
                    {n: f / "train.csv" for n, f in folders.items()},
                    {n: f / "validation.csv" for n, f in folders.items()})  # fmt: skip
    spec = ModelSpec.for_schema(schema, "logreg")
    assert spec.name == "logreg-d13-c3"
    sid = f"wine-{uuid.uuid4().hex[:6]}"
    run = run_agent_study(registered, _console(), StudyPlan(rounds=2, epsilon_per_round=2.0, spec=spec, data=data),
                          study_id=sid, timeout_s=600)  # fmt: skip
    r = run.report
    assert [row["state"] for row in r.rounds] == ["FINALIZED"] * 2
    assert r.update_bytes == {"masked": 32 * field.elements(spec.parameter_count())} and spec.parameter_count() == 42
    print(f"\n[figures] wine (3 classes), {sid}: federated DP {r.federated}, centralised {r.central}, alone {r.local}")
    assert r.federated["accuracy"] > 0.6, "3 balanced-ish classes: chance is about 0.4"


def test_a_digits_cnn_study_with_fedavgm_and_fedprox(registered: LocalConsortium, tmp_path: Path) -> None:
    """The imaging task on the real network: the CNN through the agents and the secure committee,
    FedAvgM and FedProx fixed by the study on the ledger, every round composed under Renyi DP."""
    task = tasks.digits()
    sid = f"digits-{uuid.uuid4().hex[:6]}"
    server = ServerStep("fedavgm", 1.0, 0.5)
    plan = StudyPlan(rounds=2, epsilon_per_round=1.5, spec=task.spec, data=task.data(tmp_path / "digits"),
                     training=task.training, server=server, prox_mu=0.01, title=task.title)  # fmt: skip
    run = run_agent_study(registered, _console(), plan, study_id=sid, timeout_s=900)
    r = run.report
    assert [row["state"] for row in r.rounds] == ["FINALIZED"] * 2
    with registered.ledger("Regulator", "User1") as regulator:
        study = regulator.evaluate(Study.get(sid))
        first, second = (regulator.evaluate(Round.get(sid, n)) for n in (0, 1))
    assert study["params"]["model"] == "cnn-8x8-f8x16-c10" and study["params"]["prox_mu_ppm"] == 10_000
    assert not study["audited"] and not study.get("bound")
    assert ServerStep.from_round(second) == server and first["model_prev"] is None
    assert second["model_prev"] == first["model_in"] and second["model_in"]["hash"] == first["aggregate"]["hash"]
    # composed under Renyi DP: each hospital's second round adds less than its first, within the budget
    for m, c in second["commitments"].items():
        assert c["epsilon_micro"] < first["commitments"][m]["epsilon_micro"]
        assert c["epsilon_spent_total_micro"] <= 3_000_000
    print(f"\n[figures] digits CNN, {sid}: federated DP {r.federated}, epsilon spent {r.epsilon}")
    assert r.federated["accuracy"] > 0.3 and r.classes == 10, "ten classes: chance is 0.1 (two DP rounds: 0.46 here)"
