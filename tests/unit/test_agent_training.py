"""Agent building blocks: data loading with clear errors, model specs and weights, the Merkle
tree, DP-SGD with step commitments, FedAvg with update checks, compression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from agent.aggregation import TrustedAggregatorFedAvg, Update, UpdateRejected
from agent.compression import dequantize_int8, int8_bytes, quantize_int8
from agent.data import demo_split
from agent.data.schema import DataError, Records, Schema, load_records
from agent.merkle import MerkleTree, verify
from agent.models import LOGREG_30, MLP_30_16_1, ModelSpec, get_weights, weights_bytes, weights_from_bytes, weights_hash
from agent.training import DPConfig, evaluate, train_round
from agent.zk.audited_training import AuditedTraining


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> demo_split.DemoData:
    return demo_split.build(tmp_path_factory.mktemp("data"))


def test_demo_split_is_non_iid_and_loads(demo: demo_split.DemoData) -> None:
    schema = Schema.load(demo.schema_path)
    sizes, positives = {}, {}
    for org, path in demo.train_paths.items():
        r = load_records(path, schema)
        sizes[org], positives[org] = len(r), float(r.y.mean())
        assert r.x.shape[1] == 30 and r.x.dtype == np.float32
    assert sizes["HospitalA"] > sizes["HospitalB"] > sizes["HospitalC"]  # size skew
    assert positives["HospitalA"] < positives["HospitalB"]  # label skew
    all_pseudonyms = set()
    for path in [*demo.train_paths.values(), *demo.validation_paths.values(), demo.test_path]:
        p = set(load_records(path, schema).pseudonyms)
        assert not (p & all_pseudonyms)
        all_pseudonyms |= p


def test_demo_split_is_reused_and_the_enlarged_copy_keeps_labels_and_schema(
    demo: demo_split.DemoData, tmp_path: Path
) -> None:
    before = demo.train_paths["HospitalA"].read_bytes()
    again = demo_split.build(demo.root)  # running agents may be reading these files: never rewritten
    assert again == demo and again.train_paths["HospitalA"].read_bytes() == before
    schema = Schema.load(demo.schema_path)
    big = demo_split.build_enlarged(demo, tmp_path / "big", factor=3)
    for org, path in demo.train_paths.items():
        base, enlarged = load_records(path, schema), load_records(big.train_paths[org], schema)
        assert len(enlarged) == 3 * len(base) and enlarged.y.mean() == pytest.approx(base.y.mean())
        assert not np.array_equal(enlarged.x[: len(base)], base.x)  # jittered copies, not the same rows
    assert big.validation_paths == demo.validation_paths and big.test_path == demo.test_path


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda df: df.drop(columns=["mean_radius"]), "missing column(s) mean_radius"),
        (
            lambda df: df.assign(mean_radius=df["mean_radius"].astype(object).where(df.index != 3, "abc")),
            "column mean_radius is not numeric at line 5 ('abc')",
        ),
        (lambda df: df.assign(mean_radius=df["mean_radius"].where(df.index != 5)), "1 missing value(s) at line 7"),
        (lambda df: df.assign(malignant=2), "only 0 and 1"),
        (lambda df: df.assign(patient_pseudonym="same"), "repeats values at line 2 ('same'), line 3"),
        (lambda df: df.iloc[0:0], "no records"),
    ],
)
def test_bad_data_is_refused_with_the_column_named(demo: demo_split.DemoData, tmp_path: Path, mutate, fragment: str
                                                   ) -> None:  # fmt: skip
    df = mutate(pd.read_csv(demo.train_paths["HospitalA"]))
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        load_records(path, Schema.load(demo.schema_path))
    assert fragment in str(info.value)


def test_every_problem_is_listed_at_once_with_csv_lines(demo: demo_split.DemoData, tmp_path: Path) -> None:
    from agent.data.check import check_file

    df = pd.read_csv(demo.train_paths["HospitalA"], dtype=str)
    df.loc[0, "mean_radius"] = ""  # line 2
    df.loc[4, "mean_texture"] = "12,5"  # line 6: a decimal comma
    df.loc[9, "malignant"] = "yes"  # line 11
    df.loc[[2, 3], "patient_pseudonym"] = "p-dup"  # lines 4 and 5
    path = tmp_path / "export.csv"
    df.to_csv(path, index=False)
    problems = [p.message for p in check_file(path, Schema.load(demo.schema_path)).problems]
    assert problems == [
        "column mean_radius has 1 missing value(s) at line 2",
        "column mean_texture is not numeric at line 6 ('12,5')",
        "column malignant is not numeric at line 11 ('yes')",
        "pseudonym column patient_pseudonym repeats values at line 4 ('p-dup'), line 5 ('p-dup')",
    ]
    with pytest.raises(DataError) as info:
        load_records(path, Schema.load(demo.schema_path))
    assert "(4 problem(s))" in str(info.value)
    assert [str(p) for p in check_file(tmp_path / "absent.csv", Schema.load(demo.schema_path)).problems] == [
        "absent.csv: no such file"]  # fmt: skip


def test_parquet_works_like_csv(demo: demo_split.DemoData, tmp_path: Path) -> None:
    schema = Schema.load(demo.schema_path)
    pd.read_csv(demo.train_paths["HospitalB"]).to_parquet(tmp_path / "b.parquet")
    a = load_records(demo.train_paths["HospitalB"], schema)
    b = load_records(tmp_path / "b.parquet", schema)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)


def test_model_specs_hash_and_weights_round_trip() -> None:
    assert LOGREG_30.parameter_count() == 31 and MLP_30_16_1.parameter_count() == 30 * 16 + 16 + 16 + 1
    assert LOGREG_30.hash != MLP_30_16_1.hash and len(LOGREG_30.hash) == 64
    w = get_weights(MLP_30_16_1.build(seed=1))
    assert np.array_equal(weights_from_bytes(weights_bytes(w), MLP_30_16_1), w)
    assert weights_hash(w) == weights_hash(w.copy())
    with pytest.raises(ValueError, match="needs"):
        weights_from_bytes(weights_bytes(w)[:-4], MLP_30_16_1)
    with pytest.raises(ValueError, match="NaN"):
        weights_from_bytes(weights_bytes(np.full(31, np.nan, dtype=np.float32)), LOGREG_30)
    with pytest.raises(ValueError):
        ModelSpec("transformer", 30)


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40))
def test_merkle_proofs_verify_and_bind(leaves: list[bytes]) -> None:
    tree = MerkleTree(leaves)
    for i, leaf in enumerate(leaves):
        assert verify(leaf, tree.proof(i), tree.root)
        assert not verify(leaf + b"x", tree.proof(i), tree.root)
    if len(leaves) > 1 and leaves[0] != leaves[1]:
        assert not verify(leaves[1], tree.proof(0), tree.root)


def test_dp_training_commits_every_step_and_reports_epsilon(demo: demo_split.DemoData) -> None:
    schema = Schema.load(demo.schema_path)
    train = load_records(demo.train_paths["HospitalA"], schema)
    w0 = get_weights(LOGREG_30.build(seed=0))
    result = train_round(LOGREG_30, w0, train, DPConfig(epsilon=1.0, delta=1e-5, epochs=3), seed=1)
    assert 0 < result.epsilon_spent <= 1.0 + 1e-6 and result.noise_multiplier > 0
    assert len(result.steps) >= 3 and [s.index for s in result.steps] == list(range(len(result.steps)))
    assert result.steps[0].weights_hash == bytes.fromhex(weights_hash(w0))
    tree = MerkleTree([s.leaf() for s in result.steps])
    assert tree.root == result.step_root
    assert np.allclose(result.update, result.weights - w0)
    metrics = evaluate(LOGREG_30, result.weights, load_records(demo.test_path, schema))
    assert metrics["accuracy"] > 0.8 and 0.5 < metrics["auroc"] <= 1.0
    with pytest.raises(ValueError, match="no records"):
        train_round(LOGREG_30, w0, train.subset(np.zeros(len(train), dtype=bool)), DPConfig(1.0, 1e-5))


def test_dp_noise_is_fresh_every_round_and_model_building_leaves_the_rng_alone(demo: demo_split.DemoData) -> None:
    """Noise an adversary can regenerate protects nothing: it must never come from a known seed."""
    schema = Schema.load(demo.schema_path)
    train = load_records(demo.train_paths["HospitalC"], schema)
    w0 = get_weights(LOGREG_30.build(seed=0))
    dp = DPConfig(epsilon=1.0, delta=1e-5, epochs=1)
    first, second = train_round(LOGREG_30, w0, train, dp), train_round(LOGREG_30, w0, train, dp)
    assert not np.allclose(first.update, second.update)  # same data, same start: different noise
    torch.manual_seed(123)
    LOGREG_30.build(seed=0)  # deterministic init must not reset torch's global generator
    after_build = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after_build)
    assert np.array_equal(get_weights(LOGREG_30.build(seed=0)), w0)
    a, b = train_round(LOGREG_30, w0, train, dp, seed=5), train_round(LOGREG_30, w0, train, dp, seed=5)
    assert np.array_equal(a.update, b.update)  # an explicit seed (tests only) reproduces


def _blobs(n: int, seed: int, classes: int = 3, features: int = 5) -> Records:
    """Class c centred at 3 on feature c, unit noise: separable far beyond chance (1/classes)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = 3.0 * np.eye(classes, features)[y] + rng.normal(size=(n, features))
    return Records(x.astype(np.float32), y.astype(np.float32), np.array([f"p{i}" for i in range(n)]))


@pytest.mark.parametrize("spec", [ModelSpec("logreg", 5, classes=3), ModelSpec("mlp", 5, 8, classes=3)],
                         ids=lambda s: s.name)  # fmt: skip
def test_multiclass_specs_train_with_dp_to_well_above_chance(spec: ModelSpec) -> None:
    train, test = _blobs(300, seed=0), _blobs(300, seed=1)
    w = get_weights(spec.build(seed=0))
    assert spec.outputs == 3 and w.shape == (spec.parameter_count(),)
    assert evaluate(spec, w, test)["accuracy"] < 0.5  # the initial weights are no better than chance
    for r in range(2):
        result = train_round(spec, w, train, DPConfig(epsilon=2.0, delta=1e-5, epochs=2), seed=10 + r)
        assert 0 < result.epsilon_spent <= 2.0 + 1e-6 and result.step_root == MerkleTree(
            [s.leaf() for s in result.steps]).root  # fmt: skip
        w = result.weights
    metrics = evaluate(spec, w, test)
    assert set(metrics) == {"accuracy", "f1", "auroc", "log_loss"} and metrics["log_loss"] < np.log(3)  # chance
    assert metrics["accuracy"] > 0.85 and metrics["f1"] > 0.85 and 0.9 < metrics["auroc"] <= 1.0  # chance: 1/3


def test_multiclass_evaluation_is_macro_and_auroc_needs_every_class() -> None:
    spec = ModelSpec("logreg", 5, classes=3)
    weights = np.concatenate([5 * np.eye(3, 5).ravel(), np.zeros(3)]).astype(np.float32)  # class c: feature c
    x = np.eye(3, 5, dtype=np.float32)[[0, 1, 1, 2]]  # predicted 0, 1, 1, 2
    records = Records(x, np.array([0, 0, 1, 2], np.float32), np.array(["a", "b", "c", "d"]))
    metrics = evaluate(spec, weights, records)
    assert metrics["accuracy"] == 0.75
    assert metrics["f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)  # macro: F1 per class, averaged
    assert 0.5 < metrics["auroc"] <= 1.0
    right, wrong = np.e**5 / (np.e**5 + 2), 1 / (np.e**5 + 2)  # softmax of the true class, logits 5, 0, 0
    assert metrics["log_loss"] == pytest.approx(-(3 * np.log(right) + np.log(wrong)) / 4, rel=1e-5)
    two_classes = records.subset(records.y != 2)  # class 2 absent: one-vs-rest AUROC is undefined
    missing = evaluate(spec, weights, two_classes)
    assert np.isnan(missing["auroc"]) and missing["accuracy"] == pytest.approx(2 / 3)
    assert missing["f1"] == pytest.approx(2 / 3)  # macro over the classes that occur (0 and 1)


@pytest.mark.parametrize(("spec", "labels"), [(ModelSpec("logreg", 5, classes=3), [0, 1, 3]),
                                              (ModelSpec("mlp", 5, 4, classes=3), [0, -1, 2]),
                                              (ModelSpec("logreg", 5), [0, 1, 2]),
                                              (ModelSpec("logreg", 5), [0, 0.5, 1]),
                                              (ModelSpec("logreg", 5), [0, np.nan, 1])])  # fmt: skip
def test_labels_outside_the_classes_are_refused(spec: ModelSpec, labels: list[float]) -> None:
    records = _blobs(3, seed=0, classes=3)
    records = Records(records.x, np.array(labels, np.float32), records.pseudonyms)
    w = get_weights(spec.build())
    with pytest.raises(ValueError, match=f"label\\(s\\) outside the classes 0..{spec.classes - 1}"):
        train_round(spec, w, records, DPConfig(1.0, 1e-5), seed=0)
    with pytest.raises(ValueError, match="labels must be class indices"):
        evaluate(spec, w, records)


def test_binary_training_is_unchanged_by_multiclass_support() -> None:
    """A binary spec keeps one output, the logistic loss and its hash: with a fixed seed, a round
    ends at the weights the binary-only trainer produced (recorded before multi-class support)."""
    spec = ModelSpec("logreg", 5)
    assert spec.outputs == 1 and spec.binary and spec.build()[0].out_features == 1
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    records = Records(x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32), np.array([f"p{i}" for i in range(300)]))
    result = train_round(spec, get_weights(spec.build(seed=0)), records, DPConfig(2.0, 1e-5, epochs=2), seed=7)
    before = [1.6799909, 0.76529056, -0.01421176, -0.12669185, -0.13937578, -0.02080293]
    assert np.allclose(result.weights, np.array(before, np.float32), rtol=0, atol=1e-6)
    assert len(result.steps) == 20 and result.noise_multiplier == pytest.approx(1.484375)
    metrics = evaluate(spec, result.weights, records)
    assert {k: metrics[k] for k in ("accuracy", "f1", "auroc")} == pytest.approx(
        {"accuracy": 0.9566666666666667, "f1": 0.9498069498069498, "auroc": 0.9965546942291128})  # fmt: skip
    scores = 1 / (1 + np.exp(-(x @ result.weights[:5] + result.weights[5])))  # the sigmoid of the logit
    y = records.y
    assert metrics["log_loss"] == pytest.approx(-np.mean(y * np.log(scores) + (1 - y) * np.log(1 - scores)), rel=1e-4)


def test_model_names_round_trip_and_binary_hashes_are_unchanged() -> None:
    for name in ("logreg-d30-c2", "mlp-d30-h16-c2", "logreg-d13-c3", "mlp-d13-h16-c5"):
        assert ModelSpec.parse(name).name == name
    assert ModelSpec.parse("logreg-d30-c2") == LOGREG_30 and ModelSpec.parse("mlp-d30-h16-c2") == MLP_30_16_1
    assert ModelSpec.parse("mlp-d13-h16-c5") == ModelSpec("mlp", 13, 16, 5)
    # the binary specs' hashes (on the ledger as model_spec_hash) are what they were before classes existed
    assert LOGREG_30.hash == "121efcddee06b0cc0f030f9f16c54b60ebfe1e5802caa6e9d1e10d094b24658f"
    assert MLP_30_16_1.hash == "087276b13fa62d1003666dff29c84f1101a1bfef34331ab54fc3332e62a55918"
    assert ModelSpec("logreg", 30, classes=3).hash not in (LOGREG_30.hash, ModelSpec("logreg", 30, classes=4).hash)
    schema = Schema(("a", "b", "c"), "label", "pid", classes=4)
    assert ModelSpec.for_schema(schema, "mlp", 8) == ModelSpec("mlp", 3, 8, 4)
    assert ModelSpec.for_schema(schema, "logreg", 8) == ModelSpec("logreg", 3, 0, 4)
    for bad in ("logreg-d0-c2", "mlp-d3-c2", "logreg-d3-h2-c2", "logreg-d3-c1", "logreg-d3", "mlp-d3-h2-c2 "):
        with pytest.raises(ValueError):
            ModelSpec.parse(bad)
    with pytest.raises(ValueError, match="unknown model 'mlp-d3-c2'"):
        ModelSpec.parse("mlp-d3-c2")
    with pytest.raises(ValueError, match="classes must be between 2"):
        ModelSpec.parse("logreg-d3-c1")


def test_audited_training_refuses_a_multiclass_spec() -> None:
    spec = ModelSpec("logreg", 5, classes=3)
    cfg = AuditedTraining(circuit="logreg-d5-b32", capacity=32, steps=2, learning_rate_ppm=500_000,
                          clip_ppm=1_000_000, expected_batch=16, round_tag=1, epsilon=1.0, delta=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="audited training needs a binary label"):
        train_round(spec, get_weights(spec.build()), _blobs(60, seed=0), cfg, seed=1)


def test_fedavg_weights_by_samples_and_rejects_bad_updates() -> None:
    agg = TrustedAggregatorFedAvg(max_update_norm=100.0)
    g = np.zeros(3, dtype=np.float32)
    new = agg.aggregate(g, [Update("A", np.array([1, 1, 1], np.float32), 30), Update("B", np.zeros(3, np.float32), 10)])
    assert np.allclose(new, 0.75)
    for bad, fragment in [
        (Update("A", np.array([np.nan, 0, 0], np.float32), 5), "NaN"),
        (Update("A", np.zeros(4, np.float32), 5), "shape"),
        (Update("A", np.zeros(3, np.float32), 0), "sample count"),
        (Update("A", np.full(3, 1e3, np.float32), 5), "exceeds"),
    ]:
        with pytest.raises(UpdateRejected, match=fragment):
            agg.aggregate(g, [bad])


def test_int8_compression() -> None:
    rng = np.random.default_rng(0)
    u = rng.normal(size=1000).astype(np.float32)
    q, scale = quantize_int8(u)
    assert int8_bytes(q) < u.nbytes / 3.9
    assert np.max(np.abs(dequantize_int8(q, scale) - u)) <= scale / 254 + 1e-6
