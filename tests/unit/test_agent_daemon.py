"""The long-running agent's parts: the duty planner (driving the real contracts in memory),
the journal, the update codec, the config file, round timing and the progress view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.daemon.config import AgentConfig, ConfigError
from agent.daemon.duties import DEADLINE_GRACE_MS, RANK_STAGGER_MS, plan
from agent.daemon.journal import Journal
from agent.update_codec import UpdateFormatError, decode_update, encode_update
from demo.round_timing import critical_path, round_walls
from demo.study_watch import StudyProgress
from tests.unit.consortium_sim import Consortium, cid, h
from tests.unit.test_secure_aggregation_ledger import SecureRound, secure_consortium

SID = "bc-screening"


def _view(cons: Consortium, me: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    study = cons.ok(cons.agents[me], "Study:Get", {"study_id": SID})
    n = study["current_round"]
    return study, (cons.ok(cons.agents[me], "Round:Get", {"study_id": SID, "round": n}) if n >= 0 else None)


def test_deadline_duties_wait_for_the_steward_first_then_others_in_turn() -> None:
    cons = Consortium()
    cons.ready(committee_size=1, committee_threshold=1, min_participants=2, commit_window_s=60)
    rnd = cons.ok(cons.agents[cons.hospitals[0]], "Round:Open", {"study_id": SID})
    steward = rnd["committee"][0]
    others = sorted(m for m in cons.hospitals if m != steward)
    study, rnd = _view(cons, steward)
    deadline = rnd["deadlines"]["commit_ms"]
    before = plan(steward, study, rnd, deadline - 1)
    assert [d.kind for d in before.duties] == ["commit"] and before.wake_at_ms == deadline
    assert [d.kind for d in plan(steward, study, rnd, deadline).duties] == ["commit", "advance"]
    for m in others:  # a non-steward acts only after its grace, later for a later rank
        study, rnd = _view(cons, m)
        p = plan(m, study, rnd, deadline)
        assert "advance" not in [d.kind for d in p.duties] and p.wake_at_ms > deadline
        assert "advance" in [d.kind for d in plan(m, study, rnd, p.wake_at_ms).duties]
    rank = sorted(study["enrolled"]).index(others[0])  # the order is by MSP ID, the steward's place included
    assert plan(others[0], *_view(cons, others[0]), deadline).wake_at_ms == (
        deadline + DEADLINE_GRACE_MS + rank * RANK_STAGGER_MS
    )


def test_secure_participants_commit_in_keys_and_the_steward_advances_after_the_commitments() -> None:
    """Once every round key is in, participants commit without waiting for an Advance; the
    steward's Advance (which would conflict with commitments in its block) waits for all of them
    or for the key deadline."""
    cons = secure_consortium()
    r = SecureRound(cons)
    steward = r.rnd["committee"][0]
    assert r.publish_keys("HospitalAMSP").ok
    study, rnd = _view(cons, "HospitalAMSP")
    assert [d.kind for d in plan("HospitalAMSP", study, rnd, cons.now_ms).duties] == []
    for m in ("HospitalBMSP", "HospitalCMSP"):
        assert r.publish_keys(m).ok
    for m in r.rnd["participants"]:
        kinds = [d.kind for d in plan(m, *_view(cons, m), cons.now_ms).duties]
        assert kinds == ["commit"], (m, kinds)
    assert r.commit("HospitalAMSP").ok and r.commit("HospitalBMSP").ok
    keys_ms = rnd["deadlines"]["keys_ms"]
    p = plan(steward, *_view(cons, steward), cons.now_ms)
    assert "advance" not in [d.kind for d in p.duties] and p.wake_at_ms == keys_ms
    assert "advance" in [d.kind for d in plan(steward, *_view(cons, steward), keys_ms + 1).duties]
    assert r.commit("HospitalCMSP").ok
    p = plan(steward, *_view(cons, steward), cons.now_ms)
    assert [d.kind for d in p.duties] == ["advance"] and p.wake_at_ms is None
    assert r.advance()["state"] == "AGGREGATE"


def test_plan_waits_without_duties_when_not_enrolled_or_not_yet_active() -> None:
    cons = Consortium(hospitals=("HospitalAMSP", "HospitalBMSP", "HospitalCMSP", "HospitalDMSP"))
    cons.register_all()
    cons.fund_all()
    cons.stake_all()
    study = cons.ok(cons.admins["HospitalAMSP"], "Study:Propose", {"study_id": SID, **_params()})
    p = plan("HospitalAMSP", {**study, "enrolled": []}, None, cons.now_ms)
    assert not p.duties and "approval" in p.waiting
    cons.ok(cons.admins["HospitalBMSP"], "Study:Approve", {"study_id": SID})
    cons.ok(cons.admins["HospitalCMSP"], "Study:Approve", {"study_id": SID})
    for m in ("HospitalAMSP", "HospitalBMSP", "HospitalCMSP"):
        cons.ok(cons.admins[m], "Study:Enroll", {"study_id": SID})
    study, rnd = _view(cons, "HospitalDMSP")
    p = plan("HospitalDMSP", study, rnd, cons.now_ms)
    assert not p.duties and "not enrolled" in p.waiting
    p = plan("HospitalBMSP", study, rnd, cons.now_ms)
    assert not p.duties and "HospitalAMSP" in p.waiting  # round 0 is the proposer's to open
    assert [d.kind for d in plan("HospitalAMSP", study, rnd, cons.now_ms).duties] == ["open"]


def _params() -> dict[str, Any]:
    from tests.unit.consortium_sim import study_params

    return study_params(committee_size=1, committee_threshold=1, min_participants=2)


# --- the exclusion rule on the ledger ---------------------------------------------------------------
def test_an_excluded_update_is_recorded_and_earns_nothing_and_bad_exclusions_are_refused() -> None:
    cons = Consortium()
    cons.ready(committee_size=1, committee_threshold=1, min_participants=3)
    rnd = cons.ok(cons.agents[cons.hospitals[0]], "Round:Open", {"study_id": SID})
    for m in rnd["participants"]:
        assert cons.commit(m, SID, 0).ok
    cons.ok(cons.agents[cons.hospitals[0]], "Round:Advance", {"study_id": SID, "round": 0})
    aggregator = rnd["committee"][0]
    cheat = next(m for m in rnd["participants"] if m != aggregator)
    base = {"study_id": SID, "round": 0, "model_cid": cid("model"), "model_hash": h("model")}
    before = dict(cons.ledger.state)
    too_long = [{"msp_id": cheat, "reason": "r" * 301}]
    for bad in ([{"msp_id": "NobodyMSP", "reason": "x"}], [{"msp_id": cheat}], "all", too_long):
        res = cons.call(cons.agents[aggregator], "Round:SubmitAggregate", {**base, "excluded": bad})
        assert res.status == 400, res.message
        assert cons.ledger.state == before
    reason = "the update on IPFS does not match the hash it committed"
    res = cons.call(cons.agents[aggregator], "Round:SubmitAggregate",
                    {**base, "excluded": [{"msp_id": cheat, "reason": reason}]})  # fmt: skip
    assert res.ok and res.json()["state"] == "FINALIZED"
    rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": SID, "round": 0})
    assert rnd["aggregate"]["excluded"] == {cheat: reason}
    for m in cons.hospitals:
        cons.ok(cons.agents[m], "Round:ReportValidation", {"study_id": SID, "round": 0, "metric_ppm": 910_000,
                                                           "previous_metric_ppm": 900_000})  # fmt: skip
    settled = cons.ok(cons.agents[aggregator], "Round:Settle", {"study_id": SID, "round": 0})
    assert cheat not in settled["rewards"] and settled["rewards"]
    assert cons.supply()["conserved"]


# --- journal ---------------------------------------------------------------------------------------
def test_journal_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "agent.sqlite"
    j = Journal(path)
    j.record_endorsed("s/r0/commit", "tx1", b"envelope-1")
    j.mark("s/r0/commit", "sent")
    j.put_artifact("s/r0/update", {"commit": {"update_hash": "ab"}, "epsilon": 0.99})
    j.add_timing("s", 0, "commit", "training", 1.5)
    j.close()
    j = Journal(path)
    sub = j.submission("s/r0/commit")
    assert sub is not None and (sub.tx_id, sub.envelope, sub.state, sub.attempts) == ("tx1", b"envelope-1", "sent", 1)
    j.record_endorsed("s/r0/commit", "tx2", b"envelope-2")  # a fresh endorsement after a failure
    sub = j.submission("s/r0/commit")
    assert sub is not None and (sub.tx_id, sub.attempts, sub.state) == ("tx2", 2, "endorsed")
    assert j.artifact("s/r0/update")["epsilon"] == 0.99 and j.artifact("missing") is None
    assert j.timings("s") == [{"round": 0, "phase": "commit", "kind": "training", "seconds": 1.5,
                               "at_ms": j.timings("s")[0]["at_ms"]}]  # fmt: skip
    j.close()


# --- update codec ----------------------------------------------------------------------------------
def test_update_codec_round_trips_and_refuses_wrong_sizes() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=31).astype(np.float32)
    assert np.array_equal(decode_update(encode_update(u), 31), u)
    q = encode_update(u, "int8")
    assert len(q) == 31 + 8 and len(encode_update(u)) == 124
    assert np.max(np.abs(decode_update(q, 31) - u)) <= np.max(np.abs(u)) / 254 + 1e-6
    with pytest.raises(UpdateFormatError, match="model has 30"):
        decode_update(q, 30)
    with pytest.raises(UpdateFormatError, match="124 bytes"):
        decode_update(encode_update(u), 30)
    with pytest.raises(ValueError, match="unknown update codec"):
        encode_update(u, "zip")


# --- config ----------------------------------------------------------------------------------------
def _config(tmp_path: Path, **over: Any) -> Path:
    raw = {
        "org": "HospitalA", "msp_id": "HospitalAMSP", "ipfs_api": "http://127.0.0.1:5001", "keys_dir": "keys",
        "state_dir": "state", "gateway": {"address": "127.0.0.1:7130", "tls_ca": "ca.crt", "msp_dir": "msp"},
        "data": {"schema": "schema.json", "train": "train.csv", "validation": "validation.csv"},
    }  # fmt: skip
    raw.update(over)
    import yaml

    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_resolves_paths_next_to_the_file_and_round_trips(tmp_path: Path) -> None:
    cfg = AgentConfig.load(_config(tmp_path, training={"epochs": 3}, compression="int8"))
    assert cfg.tls_ca == tmp_path / "ca.crt" and cfg.journal_path == tmp_path / "state" / "agent.sqlite"
    assert cfg.training.epochs == 3 and cfg.compression == "int8"
    cfg.write(tmp_path / "copy.yaml")
    assert AgentConfig.load(tmp_path / "copy.yaml") == cfg


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"org": None}, "'org' is required"),
        ({"gateway": {"address": "x"}}, "'gateway.tls_ca' is required"),
        ({"data": "train.csv"}, "'data' must be a mapping"),
        ({"training": {"epoch": 3}}, "unknown training settings"),
        ({"training": {"epochs": 0}}, "bad training settings"),
        ({"compression": "gzip"}, "'compression' must be"),
        ({"studies": "s1"}, "list of study ids"),
    ],
)
def test_config_errors_name_the_setting(tmp_path: Path, over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AgentConfig.load(_config(tmp_path, **over))


def test_config_that_is_not_yaml_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("org: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        AgentConfig.load(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        AgentConfig.load(tmp_path / "absent.yaml")


# --- timing and progress ---------------------------------------------------------------------------
def test_critical_path_takes_the_slowest_hospital_per_phase() -> None:
    def row(phase: str, kind: str, s: float, r: int = 0) -> dict[str, Any]:
        return {"round": r, "phase": phase, "kind": kind, "seconds": s}

    timings = {
        "A": [row("open", "ledger", 0.2), row("commit", "training", 1.0), row("commit", "ledger", 0.3),
              row("validate", "ledger", 0.1), row("commit", "training", 9.0, r=1)],
        "B": [row("commit", "training", 2.0), row("commit", "ledger", 0.4), row("validate", "ledger", 0.5)],
    }  # fmt: skip
    cp = critical_path(timings, 0)
    assert cp["training"] == 2.0 and cp["ledger"] == pytest.approx(0.2 + 0.4 + 0.5)
    assert cp["total"] == pytest.approx(3.1)
    walls = round_walls([{"action": "round.opened", "round": 0, "ts_ms": 1000},
                         {"action": "round.settled", "round": 0, "ts_ms": 3500},
                         {"action": "round.opened", "round": 1, "ts_ms": 4000}])  # fmt: skip
    assert walls == {0: 2.5}


def test_progress_follows_events_of_its_own_study_only() -> None:
    p = StudyProgress("s1", ["HospitalAMSP", "HospitalBMSP"], rounds=1)
    base = {"study": "s1", "round": 0, "org": "HospitalAMSP"}
    opened = {**base, "participants": ["HospitalAMSP", "HospitalBMSP"], "committee": ["HospitalAMSP"]}
    assert "committee HospitalA" in (p.apply("round.opened", opened) or "")
    assert p.apply("round.committed", {**base, "study": "other"}) is None
    p.apply("round.committed", {**base, "msp_id": "HospitalBMSP"})
    assert p.cells[(0, "HospitalBMSP")] == "committed" and p.cells[(0, "HospitalAMSP")] == "selected"
    assert not p.done
    p.apply("round.settled", {**base, "rewards": {"HospitalAMSP": 5}})
    assert p.done


# --- the consent gate ----------------------------------------------------------------------------
def test_gate_keeps_only_records_with_a_valid_consent_through_the_link_table() -> None:
    from agent.consent.gate import ConsentSnapshot, SubjectIndex, consented
    from agent.data.schema import Records
    from clients.fabric import GatewayError
    from clients.fabric.errors import PeerDetail

    dids = {"p1": "did:key:z6MkOne", "p2": "did:key:z6MkTwo", "p3": "did:key:z6MkThree"}
    credentials = {"c1": dids["p1"], "c2": dids["p2"], "c3": dids["p3"]}  # the hospital's private data
    reads: list[str] = []

    class OwnConsents:  # GetCredential on the hospital's own peer
        def evaluate(self, fn: str, args: dict[str, str]) -> dict[str, str]:
            reads.append(args["consent_id"])
            if args["consent_id"] not in credentials:
                raise GatewayError(
                    "refused", details=(PeerDetail("peer0", "HospitalAMSP", "chaincode response 404, gone"),)
                )
            return {"credential_json": json.dumps({"credentialSubject": {"id": credentials[args["consent_id"]]}})}

    index = SubjectIndex(OwnConsents())  # type: ignore[arg-type]
    snap = ConsentSnapshot(0, frozenset({"c1", "c3"}), frozenset(), 1)
    records = Records(np.zeros((4, 1), np.float32), np.zeros(4, np.float32), np.array(["p1", "p2", "p3", "p4"]))
    assert list(consented(records, snap, index, dids).pseudonyms) == ["p1", "p3"]  # p4 has no DID at all
    as_dids = Records(records.x, records.y, np.array([dids["p1"], dids["p2"], "x", dids["p3"]]))
    assert list(consented(as_dids, snap, index).pseudonyms) == [dids["p1"], dids["p3"]]  # pseudonym = DID
    assert sorted(reads) == ["c1", "c3"]  # each consent's subject read once, then kept
    del credentials["c3"]  # erased: purged from private data, and the ledger says so
    erased = ConsentSnapshot(1, frozenset({"c1"}), frozenset({"c3"}), 2)
    assert list(consented(records, erased, index, dids).pseudonyms) == ["p1"]
    assert index.subject("c3") is None


def test_consent_setting_defaults_to_the_ledger_gate(tmp_path: Path) -> None:
    assert AgentConfig.load(_config(tmp_path)).consent == "ledger"
    (tmp_path / "links.csv").write_text("pseudonym,did\np1,did:key:z6MkOne\n")
    data = {"schema": "s.json", "train": "t.csv", "validation": "v.csv", "links": "links.csv"}
    cfg = AgentConfig.load(_config(tmp_path, consent="none", data=data))
    assert cfg.consent == "none" and cfg.links == tmp_path / "links.csv"
    from agent.consent.gate import read_links

    assert read_links(cfg.links) == {"p1": "did:key:z6MkOne"}
    with pytest.raises(ConfigError, match="'consent' must be"):
        AgentConfig.load(_config(tmp_path, consent="maybe"))


def test_consent_validity_is_judged_at_the_rounds_start() -> None:
    from agent.consent.gate import valid_at

    item = {"from_ms": 100, "until_ms": 1000, "revoked_at_ms": 500, "erased_at_ms": None}
    assert [valid_at(item, t) for t in (99, 100, 499, 500, 999)] == [False, True, True, False, False]
    erased = {**item, "revoked_at_ms": None, "erased_at_ms": 300}
    assert valid_at(erased, 299) and not valid_at(erased, 300)
    assert not valid_at({**item, "revoked_at_ms": None}, 1000)  # expired


def test_an_exclusion_reason_is_always_one_the_ledger_accepts() -> None:
    """A participant's envelope may carry any text (labels, key ids) that an error message echoes;
    the aggregator's exclusion reason must still pass the ledger's text rules, or one hostile
    participant could stop the round's aggregate."""
    from agent.aggregation import UpdateRejected
    from agent.rounds.trusted import exclusion_reason
    from chaincode.runtime.arguments import forbidden_char

    for exc in (UpdateRejected("label evil\u202etxt\t\u200b\ud800"), KeyError("keys"), ValueError("x" * 1000)):
        reason = exclusion_reason(exc)
        assert reason and len(reason) <= 300 and forbidden_char(reason) is None, reason


def test_data_check_lists_every_problem_of_both_files_and_fails(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from fedledger.cli import cli

    (tmp_path / "schema.json").write_text(json.dumps({"features": ["a", "b"], "label": "y", "pseudonym": "p"}))
    (tmp_path / "train.csv").write_text("a,b,y,p\n1,2,0,p1\n,x,1,p2\n3,4,2,p2\n")
    (tmp_path / "validation.csv").write_text("a,y,p\n1,0,v1\n")
    config = _config(tmp_path)
    result = CliRunner().invoke(cli, ["data", "check", "--config", str(config)])
    assert result.exit_code == 1, result.output
    for expected in ("5 problem(s)", "train.csv: column a has 1 missing value(s) at line 3",
                     "train.csv: column b is not numeric at line 3 ('x')",
                     "train.csv: label column y must hold only 0 and 1; other values at line 4 ('2')",
                     "train.csv: pseudonym column p repeats values at line 3 ('p2'), line 4 ('p2')",
                     "validation.csv: missing column(s) b"):  # fmt: skip
        assert expected in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    (tmp_path / "train.csv").write_text("a,b,y,p\n1,2,0,p1\n3,4,1,p2\n")
    (tmp_path / "validation.csv").write_text("a,b,y,p\n1,0,0,v1\n")
    ok = CliRunner().invoke(cli, ["data", "check", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "train.csv: 2 records, validation.csv: 1 records" in " ".join(ok.output.split()), ok.output
