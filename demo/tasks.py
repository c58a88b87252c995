"""The demo's two studies: what data, which model, how each hospital trains.

* **breast-cancer**: scikit-learn's breast-cancer records (30 features, a binary label) split
  non-IID across three hospitals (agent/data/demo_split.py); logistic regression or the
  30-16-1 perceptron, whose steps a zk circuit proves, so the study is audited and its inputs
  bound by default. Each hospital trains by the audited rule: 20 steps per round of expected
  batch 16 (demo/zk_setup.py ``training_rule``), 3 rounds.
* **digits**: scikit-learn's 8x8 handwritten digits (10 classes) split by label skew
  (agent/data/digits_split.py); the CNN of agent/models.py. No circuit proves convolution
  steps, so this study is not audited and its masked inputs are not bound; it runs with the
  secure committee, consent and DP like the other. Heterogeneity: FedAvgM on the ledger.

Each task's training settings were chosen on the hospitals' own records, never on the global
test set: for digits on their validation files, for breast cancer (fewer records) by
cross-validation over their training and validation files (docs/learning.md gives the runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.aggregation import FEDAVG, ServerStep
from agent.daemon.config import TrainingConfig
from agent.data import demo_split, digits_split
from agent.models import LOGREG_30, MLP_30_16_1, ModelSpec

DIGITS_CNN = ModelSpec.parse("cnn-8x8-f8x16-c10")


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    spec: ModelSpec
    data: Callable[[Path], demo_split.DemoData]  # the split, written once into the folder given
    folder: str  # under the network's state directory
    rounds: int
    training: TrainingConfig = field(default_factory=TrainingConfig)
    server: ServerStep = FEDAVG
    prox_mu: float = 0.0
    circuit: str | None = None  # the step circuit of the model (None: no audits, no binding)
    local_steps: int = 20  # an audited study's steps per round (expected batch: zk_setup.training_rule)


def breast_cancer(model: str = "logreg") -> Task:
    spec, circuit = {"logreg": (LOGREG_30, "logreg-d30-b32"), "mlp": (MLP_30_16_1, "mlp-d30-h16-b32")}[model]
    return Task("breast-cancer", "Breast cancer malignancy, DP-SGD", spec, demo_split.build, "demo-data",
                rounds=3, circuit=circuit, local_steps=20)  # fmt: skip


def digits() -> Task:
    return Task(
        "digits",
        "Handwritten digits (8x8 images, 10 classes), CNN with DP-SGD",
        DIGITS_CNN,
        digits_split.build,
        "digits-data",
        rounds=5,
        training=TrainingConfig(epochs=5, learning_rate=1.0, max_grad_norm=0.5, batch_size=128),
        server=ServerStep("fedavgm", 1.0, 0.5),
    )


TASKS = ("breast-cancer", "digits")


def task(name: str, model: str = "logreg") -> Task:
    """The task of that name (``model``: logreg or mlp, for breast-cancer)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; the demo runs {', '.join(TASKS)}")
    return digits() if name == "digits" else breast_cancer(model)
