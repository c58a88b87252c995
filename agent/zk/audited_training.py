"""DP-SGD for an audited study: exactly the study's number of steps, each recorded in the
circuit's fixed point so that any of them can be proven later.

Differences from the unaudited trainer (agent/training.py), all fixed by the study so that
every endorser computes the same public inputs:

* features are clamped to [-8, 8) and put on the 2^-12 grid before training, and the weights
  are put on the grid before every step (rounding the previous step's noisy output is
  post-processing: the DP guarantee is unchanged), so the float step starts exactly where the
  circuit's does;
* the model must be the circuit's: logistic regression for ``logreg-d<D>-b<B>``, the D-H-1
  perceptron for ``mlp-d<D>-h<H>-b<B>``; both have one output, so the label must be binary (a
  multi-class spec is refused);
* learning rate, clipping norm and expected batch size come from the study, and the noise
  multiplier is calibrated for exactly ``steps`` Poisson-sampled steps (Opacus's RDP
  accountant); the accountant's epsilon after the steps actually taken is what is committed;
* a Poisson draw that is empty or larger than the circuit's batch capacity is skipped (not a
  step): the study's expected batch is chosen so that this is rare (docs/verifiable-training.md);
* per step, the weights before it (quantized), the batch (features, labels, a random salt)
  and, at the end, the final weights are committed with Poseidon2 through ``fedledger-zk
  commit``; leaf i = i (8 bytes) || commit(w_i) || commit(batch_i) || commit(w_{i+1}) and the
  SHA-256 Merkle root of the leaves is the commitment's ``step_root``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants.utils import get_noise_multiplier
from torch.utils.data import DataLoader, TensorDataset

from agent.data.schema import Records
from agent.merkle import MerkleTree
from agent.models import ModelSpec, get_weights, set_weights
from agent.training import _epsilon, _os_seeds
from agent.zk import binary
from agent.zk.fixedpoint import ONE, feature_ints, grid_features, new_salt, quantize
from chaincode.contracts import zk_circuits

log = logging.getLogger("fedledger.agent")
MAX_DRAWS_FACTOR = 4  # give up after 4x the steps in draws (only absurd settings get there)


@dataclass(frozen=True)
class AuditedTraining:
    """What an audited study fixes for each participant's local training."""

    circuit: str  # e.g. logreg-d30-b32 or mlp-d30-h16-b32
    capacity: int  # the circuit's batch capacity B
    steps: int
    learning_rate_ppm: int
    clip_ppm: int
    expected_batch: int
    round_tag: int
    epsilon: float
    delta: float

    @property
    def learning_rate(self) -> float:
        return self.learning_rate_ppm / 1e6

    @property
    def clip(self) -> float:
        return self.clip_ppm / 1e6


@dataclass(frozen=True)
class AuditedRound:
    weights: np.ndarray
    update: np.ndarray
    snapshots: list[list[int]]  # w_0 .. w_steps, fixed point
    batches: list[dict[str, Any]]  # per step: {x, y, salt}
    leaves: list[bytes]
    step_root: bytes
    final_commitment: str
    epsilon_spent: float
    noise_multiplier: float
    sample_count: int
    skipped_draws: int

    @property
    def step_count(self) -> int:
        return len(self.batches)


def leaf(index: int, w_before: str, batch: str, w_after: str) -> bytes:
    return index.to_bytes(8, "big") + bytes.fromhex(w_before) + bytes.fromhex(batch) + bytes.fromhex(w_after)


def train_audited(spec: ModelSpec, weights_in: np.ndarray, records: Records, cfg: AuditedTraining,
                  seed: int | None = None) -> AuditedRound:  # fmt: skip
    if not spec.binary:
        raise ValueError(f"audited training needs a binary label: the step circuits prove binary logistic regression "
                         f"or mlp steps only (at most 64 features, an mlp at most 32 hidden units); model {spec.name} "
                         f"has {spec.classes} classes")  # fmt: skip
    circuit = zk_circuits.parse(cfg.circuit)
    if (circuit.kind, circuit.features, circuit.hidden) != (spec.kind, spec.input_dim, spec.hidden):
        raise ValueError(f"the study's circuit {cfg.circuit} does not prove steps of this model "
                         f"({spec.kind}, {spec.input_dim} inputs, {spec.hidden} hidden)")  # fmt: skip
    if len(records) == 0:
        raise ValueError("no records to train on (no patient with valid consent?)")
    x = grid_features(records.x)
    sampling_seed, noise_seed = (seed, seed + 1) if seed is not None else _os_seeds()
    torch.manual_seed(sampling_seed)
    noise = torch.Generator().manual_seed(noise_seed)
    sample_rate = min(1.0, cfg.expected_batch / len(records))
    with warnings.catch_warnings():  # RDP's order grid edge: the bound is still valid, only looser
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        sigma = get_noise_multiplier(target_epsilon=cfg.epsilon, target_delta=cfg.delta, sample_rate=sample_rate,
                                     steps=cfg.steps, accountant="rdp")  # fmt: skip
    model = spec.build()
    set_weights(model, weights_in)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.learning_rate)
    loader = DataLoader(TensorDataset(torch.tensor(x), torch.tensor(records.y)),
                        batch_size=max(1, round(sample_rate * len(records))))  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, loader = engine.make_private(module=model, optimizer=optimizer, data_loader=loader,
                                                       noise_multiplier=sigma, max_grad_norm=cfg.clip,
                                                       noise_generator=noise)  # fmt: skip
    loss_fn = torch.nn.BCEWithLogitsLoss()
    snapshots: list[list[int]] = []
    batches: list[dict[str, Any]] = []
    skipped = draws = 0
    while len(batches) < cfg.steps:
        for xb, yb in loader:
            draws += 1
            if draws > MAX_DRAWS_FACTOR * cfg.steps:
                raise RuntimeError(f"only {len(batches)} usable batches in {draws} draws: expected batch too far "
                                   f"from 1..{cfg.capacity}")  # fmt: skip
            if not 1 <= len(yb) <= cfg.capacity:
                skipped += 1
                continue
            on_grid = quantize(get_weights(model))
            set_weights(model, np.asarray(on_grid, dtype=np.float64) / ONE)
            snapshots.append(on_grid)
            batches.append({"x": feature_ints(xb.numpy()), "y": [int(v) for v in yb.numpy()], "salt": new_salt()})
            optimizer.zero_grad()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss_fn(model(xb).squeeze(-1), yb).backward()
            optimizer.step()
            if len(batches) == cfg.steps:
                break
    weights_out = get_weights(model)
    snapshots.append(quantize(weights_out))
    if skipped:
        log.info("audited training: %d Poisson draws outside 1..%d examples skipped", skipped, cfg.capacity)
    requests = [{"round": str(cfg.round_tag), "step": i, "salt": str(b["salt"]), "x": b["x"], "y": b["y"]}
                for i, b in enumerate(batches)]  # fmt: skip
    w_commits, b_commits = binary.commitments(cfg.circuit, snapshots, requests)
    leaves = [leaf(i, w_commits[i], b_commits[i], w_commits[i + 1]) for i in range(len(batches))]
    return AuditedRound(
        weights=weights_out, update=weights_out - weights_in, snapshots=snapshots, batches=batches, leaves=leaves,
        step_root=MerkleTree(leaves).root, final_commitment=w_commits[-1], epsilon_spent=_epsilon(engine, cfg.delta),
        noise_multiplier=float(sigma), sample_count=len(records), skipped_draws=skipped,
    )  # fmt: skip


def fixed_params(cfg: AuditedTraining) -> dict[str, int]:
    """The circuit's LR, Clip and ExpectedBatch inputs (what the chaincode derives from the study)."""
    return {"lr": cfg.learning_rate_ppm * ONE // 1_000_000, "clip": cfg.clip_ppm * ONE // 1_000_000,
            "expected_batch": cfg.expected_batch}  # fmt: skip
