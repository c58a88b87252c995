"""The plan of an audited round: exactly the study's number of DP-SGD steps, each recorded in
the circuit's fixed point so that any of them can be proven later.

The trainer is agent/training.py's, as for every round; what this plan changes, all fixed by
the study so that every endorser computes the same public inputs:

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agent import privacy
from agent.data.schema import Records
from agent.merkle import MerkleTree
from agent.models import ModelSpec, get_weights, set_weights
from agent.privacy import Release
from agent.training import StepLog, StepRecorder, calibrated_noise
from agent.zk import binary
from agent.zk.circuit_grid import ONE, feature_ints, grid_features, new_salt, quantize
from chaincode.contracts import zk_circuits

log = logging.getLogger("fedledger.agent")
MAX_DRAWS_FACTOR = 4  # give up after 4x the steps in draws (only absurd settings get there)


@dataclass(frozen=True)
class AuditedTraining:
    """What an audited study fixes for each participant's local training: the plan
    (agent/training.py ``StepPlan``) the one trainer follows in an audited round."""

    circuit: str  # e.g. logreg-d30-b32 or mlp-d30-h16-b32
    capacity: int  # the circuit's batch capacity B
    steps: int
    learning_rate_ppm: int
    clip_ppm: int
    expected_batch: int
    round_tag: int
    epsilon: float
    delta: float
    rounds: int = 1  # this round and the ones still to come: the noise is spread over all of them
    history: tuple[Release, ...] = ()  # the earlier rounds' releases (agent/privacy.py)
    # the step circuit proves plain DP-SGD steps with flat clipping
    clipping: str = "flat"
    prox_mu: float = 0.0

    @property
    def learning_rate(self) -> float:
        return self.learning_rate_ppm / 1e6

    @property
    def clip(self) -> float:
        return self.clip_ppm / 1e6

    def check(self, spec: ModelSpec, records: Records) -> None:
        if not spec.binary:
            raise ValueError(f"audited training needs a binary label: the step circuits prove binary logistic "
                             f"regression or mlp steps only (at most 64 features, an mlp at most 32 hidden units); "
                             f"model {spec.name} has {spec.classes} classes")  # fmt: skip
        circuit = zk_circuits.parse(self.circuit)
        if (circuit.kind, circuit.features, circuit.hidden) != (spec.kind, spec.input_dim, spec.hidden):
            raise ValueError(f"the study's circuit {self.circuit} does not prove steps of this model "
                             f"({spec.kind}, {spec.input_dim} inputs, {spec.hidden} hidden)")  # fmt: skip

    def features(self, x: np.ndarray) -> np.ndarray:
        return grid_features(x)

    def sample_rate(self, n: int) -> float:
        return min(1.0, self.expected_batch / n)

    def loader_batch(self, n: int) -> int:
        return max(1, round(self.sample_rate(n) * n))

    def sampling(self, n: int, loader_len: int) -> tuple[float, int]:
        # exactly the study's rule, as the circuit proves each step: rate B / n, divided by B
        return self.sample_rate(n), min(self.expected_batch, n)

    def noise_multiplier(self, n: int, loader_len: int) -> float:
        # calibrated for exactly the study's number of steps (the ledger fixes it)
        if not self.history and self.rounds == 1:
            return calibrated_noise(self.epsilon, self.delta, sample_rate=self.sample_rate(n), steps=self.steps)
        return privacy.calibrate(self.history, self.sample_rate(n), self.steps, self.rounds, self.epsilon, self.delta)

    def finished(self, passes: int, steps: int) -> bool:
        return steps >= self.steps

    def recorder(self) -> StepRecorder:
        return GridSteps(self)


@dataclass(frozen=True)
class AuditTrail:
    """What an audited round keeps to prove any of its steps later."""

    snapshots: list[list[int]]  # w_0 .. w_steps, fixed point
    batches: list[dict[str, Any]]  # per step: {x, y, salt}
    leaves: list[bytes]
    final_commitment: str
    skipped_draws: int


class GridSteps:
    """Audited recording: each step starts from weights put on the 2^-12 grid, which are
    snapshotted with the batch and a salt; at the end every snapshot and batch is committed
    with Poseidon2 (``fedledger-zk commit``) and leaf i chains commit(w_i), commit(batch_i)
    and commit(w_{i+1})."""

    def __init__(self, plan: AuditedTraining) -> None:
        self.plan = plan
        self.snapshots: list[list[int]] = []
        self.batches: list[dict[str, Any]] = []
        self.skipped = self.draws = 0

    def accept(self, batch_size: int) -> bool:
        self.draws += 1
        if self.draws > MAX_DRAWS_FACTOR * self.plan.steps:
            raise RuntimeError(f"only {len(self.batches)} usable batches in {self.draws} draws: expected batch too "
                               f"far from 1..{self.plan.capacity}")  # fmt: skip
        if not 1 <= batch_size <= self.plan.capacity:
            self.skipped += 1
            return False
        return True

    def before_step(self, model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> None:
        on_grid = quantize(get_weights(model))
        set_weights(model, np.asarray(on_grid, dtype=np.float64) / ONE)
        self.snapshots.append(on_grid)
        self.batches.append({"x": feature_ints(xb.numpy()), "y": [int(v) for v in yb.numpy()], "salt": new_salt()})

    def finish(self, weights_out: np.ndarray) -> StepLog:
        snapshots = [*self.snapshots, quantize(weights_out)]
        if self.skipped:
            log.info("audited training: %d Poisson draws outside 1..%d examples skipped", self.skipped,
                     self.plan.capacity)  # fmt: skip
        requests = [{"round": str(self.plan.round_tag), "step": i, "salt": str(b["salt"]), "x": b["x"], "y": b["y"]}
                    for i, b in enumerate(self.batches)]  # fmt: skip
        w_commits, b_commits = binary.commitments(self.plan.circuit, snapshots, requests)
        leaves = [leaf(i, w_commits[i], b_commits[i], w_commits[i + 1]) for i in range(len(self.batches))]
        trail = AuditTrail(snapshots, self.batches, leaves, w_commits[-1], self.skipped)
        return StepLog(MerkleTree(leaves).root, len(self.batches), audit=trail)


def leaf(index: int, w_before: str, batch: str, w_after: str) -> bytes:
    return index.to_bytes(8, "big") + bytes.fromhex(w_before) + bytes.fromhex(batch) + bytes.fromhex(w_after)


def fixed_params(cfg: AuditedTraining) -> dict[str, int]:
    """The circuit's LR, Clip and ExpectedBatch inputs (what the chaincode derives from the study)."""
    return {"lr": cfg.learning_rate_ppm * ONE // 1_000_000, "clip": cfg.clip_ppm * ONE // 1_000_000,
            "expected_batch": cfg.expected_batch}  # fmt: skip
