"""The agent's audited trainer against the real circuits: Opacus DP-SGD steps on the demo data,
recorded in fixed point, chain into each other, commit to a Merkle root, and any step can be
proven and verified (logreg-d30-b32 and mlp-d30-h16-b32, the demo-size circuits of both model
specs, with one-party test keys)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.merkle import MerkleTree, verify
from agent.models import LOGREG_30, MLP_30_16_1, ModelSpec, get_weights
from agent.training import train_round
from agent.zk import binary
from agent.zk.audited_training import AuditedTraining, fixed_params
from agent.zk.circuit_grid import quantize
from chaincode.contracts import zk_audit

MODELS = {"logreg-d30-b32": LOGREG_30, "mlp-d30-h16-b32": MLP_30_16_1}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> demo_split.DemoData:
    return demo_split.build(tmp_path_factory.mktemp("zkdata"))


@pytest.fixture(scope="module", params=list(MODELS))
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          data: demo_split.DemoData) -> tuple[str, ModelSpec, Path, str, demo_split.DemoData]:  # fmt: skip
    circuit = request.param
    d = tmp_path_factory.mktemp(circuit)
    binary.dev_setup(circuit, d / "pk", d / "vk")
    return circuit, MODELS[circuit], d / "pk", base64.b64encode((d / "vk").read_bytes()).decode(), data


def test_every_recorded_step_proves_and_verifies(setup: tuple[str, ModelSpec, Path, str, demo_split.DemoData]) -> None:
    circuit, spec, pk, vk, data = setup
    schema = Schema.load(data.schema_path)
    records = load_records(data.train_paths["HospitalC"], schema)  # the smallest hospital: 73 records
    tag = zk_audit.round_tag("study-x", 0, "HospitalCMSP")
    cfg = AuditedTraining(circuit=circuit, capacity=32, steps=12, learning_rate_ppm=500_000, clip_ppm=1_000_000,
                          expected_batch=16, round_tag=tag, epsilon=1.0, delta=1e-5)  # fmt: skip
    w0 = get_weights(spec.build(seed=0))
    out = train_round(spec, w0, records, cfg, seed=3)
    trail = out.audit
    assert out.step_count == 12 and len(trail.leaves) == 12 and len(trail.snapshots) == 13
    assert trail.snapshots[0] == quantize(w0) and trail.snapshots[-1] == quantize(out.weights)
    for i, leaf in enumerate(trail.leaves):  # consecutive leaves chain and all sit under the root
        assert leaf[:8] == i.to_bytes(8, "big")
        if i + 1 < len(trail.leaves):
            assert leaf[72:104] == trail.leaves[i + 1][8:40]
    assert trail.leaves[-1][72:104].hex() == trail.final_commitment
    assert 0 < out.epsilon_spent <= 1.0 + 1e-6 and out.noise_multiplier > 0
    # sampled at the study's rule, 16 / 73 (not Opacus's 1 / len(loader) = 1 / 5) and accounted at
    # that rate: the round spends its whole budget
    assert out.release is not None and out.release.sample_rate == pytest.approx(16 / 73)
    assert out.release.steps == 12 and out.epsilon_spent >= 0.99
    sigma_micro = int(np.ceil(out.noise_multiplier * 1e6))
    params = {"learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": 16}
    lr, clip, eb = zk_audit.fixed_params(params)
    assert fixed_params(cfg) == {"lr": lr, "clip": clip, "expected_batch": eb}
    dim = spec.parameter_count()  # 31 or 513
    bound = str(zk_audit.noise_bound(dim, sigma_micro, 1_000_000))
    steps = []
    for i in (0, 5, 11):
        b = trail.batches[i]
        steps.append({"w_before": trail.snapshots[i], "w_after": trail.snapshots[i + 1], "x": b["x"], "y": b["y"],
                      "salt": str(b["salt"]), "step": i, "round": str(tag), "lr": lr, "clip": clip,
                      "expected_batch": eb, "noise_bound": bound})  # fmt: skip
    proofs = binary.prove(circuit, pk, steps)
    tree = MerkleTree(trail.leaves)
    items = []
    for i, proof in zip((0, 5, 11), proofs, strict=True):
        raw = trail.leaves[i]
        opened = {"w_before": raw[8:40].hex(), "batch": raw[40:72].hex(), "w_after": raw[72:104].hex()}
        assert verify(raw, tree.proof(i), out.step_root)
        items.append({"proof": proof["proof"],
                      "public": zk_audit.public_inputs(i, opened, tag, params, sigma_micro, dim)})  # fmt: skip
    verdicts = zk_audit.verify_proofs(circuit, vk, items)
    assert all(v["valid"] for v in verdicts), verdicts  # the ledger's public inputs are the prover's


def test_a_circuit_of_another_model_is_refused(setup: tuple[str, ModelSpec, Path, str, demo_split.DemoData]) -> None:
    circuit, spec, _, _, data = setup
    other = MLP_30_16_1 if spec is LOGREG_30 else LOGREG_30
    records = load_records(data.train_paths["HospitalC"], Schema.load(data.schema_path))
    cfg = AuditedTraining(circuit=circuit, capacity=32, steps=2, learning_rate_ppm=500_000, clip_ppm=1_000_000,
                          expected_batch=16, round_tag=1, epsilon=1.0, delta=1e-5)  # fmt: skip
    with pytest.raises(ValueError, match="does not prove steps of this model"):
        train_round(other, get_weights(other.build()), records, cfg, seed=1)
