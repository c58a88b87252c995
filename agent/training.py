"""Local training with differential privacy (Opacus DP-SGD) and a commitment to every step.

One trainer (``train_round``) runs every round; a *plan* says how: :class:`DPConfig` for an
unaudited study (``epochs`` passes, steps committed by hashes), ``AuditedTraining``
(agent/zk/audited_training.py) for an audited one (exactly the study's steps on the circuit's
fixed-point grid, recorded so that any step can be proven). The plan supplies the features,
the Poisson sampling rate and expected batch, the noise, when to stop and a recorder that sees
each step before it is taken.

Loss: a binary spec (one output logit) trains with the logistic loss on the float labels; a
spec with C > 2 classes (C logits) with softmax cross entropy on the class indices. Labels
must be the classes ``0 .. classes-1``; anything else is refused before training.

Privacy: the plan calibrates the noise multiplier so that the hospital's training in this
study, with Poisson-sampled batches and per-example gradients clipped as the plan says
(agent/clipping.py: flat, per layer or adaptive; audited plans clip flat), stays
(epsilon, delta)-DP for its records: the plan composes this round with the rounds already
trained and the rounds left under Renyi DP (agent/privacy.py). The result
carries this round's release (noise multiplier, sample rate, steps taken) and the increment
of the cumulative epsilon it causes, which the commitment puts on the ledger.

FedProx (Li et al., "Federated Optimization in Heterogeneous Networks", MLSys 2020): with
``prox_mu`` > 0, each step is followed by ``w <- w - lr * mu * (w - w_round)``, the gradient
step of the proximal term mu/2 ||w - w_round||^2, which keeps a hospital with skewed labels
near the round's model. It depends on no record, so it costs no privacy (post-processing).

Randomness: each round seeds Poisson sampling (torch's global generator) and the
Gaussian noise (a generator of its own) with 63 bits each from ``os.urandom``. They are
torch's Mersenne Twister, not a cryptographically secure generator: Opacus's ``secure_mode``
needs torchcsprng, which cannot be installed here.

Commitments (unaudited): before each optimizer step the recorder keeps a leaf
``step index || sha256(weights before the step) || sha256(salt || batch)`` with a fresh
random salt per step; the Merkle root over all leaves is committed on the ledger, and the
salts and batches stay local.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants.utils import get_noise_multiplier
from opacus.data_loader import DPDataLoader
from torch.utils.data import DataLoader, TensorDataset

from agent import privacy
from agent.clipping import CLIPPING, AdaptiveClipOptimizer, per_layer_bounds
from agent.data.schema import Records
from agent.merkle import MerkleTree
from agent.models import ModelSpec, get_weights, set_weights, weights_bytes
from agent.privacy import Release


class StepRecorder(Protocol):
    """What a plan records of each step, and the commitment it makes of them at the end."""

    def accept(self, batch_size: int) -> bool:
        """Whether a Poisson draw of this size is a step (a skipped draw is not)."""

    def before_step(self, model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """Record the step about to be taken (it may move the weights, e.g. onto a grid)."""

    def finish(self, weights_out: np.ndarray) -> StepLog:
        """The commitment to every recorded step, once training is over."""


class StepPlan(Protocol):
    """How one round of local DP-SGD runs: what the trainer asks of an unaudited study
    (:class:`DPConfig`) and of an audited one (agent/zk/audited_training.py)."""

    delta: float
    clip: float
    learning_rate: float
    clipping: str  # agent/clipping.py CLIPPING
    prox_mu: float  # FedProx's mu (0: plain local SGD)
    history: tuple[Release, ...]  # this hospital's earlier releases in the study (composed with this one)

    def check(self, spec: ModelSpec, records: Records) -> None:
        """ValueError when this plan cannot train ``spec`` on ``records``."""

    def features(self, x: np.ndarray) -> np.ndarray:
        """The features as trained on."""

    def loader_batch(self, n: int) -> int:
        """The batch size that splits ``n`` records into one pass's steps (len(loader))."""

    def sampling(self, n: int, loader_len: int) -> tuple[float, int]:
        """Each step's Poisson sampling rate (every record joins a step's batch with this
        probability, independently) and the expected batch the summed clipped gradients and
        noise are divided by."""

    def noise_multiplier(self, n: int, loader_len: int) -> float:
        """Gaussian noise calibrated to this round's (epsilon, delta)."""

    def finished(self, passes: int, steps: int) -> bool:
        """Whether training stops after ``passes`` over the loader and ``steps`` steps."""

    def recorder(self) -> StepRecorder:
        """A fresh recorder for one round."""


@dataclass(frozen=True)
class StepLog:
    """The recorded steps' commitment: a Merkle root over one leaf per step, and, for an
    audited study, what is kept to prove any step later (``audit``)."""

    step_root: bytes
    step_count: int
    hashed: list[StepRecord] = field(default_factory=list)  # unaudited: the leaves' parts
    audit: Any = None  # audited: agent/zk/audited_training.AuditTrail


@dataclass(frozen=True)
class DPConfig:
    """The plan of an unaudited round: ``epochs`` passes of Poisson-sampled batches of expected
    size ``batch_size``, each step committed by hashes. The noise is calibrated so that the
    ``history`` of earlier releases, this round and ``rounds - 1`` more like it stay within
    (``epsilon``, ``delta``) together (``rounds=1``, no history: this round alone)."""

    epsilon: float  # what the history, this round and the rounds after it may spend together
    delta: float
    max_grad_norm: float = 1.0
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 0.5
    clipping: str = "flat"
    prox_mu: float = 0.0
    rounds: int = 1  # this round and the ones still to come, the noise spread over all of them
    history: tuple[Release, ...] = ()

    def __post_init__(self) -> None:
        if not (0 < self.epsilon <= 100 and 0 < self.delta < 1):
            raise ValueError("epsilon must be in (0, 100] and delta in (0, 1)")
        if self.max_grad_norm <= 0 or self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("max_grad_norm, epochs, batch_size and learning_rate must be positive")
        if self.clipping not in CLIPPING:
            raise ValueError(f"clipping must be one of {', '.join(CLIPPING)}, not {self.clipping!r}")
        if not 0 <= self.prox_mu <= 100 or self.rounds < 1:
            raise ValueError("prox_mu must be in [0, 100] and rounds at least 1")

    @property
    def clip(self) -> float:
        return self.max_grad_norm

    def check(self, spec: ModelSpec, records: Records) -> None:
        check_labels(spec, records)

    def features(self, x: np.ndarray) -> np.ndarray:
        return x

    def loader_batch(self, n: int) -> int:
        return min(self.batch_size, n)

    def sampling(self, n: int, loader_len: int) -> tuple[float, int]:
        # Opacus's own: one pass is len(loader) steps, each record drawn at rate 1 / len(loader)
        return 1 / loader_len, int(n / loader_len)

    def noise_multiplier(self, n: int, loader_len: int) -> float:
        # Opacus's data loader samples at rate 1 / len(loader); every pass takes len(loader) steps
        if not self.history and self.rounds == 1:  # this round alone: Opacus's own calibration
            return calibrated_noise(self.epsilon, self.delta, sample_rate=1 / loader_len, epochs=self.epochs)
        return privacy.calibrate(self.history, 1 / loader_len, self.epochs * loader_len, self.rounds, self.epsilon,
                                 self.delta)  # fmt: skip

    def finished(self, passes: int, steps: int) -> bool:
        return passes >= self.epochs

    def recorder(self) -> StepRecorder:
        return HashedSteps()


@dataclass(frozen=True)
class StepRecord:
    index: int
    weights_hash: bytes
    batch_commitment: bytes
    salt: bytes = field(repr=False)
    batch_size: int = 0

    def leaf(self) -> bytes:
        return self.index.to_bytes(8, "big") + self.weights_hash + self.batch_commitment


class HashedSteps:
    """Unaudited commitments: leaf i = i || sha256(weights before) || sha256(salt || batch)."""

    def __init__(self) -> None:
        self.steps: list[StepRecord] = []

    def accept(self, batch_size: int) -> bool:
        return batch_size > 0  # Poisson sampling can draw an empty batch: nothing to step on

    def before_step(self, model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> None:
        salt = os.urandom(16)
        self.steps.append(StepRecord(len(self.steps), hashlib.sha256(weights_bytes(get_weights(model))).digest(),
                                     batch_commitment(salt, xb, yb), salt, len(yb)))  # fmt: skip

    def finish(self, weights_out: np.ndarray) -> StepLog:
        root = MerkleTree([s.leaf() for s in self.steps]).root
        return StepLog(root, len(self.steps), hashed=self.steps)


@dataclass(frozen=True)
class RoundResult:
    weights: np.ndarray
    update: np.ndarray  # weights - weights_in
    log: StepLog
    epsilon_spent: float  # what this round adds to the cumulative epsilon of the plan's history
    noise_multiplier: float
    sample_count: int
    release: Release | None = None  # this round's steps as the accountant composes them
    clip_final: float | None = None  # adaptive clipping: the bound after the last step

    @property
    def update_hash(self) -> str:
        return hashlib.sha256(weights_bytes(self.update)).hexdigest()

    @property
    def step_root(self) -> bytes:
        return self.log.step_root

    @property
    def step_count(self) -> int:
        return self.log.step_count

    @property
    def steps(self) -> list[StepRecord]:
        return self.log.hashed

    @property
    def audit(self) -> Any:
        return self.log.audit


def batch_commitment(salt: bytes, xb: torch.Tensor, yb: torch.Tensor) -> bytes:
    h = hashlib.sha256(salt)
    h.update(np.ascontiguousarray(xb.numpy(), dtype="<f4").tobytes())
    h.update(np.ascontiguousarray(yb.numpy(), dtype="<f4").tobytes())
    return h.digest()


def train_round(spec: ModelSpec, weights_in: np.ndarray, records: Records, plan: StepPlan, seed: int | None = None
                ) -> RoundResult:  # fmt: skip
    """Run one round of DP-SGD from ``weights_in`` on ``records`` as ``plan`` says (the one
    trainer of unaudited and audited studies)."""
    if len(records) == 0:
        raise ValueError("no records to train on (no patient with valid consent?)")
    if records.x.shape[1] != spec.input_dim:
        raise ValueError(f"records have {records.x.shape[1]} features; the model expects {spec.input_dim}")
    plan.check(spec, records)
    # Fresh, unpredictable randomness for every round: Poisson sampling draws from torch's global
    # generator and the Gaussian noise from its own; both are seeded from the OS (a fixed seed
    # only in tests, through ``seed``). Never leave them at a known state: noise an adversary
    # can regenerate protects nothing.
    sampling_seed, noise_seed = (seed, seed + 1) if seed is not None else _os_seeds()
    torch.manual_seed(sampling_seed)
    noise = torch.Generator().manual_seed(noise_seed)
    model = spec.build()
    set_weights(model, weights_in)
    optimizer = torch.optim.SGD(model.parameters(), lr=plan.learning_rate)
    # torch.tensor copies: the records' arrays may be read-only (pandas) and must stay untouched
    loader = DataLoader(TensorDataset(torch.tensor(plan.features(records.x)), torch.tensor(records.y)),
                        batch_size=plan.loader_batch(len(records)))  # fmt: skip
    rate, expected_batch = plan.sampling(len(records), len(loader))
    sigma = plan.noise_multiplier(len(records), len(loader))
    engine, model, optimizer, loader = _private(model, optimizer, loader, sigma, plan, noise, rate, expected_batch)
    start = [p.detach().clone() for p in model.parameters()] if plan.prox_mu > 0 else []
    recorder = plan.recorder()
    loss_fn = _loss(spec)
    passes = steps = 0
    while not plan.finished(passes, steps):
        for xb, yb in loader:
            if not recorder.accept(len(yb)):
                continue
            recorder.before_step(model, xb, yb)
            optimizer.zero_grad()
            with warnings.catch_warnings():  # Opacus's hooks on a model whose inputs need no grad
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss_fn(model(xb), yb).backward()  # yb stays float32: the commitment above is over it
            optimizer.step()
            _proximal(model, start, plan.learning_rate * plan.prox_mu)
            steps += 1
            if plan.finished(passes, steps):
                break
        passes += 1
    weights_out = get_weights(model)
    release = _release(engine, sigma, rate)
    return RoundResult(
        weights=weights_out,
        update=weights_out - weights_in,
        log=recorder.finish(weights_out),
        epsilon_spent=privacy.increment(plan.history, release, plan.delta),
        noise_multiplier=float(sigma),
        sample_count=len(records),
        release=release,
        clip_final=float(optimizer.max_grad_norm) if plan.clipping == "adaptive" else None,
    )


def _private(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader, sigma: float,
             plan: StepPlan, noise: torch.Generator, rate: float, expected_batch: int
             ) -> tuple[PrivacyEngine, Any, Any, Any]:  # fmt: skip
    """Opacus's private model and optimizer, clipped as ``plan.clipping`` says
    (agent/clipping.py), over a Poisson loader drawing each record at ``rate`` and dividing by
    ``expected_batch``; the engine's RDP accountant records every step at ``rate``.

    The loader is built here rather than by ``make_private`` (which samples at 1 / len(loader)
    and divides by the floor of the expected batch) so that an audited plan samples at exactly
    the study's expected batch / n: its steps are then the circuit's steps and its accounting
    the rate it actually sampled at."""
    per_layer = plan.clipping == "per_layer"
    clip: Any = per_layer_bounds([p.shape for p in model.parameters()], plan.clip) if per_layer else plan.clip
    poisson = DPDataLoader(loader.dataset, sample_rate=rate)  # draws from torch's global generator, seeded per round
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")  # stated in the module docstring
        engine = PrivacyEngine(accountant="rdp")
        model, optimizer, poisson = engine.make_private(module=model, optimizer=optimizer, data_loader=poisson,
                                                        noise_multiplier=sigma, max_grad_norm=clip,
                                                        clipping="per_layer" if per_layer else "flat",
                                                        noise_generator=noise, poisson_sampling=False)  # fmt: skip
    model.forbid_grad_accumulation()  # what make_private does for the Poisson loader it builds itself
    optimizer.expected_batch_size = expected_batch
    if plan.clipping == "adaptive":  # the same model and loader, the step of agent/clipping.py
        optimizer = AdaptiveClipOptimizer(optimizer.original_optimizer, noise_multiplier=sigma,
                                          max_grad_norm=plan.clip, expected_batch_size=expected_batch,
                                          generator=noise)  # fmt: skip
    optimizer.attach_step_hook(engine.accountant.get_optimizer_hook_fn(sample_rate=rate))
    return engine, model, optimizer, poisson


def _proximal(model: torch.nn.Module, start: list[torch.Tensor], rate: float) -> None:
    """FedProx's proximal step ``w <- w - rate * (w - w_round)`` (no data: no privacy cost)."""
    if not start:
        return
    with torch.no_grad():
        for p, w0 in zip(model.parameters(), start, strict=True):
            p.sub_(rate * (p - w0))


def _release(engine: PrivacyEngine, sigma: float, rate: float) -> Release:
    """This round's release as the engine's accountant recorded it (every step at one noise
    multiplier and one sample rate)."""
    history = engine.accountant.history  # [(noise_multiplier, sample_rate, steps)]
    steps = sum(h[2] for h in history)
    return Release(float(sigma), rate, int(steps))


def check_labels(spec: ModelSpec, records: Records) -> None:
    """ValueError unless every label is one of the spec's classes ``0 .. classes-1``."""
    bad = ~np.isin(records.y, np.arange(spec.classes, dtype=np.float32))
    if bad.any():
        shown = ", ".join(f"{v:g}" for v in np.unique(records.y[bad])[:5])
        raise ValueError(f"{int(bad.sum())} label(s) outside the classes 0..{spec.classes - 1} of model {spec.name} "
                         f"(e.g. {shown}); labels must be class indices")  # fmt: skip


def _loss(spec: ModelSpec) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The training loss on (logits, float32 labels): the logistic loss on the single logit of a
    binary spec, softmax cross entropy on the class indices otherwise."""
    if spec.binary:
        bce = torch.nn.BCEWithLogitsLoss()
        return lambda logits, y: bce(logits.squeeze(-1), y)
    ce = torch.nn.CrossEntropyLoss()
    return lambda logits, y: ce(logits, y.long())


def _os_seeds() -> tuple[int, int]:
    raw = os.urandom(16)
    return int.from_bytes(raw[:8], "little") >> 1, int.from_bytes(raw[8:], "little") >> 1


def calibrated_noise(epsilon: float, delta: float, sample_rate: float, **horizon: int) -> float:
    """Opacus's noise multiplier for (epsilon, delta) over ``epochs=`` or ``steps=`` steps at
    ``sample_rate`` under the RDP accountant."""
    with warnings.catch_warnings():  # RDP's order grid edge: the bound is still valid, only looser
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                          accountant="rdp", **horizon))  # fmt: skip


def evaluate(spec: ModelSpec, weights: np.ndarray, records: Records) -> dict[str, float]:
    """Accuracy, F1 and AUROC of ``weights`` on ``records`` (see :func:`classification_metrics`)."""
    check_labels(spec, records)
    model = spec.build()
    set_weights(model, weights)
    with torch.no_grad():
        logits = model(torch.from_numpy(records.x))
        scores = torch.sigmoid(logits.squeeze(-1)) if spec.binary else torch.softmax(logits.double(), dim=-1)
    return classification_metrics(spec.classes, records.y, scores.numpy())


def classification_metrics(classes: int, y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """``accuracy``, ``f1``, ``auroc`` and ``log_loss`` of ``scores`` against the labels ``y``.
    Binary (``classes == 2``): ``scores`` [n] is the probability of class 1, thresholded at 0.5.
    Otherwise ``scores`` [n, classes] holds class probabilities: the prediction is the argmax,
    F1 the macro average over classes and AUROC the one-vs-rest macro average. AUROC is NaN
    unless every class occurs in ``y``. The log loss (mean cross-entropy, lower is better) still
    separates models when a small evaluation set leaves accuracy and AUROC saturated."""
    from sklearn.metrics import f1_score, log_loss, roc_auc_score

    every_class = len(np.unique(y)) == classes
    if classes == 2:
        predicted = (scores >= 0.5).astype(np.float32)
        return {
            "accuracy": float((predicted == y).mean()),
            "f1": float(f1_score(y, predicted, zero_division=0)),
            "auroc": float(roc_auc_score(y, scores)) if every_class else float("nan"),
            "log_loss": float(log_loss(y, scores, labels=[0, 1])),
        }
    predicted = scores.argmax(axis=1).astype(np.float32)
    auroc = (roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=range(classes))
             if every_class else float("nan"))  # fmt: skip
    return {
        "accuracy": float((predicted == y).mean()),
        "f1": float(f1_score(y, predicted, average="macro", zero_division=0)),
        "auroc": float(auroc),
        "log_loss": float(log_loss(y, scores, labels=list(range(classes)))),
    }
