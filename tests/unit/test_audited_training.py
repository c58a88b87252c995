"""The agent's audited trainer against the real circuit: Opacus DP-SGD steps on the demo data,
recorded in fixed point, chain into each other, commit to a Merkle root, and any step can be
proven and verified (logreg-d30-b32, one-party test keys)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from agent.data import demo_split
from agent.data.schema import Schema, load_records
from agent.merkle import MerkleTree, verify
from agent.models import LOGREG_30, get_weights
from agent.zk import binary
from agent.zk.audited_training import AuditedTraining, fixed_params, train_audited
from agent.zk.fixedpoint import quantize
from chaincode.contracts import zk_audit

CIRCUIT = "logreg-d30-b32"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, demo_split.DemoData]:
    d = tmp_path_factory.mktemp("zk30")
    binary.dev_setup(CIRCUIT, d / "pk", d / "vk")
    return d / "pk", base64.b64encode((d / "vk").read_bytes()).decode(), demo_split.build(d / "data")


def test_every_recorded_step_proves_and_verifies(setup: tuple[Path, str, demo_split.DemoData]) -> None:
    pk, vk, data = setup
    schema = Schema.load(data.schema_path)
    records = load_records(data.train_paths["HospitalC"], schema)  # the smallest hospital: 73 records
    tag = zk_audit.round_tag("study-x", 0, "HospitalCMSP")
    cfg = AuditedTraining(circuit=CIRCUIT, capacity=32, steps=12, learning_rate_ppm=500_000, clip_ppm=1_000_000,
                          expected_batch=16, round_tag=tag, epsilon=1.0, delta=1e-5)  # fmt: skip
    w0 = get_weights(LOGREG_30.build(seed=0))
    out = train_audited(LOGREG_30, w0, records, cfg, seed=3)
    assert out.step_count == 12 and len(out.leaves) == 12 and len(out.snapshots) == 13
    assert out.snapshots[0] == quantize(w0) and out.snapshots[-1] == quantize(out.weights)
    for i, leaf in enumerate(out.leaves):  # consecutive leaves chain and all sit under the root
        assert leaf[:8] == i.to_bytes(8, "big")
        if i + 1 < len(out.leaves):
            assert leaf[72:104] == out.leaves[i + 1][8:40]
    assert out.leaves[-1][72:104].hex() == out.final_commitment
    assert 0 < out.epsilon_spent <= 1.0 + 1e-6 and out.noise_multiplier > 0
    sigma_micro = int(np.ceil(out.noise_multiplier * 1e6))
    params = {"learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": 16}
    lr, clip, eb = zk_audit.fixed_params(params)
    assert fixed_params(cfg) == {"lr": lr, "clip": clip, "expected_batch": eb}
    bound = str(zk_audit.noise_bound(31, sigma_micro, 1_000_000))
    steps = []
    for i in (0, 5, 11):
        b = out.batches[i]
        steps.append({"w_before": out.snapshots[i], "w_after": out.snapshots[i + 1], "x": b["x"], "y": b["y"],
                      "salt": str(b["salt"]), "step": i, "round": str(tag), "lr": lr, "clip": clip,
                      "expected_batch": eb, "noise_bound": bound})  # fmt: skip
    proofs = binary.prove(CIRCUIT, pk, steps)
    tree = MerkleTree(out.leaves)
    items = []
    for i, proof in zip((0, 5, 11), proofs, strict=True):
        raw = out.leaves[i]
        opened = {"w_before": raw[8:40].hex(), "batch": raw[40:72].hex(), "w_after": raw[72:104].hex()}
        assert verify(raw, tree.proof(i), out.step_root)
        items.append({"proof": proof["proof"],
                      "public": zk_audit.public_inputs(i, opened, tag, params, sigma_micro, 31)})  # fmt: skip
    verdicts = zk_audit.verify_proofs(CIRCUIT, vk, items)
    assert all(v["valid"] for v in verdicts), verdicts  # the ledger's public inputs are the prover's
