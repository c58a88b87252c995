"""How updates become the next global model: FedAvg behind one interface.

FedAvg (McMahan et al., "Communication-Efficient Learning of Deep Networks from
Decentralized Data", AISTATS 2017): the new global weights are the current ones plus the
sample-weighted mean of the participants' updates. ``TrustedAggregatorFedAvg`` is the
*trusted-aggregator mode*: one designated org decrypts and sees every update, and is labelled
as such wherever it is used; the secure-committee issue adds a mode in which no single party
sees an update, behind the same ``Aggregator`` interface. Every update is checked before it is
counted: right shape, finite values, positive sample count; a bad one is refused with a
reason and never averaged in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


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
    def aggregate(self, global_weights: np.ndarray, updates: list[Update]) -> np.ndarray: ...


class TrustedAggregatorFedAvg(Aggregator):
    """Sample-weighted FedAvg by one designated aggregator that sees every update."""

    mode = "trusted-aggregator"

    def __init__(self, max_update_norm: float | None = None) -> None:
        self.max_update_norm = max_update_norm

    def aggregate(self, global_weights: np.ndarray, updates: list[Update]) -> np.ndarray:
        if not updates:
            raise UpdateRejected("no updates to aggregate")
        for u in updates:
            check_update(u, global_weights.shape[0], self.max_update_norm)
        total = sum(u.sample_count for u in updates)
        mean = sum(u.delta.astype(np.float64) * (u.sample_count / total) for u in updates)
        return (global_weights.astype(np.float64) + mean).astype(np.float32)
