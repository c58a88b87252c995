"""How updates become the next global model: FedAvg and a server step behind one interface.

FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017): the new global weights are the current ones plus the
sample-weighted mean of the participants' updates. ``TrustedAggregatorFedAvg`` is the
*trusted-aggregator mode*: one designated org decrypts and sees every update, and is labelled
as such wherever it is used; the secure-committee issue adds a mode in which no single party
sees an update, behind the same ``Aggregator`` interface. Every update is checked before it is
counted: right shape, finite values, positive sample count; a bad one is refused with a
reason and never averaged in.

The server step (:class:`ServerStep`, a study parameter on the ledger) turns the mean update
into the next model. ``fedavg``: w + eta * mean (eta = 1 is FedAvg). ``fedavgm`` (Hsu et al.,
"Measuring the Effects of Non-Identical Data Distribution", 2019): heavy-ball momentum,
w + eta * mean + beta * (w - w_prev), where w_prev is the model the current one was made
from. Written this way the momentum is not hidden state: it follows from two models the
ledger records (the round's ``model_in`` and ``model_prev``), so any committee member, and any
auditor, recomputes the same step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

SERVER_OPTIMIZERS = ("fedavg", "fedavgm")


@dataclass(frozen=True)
class ServerStep:
    """How the sample-weighted mean update moves the global model."""

    optimizer: str = "fedavg"
    learning_rate: float = 1.0
    momentum: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in SERVER_OPTIMIZERS:
            raise ValueError(f"server optimizer must be one of {', '.join(SERVER_OPTIMIZERS)}")
        if not (0 < self.learning_rate <= 10 and 0 <= self.momentum < 1):
            raise ValueError("server learning rate must be in (0, 10] and momentum in [0, 1)")
        if self.optimizer == "fedavg" and self.momentum:
            raise ValueError("fedavg has no momentum; use fedavgm")

    @classmethod
    def from_round(cls, rnd: dict[str, object]) -> ServerStep:
        """The step a round record fixes (``server``; absent: plain FedAvg)."""
        rule = rnd.get("server") or {}
        assert isinstance(rule, dict)
        return cls(str(rule.get("optimizer", "fedavg")), int(rule.get("lr_ppm", 1_000_000)) / 1e6,
                   int(rule.get("momentum_ppm", 0)) / 1e6)  # fmt: skip

    @property
    def needs_previous(self) -> bool:
        return self.momentum > 0

    def apply(self, global_weights: np.ndarray, mean_update: np.ndarray, previous: np.ndarray | None = None
              ) -> np.ndarray:  # fmt: skip
        """The next global weights (float32) from the current ones, the mean update and, for
        momentum, the model the current one was made from (None in the first round: no momentum)."""
        w = np.asarray(global_weights, dtype=np.float64)
        out = w + self.learning_rate * np.asarray(mean_update, dtype=np.float64)
        if self.momentum and previous is not None:
            out += self.momentum * (w - np.asarray(previous, dtype=np.float64))
        return out.astype(np.float32)


FEDAVG = ServerStep()


class UpdateRejected(ValueError):
    """An update that must not be aggregated (wrong shape, NaN/inf, no samples)."""


@dataclass(frozen=True)
class Update:
    org: str
    delta: np.ndarray
    sample_count: int


def check_update(update: Update, dim: int, max_norm: float | None = None) -> None:
    if update.delta.shape != (dim,):
        raise UpdateRejected(f"{update.org}: update has shape {update.delta.shape}, expected ({dim},)")
    if not np.isfinite(update.delta).all():
        raise UpdateRejected(f"{update.org}: update contains NaN or infinity")
    if update.sample_count <= 0:
        raise UpdateRejected(f"{update.org}: sample count must be positive")
    if max_norm is not None and float(np.linalg.norm(update.delta)) > max_norm:
        raise UpdateRejected(f"{update.org}: update norm {np.linalg.norm(update.delta):.3g} exceeds {max_norm}")


class Aggregator(ABC):
    """Turns the included updates of a round into the next global weights."""

    mode: str

    @abstractmethod
    def aggregate(self, global_weights: np.ndarray, updates: list[Update], previous: np.ndarray | None = None
                  ) -> np.ndarray: ...  # fmt: skip


class TrustedAggregatorFedAvg(Aggregator):
    """Sample-weighted FedAvg by one designated aggregator that sees every update."""

    mode = "trusted-aggregator"

    def __init__(self, max_update_norm: float | None = None, server: ServerStep = FEDAVG) -> None:
        self.max_update_norm = max_update_norm
        self.server = server

    def aggregate(self, global_weights: np.ndarray, updates: list[Update], previous: np.ndarray | None = None
                  ) -> np.ndarray:  # fmt: skip
        if not updates:
            raise UpdateRejected("no updates to aggregate")
        for u in updates:
            check_update(u, global_weights.shape[0], self.max_update_norm)
        total = sum(u.sample_count for u in updates)
        mean = sum(u.delta.astype(np.float64) * (u.sample_count / total) for u in updates)
        return self.server.apply(global_weights, np.asarray(mean), previous)
