"""The learning side: the CNN model, the digits split, privacy accounting across rounds,
per-layer and adaptive clipping, FedProx and the server step."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agent import privacy
from agent.aggregation import ServerStep, TrustedAggregatorFedAvg, Update
from agent.clipping import AdaptiveClipOptimizer, gradient_noise, per_layer_bounds
from agent.data import digits_split
from agent.data.schema import DataError, Records, Schema, load_records
from agent.models import ModelSpec, get_weights, weights_bytes, weights_from_bytes
from agent.privacy import Release
from agent.study_fit import model_fit
from agent.training import DPConfig, evaluate, train_round
from chaincode.contracts import model_names

CNN = "cnn-8x8-f8x16-c10"


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Schema, dict[str, Records], Records]:
    data = digits_split.build(tmp_path_factory.mktemp("digits"))
    schema = Schema.load(data.schema_path)
    train = {o: load_records(p, schema) for o, p in data.train_paths.items()}
    return schema, train, load_records(data.test_path, schema)


# --- the model ---------------------------------------------------------------------------------
def test_a_cnn_spec_round_trips_its_name_and_builds_a_model_the_ledger_accepts() -> None:
    spec = ModelSpec.parse(CNN)
    assert (spec.kind, spec.input_dim, spec.image, spec.filters, spec.classes) == ("cnn", 64, (8, 8), (8, 16), 10)
    assert spec.name == CNN and spec.to_dict()["image"] == [8, 8]
    # 1x8 3x3 conv + bias, 8x16 3x3 conv + bias, 16*2*2 -> 10 linear
    assert spec.parameter_count() == (9 * 8 + 8) + (8 * 16 * 9 + 16) + (64 * 10 + 10)
    model = spec.build(seed=3)
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    w = get_weights(model)
    assert np.array_equal(weights_from_bytes(weights_bytes(w), spec), w)
    assert np.array_equal(get_weights(spec.build(seed=3)), w)  # deterministic initial weights
    ledger = model_names.parse(CNN)
    assert ledger.name == CNN and ledger.features == 64
    assert "no zk circuit proves convolution" in (model_names.audit_problem(ledger) or "")


@pytest.mark.parametrize("name", ["cnn-6x8-f8x16-c10", "cnn-8x8-f0x16-c10", "cnn-8x8-f8x16-c1", "cnn-8x8-f99x16-c10",
                                  "cnn-68x8-f8x16-c10"])  # fmt: skip
def test_a_bad_cnn_name_is_refused_by_agent_and_ledger_alike(name: str) -> None:
    with pytest.raises(ValueError):
        ModelSpec.parse(name)
    with pytest.raises(ValueError):
        model_names.parse(name)


def test_the_schema_image_must_match_the_features_and_the_cnn(digits: tuple[Schema, dict, Records]) -> None:
    schema = digits[0]
    assert schema.image == (8, 8) and schema.to_dict()["image"] == [8, 8]
    with pytest.raises(DataError, match="has 16 pixels, but there are 64 features"):
        Schema.from_dict({**schema.to_dict(), "image": [4, 4]})
    with pytest.raises(ValueError, match="needs a schema with 'image'"):
        ModelSpec.for_schema(Schema(schema.features, "digit", "p", 10), "cnn")
    spec = ModelSpec.for_schema(schema, "cnn")
    params = {"data_schema_hash": schema.hash, "model": spec.name, "model_spec_hash": spec.hash}
    assert model_fit(params, schema).ok
    other = Schema(schema.features, schema.label, schema.pseudonym, 10, schema.mean, schema.std, None)
    params["data_schema_hash"] = other.hash
    assert any("reads 8x8 images; the schema has no image" in p for p in model_fit(params, other).problems)


def test_the_digits_split_skews_labels_and_keeps_the_test_set_apart(tmp_path: Path) -> None:
    data = digits_split.build(tmp_path)
    schema = Schema.load(data.schema_path)
    counts = json.loads((tmp_path / "split.json").read_text())["label_counts"]
    shares = np.array([counts[o] for o in digits_split.HOSPITALS], dtype=float)
    shares /= shares.sum(axis=0)
    assert (shares.max(axis=0) > 0.5).sum() >= 5  # most digits live mainly at one hospital
    seen = set()
    for path in [*data.train_paths.values(), *data.validation_paths.values(), data.test_path]:
        r = load_records(path, schema)
        assert r.x.shape[1] == 64 and not (seen & set(r.pseudonyms))
        seen |= set(r.pseudonyms)
    assert len(seen) == 1797
    before = data.train_paths["HospitalA"].read_bytes()
    assert digits_split.build(tmp_path).train_paths["HospitalA"].read_bytes() == before  # reused, not redrawn


# --- privacy across rounds ----------------------------------------------------------------------
def test_calibrated_noise_spends_the_target_over_every_round_and_increments_add_up() -> None:
    delta, rounds, steps, q = 1e-5, 4, 30, 0.1
    sigma = privacy.calibrate((), q, steps, rounds, 3.0, delta)
    total = privacy.epsilon([Release(sigma, q, steps)] * rounds, delta)
    assert 2.99 <= total <= 3.0
    assert privacy.epsilon([Release(sigma * 0.99, q, steps)] * rounds, delta) > 3.0  # the smallest such noise
    history: list[Release] = []
    charged = 0.0
    for _ in range(rounds):
        charged += privacy.increment(history, Release(sigma, q, steps), delta)
        history.append(Release(sigma, q, steps))
    assert charged == pytest.approx(total)
    # composing under RDP costs far less than adding each round's own epsilon
    assert rounds * privacy.epsilon([Release(sigma, q, steps)], delta) > 1.5 * total


def test_the_plan_after_some_rounds_keeps_the_total_within_the_budget() -> None:
    delta, q, steps = 1e-5, 0.1, 30
    history = (Release(2.0, q, steps), Release(2.0, q, steps))
    target = privacy.spendable(3.0, privacy.epsilon(history, delta), history, delta)
    sigma = privacy.calibrate(history, q, steps, 2, target, delta)
    assert privacy.epsilon([*history, *[Release(sigma, q, steps)] * 2], delta) <= 3.0
    # charged more than the journal explains (a lost journal): the excess counts as spent on top
    assert privacy.spendable(3.0, 1.0, (), delta) == 2.0
    with pytest.raises(ValueError, match="budget exhausted"):
        privacy.calibrate(history, q, steps, 2, privacy.epsilon(history, delta) * 0.99, delta)


def test_a_round_reports_its_release_and_the_increment_it_adds(digits: tuple[Schema, dict, Records]) -> None:
    spec = ModelSpec.parse("logreg-d64-c10")
    records = digits[1]["HospitalC"]
    w = get_weights(spec.build())
    plan = DPConfig(3.0, 1e-5, epochs=2, batch_size=64, rounds=3)
    first = train_round(spec, w, records, plan, seed=1)
    assert first.release is not None and first.release.steps > 0
    assert first.release.sample_rate == pytest.approx(1 / int(np.ceil(len(records) / 64)))
    second = train_round(spec, first.weights, records, DPConfig(3.0, 1e-5, epochs=2, batch_size=64, rounds=2,
                                                                history=(first.release,)), seed=2)  # fmt: skip
    assert second.noise_multiplier == pytest.approx(first.noise_multiplier, rel=0.01)  # the same plan
    assert second.epsilon_spent < first.epsilon_spent  # RDP composition is sublinear
    both = privacy.epsilon([first.release, second.release], 1e-5)
    assert first.epsilon_spent + second.epsilon_spent == pytest.approx(both)


# --- clipping -----------------------------------------------------------------------------------
def test_per_layer_bounds_keep_the_whole_gradient_within_the_flat_bound() -> None:
    shapes = [p.shape for p in ModelSpec.parse(CNN).build().parameters()]
    bounds = per_layer_bounds(shapes, 1.5)
    assert len(bounds) == len(shapes) and sum(b * b for b in bounds) == pytest.approx(1.5**2)
    assert bounds[2] > bounds[1]  # the second convolution's weights are larger than the first's biases


def test_adaptive_clipping_charges_the_count_to_the_gradient_noise() -> None:
    sigma, count_std = 1.2, 3.0
    g = gradient_noise(sigma, count_std)
    assert g > sigma and g**-2 + (2 * count_std) ** -2 == pytest.approx(sigma**-2)
    with pytest.raises(ValueError, match="leaves no budget"):
        gradient_noise(2.0, 0.9)


def test_each_clipping_trains_at_the_same_epsilon_and_adaptive_moves_its_bound(
    digits: tuple[Schema, dict, Records],
) -> None:
    spec = ModelSpec.parse(CNN)
    records = digits[1]["HospitalA"]
    w = get_weights(spec.build())
    results = {c: train_round(spec, w, records, DPConfig(2.0, 1e-5, 0.1, 2, 64, 0.5, clipping=c), seed=5)
               for c in ("flat", "per_layer", "adaptive")}  # fmt: skip
    eps = {c: r.epsilon_spent for c, r in results.items()}
    assert eps["flat"] == pytest.approx(eps["per_layer"]) == pytest.approx(eps["adaptive"])
    assert eps["flat"] <= 2.0
    assert results["adaptive"].clip_final is not None and results["adaptive"].clip_final != pytest.approx(0.1)
    assert not np.array_equal(results["flat"].weights, results["per_layer"].weights)
    with pytest.raises(ValueError, match="clipping must be one of"):
        DPConfig(1.0, 1e-5, clipping="sometimes")


def test_the_adaptive_optimizer_releases_sigma_to_the_accountant() -> None:
    model = torch.nn.Linear(3, 1)
    opt = AdaptiveClipOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), noise_multiplier=1.1,
                                max_grad_norm=1.0, expected_batch_size=40)  # fmt: skip
    assert opt.noise_multiplier == 1.1 and opt.gradient_multiplier > 1.1 and opt.count_std == 4.0


# --- FedProx and the server step ----------------------------------------------------------------
def test_fedprox_keeps_a_skewed_hospital_near_the_round_model(digits: tuple[Schema, dict, Records]) -> None:
    spec = ModelSpec.parse("logreg-d64-c10")
    records = digits[1]["HospitalC"]
    w = get_weights(spec.build())
    plain = train_round(spec, w, records, DPConfig(5.0, 1e-5, 1.0, 3, 64, 0.5), seed=9)
    prox = train_round(spec, w, records, DPConfig(5.0, 1e-5, 1.0, 3, 64, 0.5, prox_mu=1.0), seed=9)
    assert np.linalg.norm(prox.update) < 0.8 * np.linalg.norm(plain.update)
    assert prox.epsilon_spent == pytest.approx(plain.epsilon_spent)  # the proximal step costs no privacy


def test_fedavgm_adds_momentum_from_the_two_models_on_the_ledger() -> None:
    w_prev, w = np.zeros(3, np.float32), np.array([1.0, 0.0, -1.0], np.float32)
    mean = np.array([0.5, 0.5, 0.5])
    step = ServerStep("fedavgm", 1.0, 0.5)
    assert np.allclose(step.apply(w, mean, w_prev), w + mean + 0.5 * (w - w_prev))
    assert np.allclose(step.apply(w, mean, None), w + mean)  # the first round has no previous model
    assert np.allclose(ServerStep("fedavg", 0.5).apply(w, mean), w + 0.25)
    rnd = {"server": {"optimizer": "fedavgm", "lr_ppm": 1_000_000, "momentum_ppm": 500_000}}
    assert ServerStep.from_round(rnd) == step and ServerStep.from_round({}) == ServerStep()
    updates = [Update("a", np.ones(3, np.float32), 1), Update("b", np.zeros(3, np.float32), 3)]
    out = TrustedAggregatorFedAvg(server=step).aggregate(w, updates, w_prev)
    assert np.allclose(out, w + 0.25 + 0.5 * w)
    with pytest.raises(ValueError, match="fedavg has no momentum"):
        ServerStep("fedavg", 1.0, 0.5)


def test_a_cnn_learns_digits_under_dp(digits: tuple[Schema, dict, Records]) -> None:
    spec = ModelSpec.parse(CNN)
    _, train, test = digits
    pooled = Records(np.concatenate([r.x for r in train.values()]), np.concatenate([r.y for r in train.values()]),
                     np.concatenate([r.pseudonyms for r in train.values()]))  # fmt: skip
    result = train_round(spec, get_weights(spec.build()), pooled, DPConfig(8.0, 1e-5, 0.5, 5, 128, 1.0), seed=0)
    metrics = evaluate(spec, result.weights, test)
    assert metrics["accuracy"] > 0.6 and metrics["auroc"] > 0.9  # chance is 0.1 and 0.5


def test_a_round_record_fixes_its_server_step_and_the_model_it_came_from() -> None:
    from tests.unit.consortium_sim import Consortium

    cons = Consortium()
    sid, a = "bc-screening", cons.agents[cons.hospitals[0]]
    cons.ready(server_optimizer="fedavgm", server_momentum_ppm=600_000, server_lr_ppm=900_000, prox_mu_ppm=10_000)
    first = cons.run_round()
    assert first["model_prev"] is None
    assert first["server"] == {"optimizer": "fedavgm", "lr_ppm": 900_000, "momentum_ppm": 600_000}
    assert ServerStep.from_round(first) == ServerStep("fedavgm", 0.9, 0.6)
    # a round that aborts makes no model: the next one starts from the same model and keeps its previous one
    second = cons.ok(a, "Round:Open", {"study_id": sid})
    assert second["model_prev"] == first["model_in"] and second["model_in"]["hash"] == first["aggregate"]["hash"]
    cons.tick(3600)
    assert cons.ok(a, "Round:Advance", {"study_id": sid, "round": 1})["state"] == "ABORTED"
    third = cons.ok(a, "Round:Open", {"study_id": sid})
    assert third["model_prev"] == first["model_in"] and third["model_in"] == second["model_in"]


def test_the_committee_applies_the_server_step_to_the_unmasked_sum() -> None:
    from agent.secagg import field
    from agent.secagg.protocol import new_global

    rng = np.random.default_rng(4)
    w_prev, w = rng.normal(size=7).astype(np.float32), rng.normal(size=7).astype(np.float32)
    weighted = rng.normal(size=7) * 30  # sum of n_i * update_i for 30 records in all
    step = ServerStep("fedavgm", 0.8, 0.5)
    out = new_global(w, field.encode(weighted), 30, step, w_prev)
    mean = field.decode(field.encode(weighted), 7) / 30
    assert np.array_equal(out, step.apply(w, mean, w_prev))
    assert np.allclose(out, w + 0.8 * mean + 0.5 * (w - w_prev), atol=1e-5)
    assert np.array_equal(new_global(w, field.encode(weighted), 30), ServerStep().apply(w, mean))


def test_cross_validation_scores_every_hospital_record_once_and_keeps_each_hospitals_own() -> None:
    from demo.learning_baselines import cross_validation_folds

    def records(tag: str, n: int) -> Records:
        return Records(np.zeros((n, 2), np.float32), np.arange(n, dtype=np.float32) % 2,
                       np.array([f"{tag}{i}" for i in range(n)]))  # fmt: skip

    train = {"A": records("a", 23), "B": records("b", 11)}
    validation = {"A": records("va", 6), "B": records("vb", 3)}
    splits = cross_validation_folds(train, validation, 5, seed=1)
    assert len(splits) == 5
    held = [p for _, scored in splits for p in scored.pseudonyms]
    everyone = {p for r in (*train.values(), *validation.values()) for p in r.pseudonyms}
    assert sorted(held) == sorted(everyone)  # each record scored exactly once
    for hospitals, scored in splits:
        assert set(hospitals) == {"A", "B"} and not set(scored.pseudonyms) & {
            p for r in hospitals.values() for p in r.pseudonyms}  # fmt: skip
        assert all(p.startswith(("a", "va")) for p in hospitals["A"].pseudonyms)  # A trains on A's records only
        assert all(p.startswith(("b", "vb")) for p in hospitals["B"].pseudonyms)
        assert len(hospitals["A"]) in (23, 24) and len(hospitals["B"]) in (11, 12)  # 4/5 of 29 and of 14
    again = cross_validation_folds(train, validation, 5, seed=1)
    assert [list(s.pseudonyms) for _, s in again] == [list(s.pseudonyms) for _, s in splits]  # reproducible


def test_the_privacy_cost_curve_runs_the_chosen_recipe_at_each_budget(tmp_path: Path) -> None:
    from bench.learning import audited_variants, longer_rule, privacy_cost
    from demo import tasks
    from demo.learning_baselines import pooled

    task = tasks.task("breast-cancer")
    rule = audited_variants(task)["demo rule"]
    data = task.data(tmp_path / task.folder)
    schema = Schema.load(data.schema_path)
    train = {o: load_records(p, schema) for o, p in data.train_paths.items()}
    scored = pooled({o: load_records(p, schema) for o, p in data.validation_paths.items()})
    said: list[str] = []
    curve, quiet = privacy_cost(rule, [(train, scored)], 1, (1.0, 100.0), said.append)
    assert quiet["epsilon"] == 100.0 and set(quiet["alone"]) == set(train) and "log_loss" in quiet["central"]
    assert list(curve) == ["1", "100"] and set(curve["1"]) == {"accuracy", "f1", "auroc", "log_loss"}
    assert any("epsilon 100" in m for m in said)
    # the same rule, only the budget changed: at 100 its noise multiplier is small, at 1 large
    n = len(train["HospitalC"])
    for budget, low, high in ((1.0, 3.0, 20.0), (100.0, 0.0, 0.5)):
        plan = dataclasses.replace(rule, epsilon=budget).make_plan(rule.rounds, ())
        assert low < plan.noise_multiplier(n, 0) < high, budget
    assert curve["100"]["log_loss"]["mean"] < curve["1"]["log_loss"]["mean"]  # eight times the noise shows
    longer = longer_rule(task, audited_variants(task), [(train, scored)], 1, 100.0, said.append)
    assert (longer["variant"], longer["epsilon"]) == ("40 steps", 100.0) and "log_loss" in longer
    assert any(m.startswith("40 steps at epsilon 100") for m in said)

    from bench.learning_chart import privacy_cost_png
    from demo.learning_baselines import summarise
    from demo.study_report import baseline

    result = {"task": task.name, "model": task.spec.name, "chosen": "demo rule", "epsilon": 3.0, "seeds": 1,
              "folds": 1, "evaluated_on": "the validation files", "budgets": curve, "largest_budget": quiet,
              "central_no_privacy": summarise([baseline(pooled(train).x, pooled(train).y, scored)])}  # fmt: skip
    png = privacy_cost_png(result)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
