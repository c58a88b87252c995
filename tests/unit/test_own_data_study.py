"""A study on a hospital's own data, in memory: the study file, what stops a hospital from
taking part, the parameters ``study init`` builds (accepted by the real contracts), and the
agent's behaviour when a round cannot open yet or when it cannot serve a study it is in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent import study_file
from agent.daemon.config import AgentConfig
from agent.daemon.duties import Duty
from agent.daemon.runner import KEEPER_DUTIES, REFUSED_RETRY_S, AgentRunner, _Backoff
from agent.daemon.worker import StudyMismatch
from agent.data.schema import DataError, Schema, fit_scaler, load_records
from agent.models import ModelSpec
from agent.study_fit import Fit, hospital_fit, model_fit
from agent.study_init import StudyChoices, StudyInitError, build_params, circuit_for
from clients.fabric import GatewayError
from clients.fabric.errors import PeerDetail
from demo import example_data
from tests.unit.consortium_sim import CID0, Consortium, h, study_params

SCHEMA = Schema(tuple(f"f{i}" for i in range(13)), "outcome", "pid")


# --- the schema and the model it implies ------------------------------------------------------------
def test_model_follows_the_schema_for_any_width_and_label() -> None:
    assert ModelSpec.for_schema(SCHEMA, "logreg").name == "logreg-d13-c2"
    three = Schema(SCHEMA.features, "outcome", "pid", classes=3)
    spec = ModelSpec.for_schema(three, "mlp", 8)
    assert spec.name == "mlp-d13-h8-c3" and spec.outputs == 3 and ModelSpec.parse(spec.name) == spec
    assert spec.parameter_count() == 13 * 8 + 8 + 8 * 3 + 3


def test_schema_keys_are_checked_and_defaults_keep_the_hash(tmp_path: Path) -> None:
    plain = {"features": ["a", "b"], "label": "y", "pseudonym": "p"}
    assert Schema.from_dict({**plain, "classes": 2}).hash == Schema.from_dict(plain).hash
    assert Schema.from_dict({**plain, "classes": 4}).hash != Schema.from_dict(plain).hash
    for bad, words in (({**plain, "clases": 3}, "unknown key(s) clases"), ({**plain, "classes": 1}, "'classes'"),
                       ({**plain, "standardize": {"mean": [0], "std": [1]}}, "one number per feature"),
                       ({**plain, "standardize": {"mean": [0, 0], "std": [1, 0]}}, "positive"),
                       ({"features": "a,b", "label": "y", "pseudonym": "p"}, "list of column names")):  # fmt: skip
        with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
            Schema.from_dict(bad)


def test_a_fitted_scaler_standardises_every_hospital_the_same_way(tmp_path: Path) -> None:
    folders = example_data.write("diabetes", tmp_path / "data")
    raw = Schema.load(folders["HospitalA"] / "schema.json")
    records = load_records(folders["HospitalA"] / "train.csv", raw)
    fitted = fit_scaler(raw, records)
    fitted.write(tmp_path / "schema.json")
    again = Schema.load(tmp_path / "schema.json")
    assert again == fitted and again.hash != raw.hash
    scaled = load_records(folders["HospitalA"] / "train.csv", again)
    assert np.allclose(scaled.x.mean(axis=0), 0, atol=1e-3) and np.allclose(scaled.x.std(axis=0), 1, atol=1e-3)
    other = load_records(folders["HospitalC"] / "train.csv", again)  # another hospital, the same scaler
    assert np.allclose(other.x, (load_records(folders["HospitalC"] / "train.csv", raw).x - np.array(again.mean))
                       / np.array(again.std), atol=1e-4)  # fmt: skip


def test_the_example_data_has_the_flaws_it_promises_and_different_label_mixes(tmp_path: Path) -> None:
    from agent.data.check import check_file

    folders = example_data.write("diabetes", tmp_path, flaws=True)
    schema = Schema.load(folders["HospitalC"] / "schema.json")
    messages = [p.message for p in check_file(folders["HospitalC"] / "train.csv", schema).problems]
    assert messages == ["column age is not numeric at line 13 ('4,5')", "column bmi has 1 missing value(s) at line 5",
                        "column glucose is not numeric at line 9 ('n/a')"]  # fmt: skip
    mixes = [load_records(f / "validation.csv", schema).y.mean() for f in folders.values()]
    assert max(mixes) - min(mixes) > 0.2, mixes
    wine = example_data.write("wine", tmp_path / "wine")
    assert Schema.load(wine["HospitalA"] / "schema.json").classes == 3


# --- what stops a hospital ---------------------------------------------------------------------------
def _params(spec: ModelSpec, schema: Schema = SCHEMA, **over: Any) -> dict[str, Any]:
    return {"model": spec.name, "model_spec_hash": spec.hash, "data_schema_hash": schema.hash, **over}


def test_model_fit_names_every_mismatch_at_once() -> None:
    good = ModelSpec.for_schema(SCHEMA, "logreg")
    assert model_fit(_params(good), SCHEMA).ok
    wide = ModelSpec("logreg", 30)
    fit = model_fit(_params(wide, data_schema_hash=h("other")), SCHEMA)
    assert len(fit.problems) == 2
    assert "data schema" in fit.problems[0] and "takes 30 features; the schema has 13" in fit.problems[1]
    three = ModelSpec("logreg", 13, classes=3)
    assert "predicts 3 classes; the schema's label has 2" in model_fit(_params(three), SCHEMA).problems[0]
    lying = _params(good, model_spec_hash=h("x"))
    assert "is not the hash of its model logreg-d13-c2" in model_fit(lying, SCHEMA).problems[0]
    assert "unknown model" in model_fit(_params(good, model="cnn-d13-c2"), SCHEMA).problems[0]


class NoConsents:
    """The Consent contract of a hospital none of whose patients consented."""

    def evaluate(self, function: str, args: dict[str, Any]) -> dict[str, Any]:
        assert function == "List"
        return {"items": [], "bookmark": ""}


def test_hospital_fit_lists_schema_model_data_and_consent_problems_together(tmp_path: Path) -> None:
    folders = example_data.write("diabetes", tmp_path / "data", flaws=True)
    schema = Schema.load(folders["HospitalA"] / "schema.json")
    spec = ModelSpec.for_schema(schema, "logreg")

    def config(name: str, consent: str) -> AgentConfig:
        folder = folders[name]
        return AgentConfig.from_dict({
            "org": name, "msp_id": f"{name}MSP", "ipfs_api": "http://127.0.0.1:1", "keys_dir": "k", "state_dir": "s",
            "gateway": {"address": "127.0.0.1:1", "tls_ca": "ca", "msp_dir": "msp"}, "consent": consent,
            "data": {"schema": str(folder / "schema.json"), "train": str(folder / "train.csv"),
                     "validation": str(folder / "validation.csv")}}, base=tmp_path)  # fmt: skip

    study = {"study_id": "diabetes", "status": "ACTIVE", "params": _params(spec, schema)}
    assert hospital_fit(config("HospitalA", "none"), study, NoConsents()).ok  # type: ignore[arg-type]
    refused = hospital_fit(config("HospitalA", "ledger"), study, NoConsents())  # type: ignore[arg-type]
    assert len(refused.problems) == 1 and "none of the 128 training records has a consent" in refused.problems[0]
    wrong = {**study, "params": _params(ModelSpec("logreg", 30), data_schema_hash=h("other"))}
    flawed = hospital_fit(config("HospitalC", "ledger"), wrong, NoConsents())  # type: ignore[arg-type]
    # schema, model width and all three data problems at once; consent is not asked of unreadable data
    assert len(flawed.problems) == 5, flawed.problems
    assert any("line 13" in p for p in flawed.problems) and any("30 features" in p for p in flawed.problems)


# --- the study file and study init ---------------------------------------------------------------------
def test_study_init_parameters_are_accepted_by_the_ledger_and_the_file_round_trips(tmp_path: Path) -> None:
    model = {"cid": CID0, "hash": h("initial")}
    params = build_params(StudyChoices(study_id="lab-study", title="Lab values"), SCHEMA, 3, model)
    text = study_file.dump(params, ["a header"])
    assert text.startswith("# a header") and "# The model every hospital trains" in text
    path = tmp_path / "study.yaml"
    path.write_text(text)
    assert study_file.load(path) == params
    assert set(params) - {"study_id"} <= set(study_file.DOCS)  # every field documented
    cons = Consortium()
    cons.register_all()
    cons.fund_all()
    study = cons.ok(cons.admins[cons.hospitals[0]], "Study:Propose", params)
    assert study["params"]["model"] == "logreg-d13-c2" and study["params"]["committee_threshold"] == 2
    trusted = build_params(StudyChoices(study_id="lab-trusted", title="t", aggregation="trusted", rounds=5,
                                        epsilon_budget=2.5), SCHEMA, 3, model)  # fmt: skip
    assert cons.ok(cons.admins[cons.hospitals[0]], "Study:Propose", trusted)["params"]["committee_size"] == 1
    assert trusted["epsilon_budget_micro"] == 2_500_000 and trusted["reward_pool"] == 5 * 300


def test_study_file_errors_are_named(tmp_path: Path) -> None:
    for name, text, words in (("s.yaml", "- a\n- b\n", "a mapping"), ("s.json", "{", "not valid JSON"),
                              ("s.yaml", "a: [", "not valid YAML")):  # fmt: skip
        (tmp_path / name).write_text(text)
        with pytest.raises(study_file.StudyFileError, match=words):
            study_file.load(tmp_path / name)
    (tmp_path / "big.yaml").write_text("a: " + "x" * study_file.MAX_BYTES)
    with pytest.raises(study_file.StudyFileError, match="at most"):
        study_file.load(tmp_path / "big.yaml")


def test_audited_studies_get_a_circuit_only_for_shapes_that_have_one() -> None:
    assert circuit_for(ModelSpec("logreg", 13)) == "logreg-d13-b32"
    assert circuit_for(ModelSpec("mlp", 20, 16)) == "mlp-d20-h16-b32"
    for spec in (ModelSpec("logreg", 13, classes=3), ModelSpec("logreg", 65), ModelSpec("mlp", 10, 33)):
        with pytest.raises(StudyInitError, match="binary logreg or mlp with at most 64 features"):
            circuit_for(spec)


# --- the agent: a round that cannot open yet, a study it cannot serve -------------------------------
class SimWorker:
    """What the runner needs of a HospitalWorker, driving the real contracts in memory."""

    def __init__(self, cons: Consortium, me: str, problems: tuple[str, ...] = ()) -> None:
        self.cons, self.me, self.problems = cons, me, problems
        self.sent: list[str] = []
        self.refusals = 0

    def current(self, sid: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        study = self.cons.ok(self.cons.agents[self.me], "Study:Get", {"study_id": sid})
        n = study["current_round"]
        return study, (self.cons.ok(self.cons.agents[self.me], "Round:Get", {"study_id": sid, "round": n})
                       if n >= 0 else None)  # fmt: skip

    def fit(self, study: dict[str, Any]) -> Fit:
        return Fit(None, list(self.problems))

    def anticipate(self, study: dict[str, Any], rnd: dict[str, Any] | None) -> None:
        """Nothing to prove ahead in these trusted, unaudited rounds."""

    def perform(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
        who, sid, n = self.cons.agents[self.me], duty.study_id, duty.round
        calls = {"open": ("Round:Open", {"study_id": sid}),
                 "advance": ("Round:Advance", {"study_id": sid, "round": n}),
                 "settle": ("Round:Settle", {"study_id": sid, "round": n}),
                 "aggregate": ("Round:SubmitAggregate", {"study_id": sid, "round": n, "model_cid": CID0,
                                                         "model_hash": h(f"m{n}")}),
                 "validate": ("Round:ReportValidation", {"study_id": sid, "round": n, "metric_ppm": 900_000,
                                                         "previous_metric_ppm": 890_000})}  # fmt: skip
        if duty.kind == "commit":
            res = self.cons.commit(self.me, sid, n, epsilon_micro=900_000)
        else:
            res = self.cons.call(who, *calls[duty.kind])
        if not res.ok:
            self.refusals += 1
            raise GatewayError("refused", details=(PeerDetail("peer0", self.me, f"chaincode response {res.status}, "
                                                                                  f"{res.message}"),))  # fmt: skip
        self.sent.append(duty.kind)
        return f"{duty.kind} sent"


def _runner(cons: Consortium, tmp_path: Path) -> AgentRunner:
    cfg = AgentConfig.from_dict(json.loads(json.dumps({
        "org": "x", "msp_id": "x", "ipfs_api": "http://127.0.0.1:1", "keys_dir": "k", "state_dir": "s",
        "gateway": {"address": "127.0.0.1:1", "tls_ca": "ca", "msp_dir": "msp"},
        "data": {"schema": "s.json", "train": "t.csv", "validation": "v.csv"}})), base=tmp_path)  # fmt: skip
    return AgentRunner(cfg, clock=lambda: cons.now_ms / 1000)


def test_round_opening_refused_while_an_enrollment_lands_is_retried_on_the_next_ledger_change(tmp_path: Path) -> None:
    cons = Consortium()
    cons.register_all()
    cons.fund_all()
    cons.stake_all()
    sid = "late-enrolment"
    params = {"study_id": sid, **study_params(committee_size=1, committee_threshold=1, min_participants=3)}
    cons.ok(cons.admins[cons.hospitals[0]], "Study:Propose", params)
    cons.ok(cons.admins[cons.hospitals[1]], "Study:Approve", {"study_id": sid})
    for m in cons.hospitals[:2]:
        cons.ok(cons.admins[m], "Study:Enroll", {"study_id": sid})
    proposer = SimWorker(cons, cons.hospitals[0])
    runner, backoff = _runner(cons, tmp_path), {}
    runner._reconcile(proposer, sid, backoff, {})
    assert proposer.refusals == 1 and proposer.sent == []  # 409: only 2 of the 3 needed are enrolled
    runner._reconcile(proposer, sid, backoff, {})
    assert proposer.refusals == 1, "nothing changed on the ledger: no new attempt yet"
    cons.tick(REFUSED_RETRY_S + 1)
    runner._reconcile(proposer, sid, backoff, {})
    assert proposer.refusals == 2, "the timer retries a refused duty even without a ledger change"
    cons.ok(cons.admins[cons.hospitals[2]], "Study:Enroll", {"study_id": sid})  # the third enrollment lands
    runner._reconcile(proposer, sid, backoff, {})
    assert proposer.sent[0] == "open" and proposer.current(sid)[1]["round"] == 0


def test_a_hospital_that_cannot_serve_its_study_keeps_it_moving_and_its_round_aborts_with_stakes_released(
    tmp_path: Path,
) -> None:
    cons = Consortium()
    cons.ready(study_id="stuck", committee_size=1, committee_threshold=1, min_participants=3, rounds=1,
               commit_window_s=60)  # fmt: skip
    unfit = cons.hospitals[2]
    workers = {m: SimWorker(cons, m, ("the study's model logreg-d30-c2 takes 30 features; the schema has 13",)
                            if m == unfit else ()) for m in cons.hospitals}  # fmt: skip
    runners = {m: _runner(cons, tmp_path) for m in cons.hospitals}
    backoffs: dict[str, dict[str, _Backoff]] = {m: {} for m in cons.hospitals}
    refused: dict[str, dict[str, str]] = {m: {} for m in cons.hospitals}
    for _ in range(40):  # agents wake in turn; the clock moves on as the deadline approaches
        for m in cons.hospitals:
            try:
                runners[m]._reconcile(workers[m], "stuck", backoffs[m], refused[m])
            except StudyMismatch as exc:
                refused[m]["stuck"] = str(exc)
        cons.tick(5)
    assert set(refused[unfit]) == {"stuck"} and "30 features" in refused[unfit]["stuck"]
    assert set(workers[unfit].sent) <= set(KEEPER_DUTIES), workers[unfit].sent
    rnd = cons.ok(cons.regulator, "Round:Get", {"study_id": "stuck", "round": 0})
    assert rnd["state"] == "ABORTED" and sorted(rnd["committed"]) == sorted(cons.hospitals[:2])
    for m in cons.hospitals:
        assert cons.ok(cons.regulator, "Token:Account", {"msp_id": m})["locked"] == 0, f"{m}'s stake still locked"


def test_an_agent_started_while_its_peer_is_down_waits_for_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Transport failures at start-up are waited out; a contract's refusal is not."""
    import agent.daemon.runner as runner_module

    monkeypatch.setattr(runner_module, "RETRY_START_S", 0.01)

    class Submitter:
        def recover(self) -> list[tuple[str, str]]:
            return [("s/r0/commit", "committed")]

    class Worker:
        def __init__(self, failures: list[GatewayError]) -> None:
            self.failures, self.checks, self.submitter = failures, 0, Submitter()

        def check_registration(self) -> None:
            self.checks += 1
            if self.failures:
                raise self.failures.pop(0)

    down = GatewayError("evaluate failed (UNAVAILABLE): failed to connect to all addresses")
    worker = Worker([down, down])
    assert _runner(Consortium(), tmp_path)._start_up(worker) and worker.checks == 3  # type: ignore[arg-type]
    refused = GatewayError("refused", details=(PeerDetail("peer0", "x", "chaincode response 404, no org x"),))
    with pytest.raises(GatewayError):
        _runner(Consortium(), tmp_path)._start_up(Worker([refused]))  # type: ignore[arg-type]


def test_only_a_not_yet_refusal_is_retried_on_the_timer(tmp_path: Path) -> None:
    cons = Consortium()
    runner = _runner(cons, tmp_path)
    study = {"status": "ACTIVE", "enrolled": ["A"], "current_round": -1}

    class Refusing:
        def __init__(self, status: int) -> None:
            self.status = status

        def perform(self, duty: Duty, study: dict[str, Any], rnd: dict[str, Any] | None) -> str:
            raise GatewayError("refused", details=(PeerDetail("p", "A", f"chaincode response {self.status}, no"),))

    for status, retried in ((409, True), (403, False), (400, False)):
        duty, backoff = Duty("open", f"s{status}", 0, "test"), {}
        assert not runner._attempt(Refusing(status), duty, study, None, backoff)  # type: ignore[arg-type]
        assert not runner._due(duty, study, None, backoff)
        cons.tick(REFUSED_RETRY_S + 1)
        assert runner._due(duty, study, None, backoff) is retried, status
        assert runner._due(duty, {**study, "enrolled": ["A", "B"]}, None, backoff), "a ledger change always retries"


def test_bound_inputs_need_secure_aggregation_the_models_binding_key_and_its_proving_key() -> None:
    from agent.study_init import bind_params

    class Keys:  # the ledger's Zk:GetKey, as the admin's gateway answers it
        def __init__(self, circuit: str) -> None:
            self.circuit = circuit

        def evaluate(self, call: Any) -> dict[str, str]:
            return {"circuit": self.circuit}

    spec, weights = ModelSpec("logreg", 13), np.zeros(14)
    choices = StudyChoices(study_id="lab-bound", title="t", bind_key="ab" * 32, update_norm=4.0)
    out = bind_params(choices, spec, Keys("bind-w14"), weights, has_proving_key=True)  # type: ignore[arg-type]
    assert out["zk_circuit"] == "logreg-d13-b32" and out["update_norm_micro"] == 4_000_000
    assert out["bind_vk_hash"] == "ab" * 32 and len(out["model_commitment"]) == 64
    for choice, keys, has_pk, words in (
        (choices, Keys("bind-w31"), True, "needs bind-w14"),
        (choices, Keys("bind-w14"), False, "no proving key"),
        (StudyChoices(study_id="x", title="t", bind_key="ab" * 32, aggregation="trusted"), Keys("bind-w14"), True,
         "needs --aggregation secure"),
    ):  # fmt: skip
        with pytest.raises(StudyInitError, match=words):
            bind_params(choice, spec, keys, weights, has_pk)  # type: ignore[arg-type]
