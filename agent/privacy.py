"""Privacy accounting over a whole study: every round's DP-SGD composed under Renyi DP.

Each round of local training is a *release*: ``steps`` steps of the Poisson-subsampled
Gaussian mechanism at ``sample_rate`` with ``noise_multiplier``. A hospital's records are
covered by the composition of all the releases it made in a study; the RDP accountant
(Mironov, "Renyi Differential Privacy", CSF 2017; the subsampled Gaussian bound of Mironov,
Talwar and Zhang 2019, as Opacus computes it) composes them exactly at each Renyi order and
converts once to (epsilon, delta). That is much tighter than adding each round's epsilon
(basic composition), which is what lets a study spend its budget on signal rather than noise.

The ledger still checks a sum: each commitment reports the *increment* of the hospital's
cumulative epsilon (:func:`increment`), so what the ledger adds up is the cumulative epsilon
of every round so far, checked against the study's budget, with the study's delta once (not
once per round). :func:`calibrate` picks one noise multiplier for this round and every
round left (as if the hospital were drawn in each), so that the total stays within the budget.

What is assumed: the releases composed are every training this hospital did on these records
for the study (the agent's journal keeps them; when it has lost some, the agent treats what
the ledger already charged as spent on top, :func:`spendable`); the sampling is Poisson at the
stated rate; the noise is Gaussian as stated (torch's generator, see agent/training.py).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent
from opacus.accountants.rdp import RDPAccountant

ORDERS = tuple(RDPAccountant.DEFAULT_ALPHAS)
MAX_NOISE = 1e4


@dataclass(frozen=True)
class Release:
    """One round of DP-SGD: ``steps`` subsampled Gaussian steps."""

    noise_multiplier: float
    sample_rate: float
    steps: int

    def to_json(self) -> dict[str, float | int]:
        return {"noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate, "steps": self.steps}

    @classmethod
    def from_json(cls, raw: dict[str, float | int]) -> Release:
        return cls(float(raw["noise_multiplier"]), float(raw["sample_rate"]), int(raw["steps"]))


def epsilon(releases: Sequence[Release], delta: float) -> float:
    """The (epsilon, ``delta``)-DP guarantee of all ``releases`` together (0 for none)."""
    return _epsilon(_rdp(releases), delta)


def _rdp(releases: Sequence[Release]) -> np.ndarray:
    """The composed RDP curve: one step's curve at each (sample rate, noise) times its steps."""
    total = np.zeros(len(ORDERS))
    for r in releases:
        if r.steps > 0:
            total += r.steps * _step_rdp(r.sample_rate, r.noise_multiplier)
    return total


@functools.lru_cache(maxsize=4096)
def _step_rdp(sample_rate: float, noise_multiplier: float) -> np.ndarray:
    curve = np.asarray(compute_rdp(q=sample_rate, noise_multiplier=noise_multiplier, steps=1, orders=list(ORDERS)))
    curve.setflags(write=False)
    return curve


def _epsilon(rdp: np.ndarray, delta: float) -> float:
    if not rdp.any():
        return 0.0
    with warnings.catch_warnings():  # RDP's order grid edge: the bound is still valid, only looser
        warnings.filterwarnings("ignore", message="Optimal order is the (largest|smallest) alpha")
        eps, _ = get_privacy_spent(orders=list(ORDERS), rdp=rdp, delta=delta)
    return float(eps)


def increment(history: Sequence[Release], release: Release, delta: float) -> float:
    """What ``release`` adds to the cumulative epsilon of ``history`` (never negative)."""
    return max(0.0, epsilon([*history, release], delta) - epsilon(history, delta))


def spendable(budget: float, charged: float, history: Sequence[Release], delta: float) -> float:
    """The cumulative epsilon the journaled ``history`` plus the rounds to come may reach: the
    ``budget``, less whatever the ledger ``charged`` beyond what the history accounts for (a
    lost journal, rounding up to micro-epsilon): that part is treated as spent on top."""
    return budget - max(0.0, charged - epsilon(history, delta))


class BudgetExhausted(ValueError):
    """What is left of a hospital's budget cannot pay for the rounds to come at any noise."""


def calibrate(history: Sequence[Release], sample_rate: float, steps: int, rounds: int, target: float,
              delta: float) -> float:  # fmt: skip
    """The smallest noise multiplier (to 0.1%) such that ``history`` plus ``rounds`` more releases
    of ``steps`` steps at ``sample_rate`` stay within (``target``, ``delta``). BudgetExhausted
    when even the largest noise cannot (the history alone spent the target)."""
    if rounds < 1 or steps < 1 or not 0 < sample_rate <= 1:
        raise ValueError("calibrate needs rounds >= 1, steps >= 1 and a sample rate in (0, 1]")

    past = _rdp(history)

    def total(sigma: float) -> float:
        return _epsilon(past + rounds * steps * _step_rdp(sample_rate, sigma), delta)

    if total(MAX_NOISE) > target:
        raise BudgetExhausted(f"privacy budget exhausted: {target:.3f} epsilon cannot cover {rounds} more round(s) "
                         f"after {epsilon(history, delta):.3f} spent")  # fmt: skip
    low, high = 0.0, 1.0
    while total(high) > target:
        low, high = high, high * 2
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        low, high = (mid, high) if total(mid) > target else (low, mid)
    return high


def round_up_micro(value: float) -> int:
    """Epsilon in micro-units for the ledger, rounded up (the ledger never under-counts)."""
    return math.ceil(value * 1_000_000 - 1e-9)
