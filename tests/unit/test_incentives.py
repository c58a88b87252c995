"""The reward rule, and a simulation showing that under it an honest hospital earns more in
expectation than a free-rider or a cheater (audited study)."""

from __future__ import annotations

import hashlib
import random

import pytest

from chaincode.contracts import incentives, selection
from chaincode.contracts.micro_units import SCALE, ceil_div


def test_split_never_exceeds_budget_and_ignores_self_reports() -> None:
    buckets = {"A": 7, "B": 7, "C": 7, "D": 7, "E": 3}
    gains = {"A": 900_000, "B": 10_000, "C": 12_000, "D": 11_000, "E": 9_000}  # A lies in its own favour
    payouts = incentives.split_rewards(1000, buckets, gains)
    assert sum(payouts.values()) <= 1000
    # medians exclude the participant's own report: A's lie lifts the others a little, never A
    assert payouts["A"] <= min(payouts[m] for m in "BCD")
    assert payouts["E"] < payouts["A"]  # fewer samples, smaller share
    assert incentives.split_rewards(0, {"A": 1}, {}) == {"A": 0}
    assert incentives.split_rewards(100, {}, {"A": 5}) == {}


def test_one_liar_cannot_move_the_median_much() -> None:
    honest = {"A": 20_000, "B": 22_000, "C": 18_000, "D": 21_000}
    with_liar = {**honest, "E": -1_000_000}
    assert abs(incentives.quality_for("X", honest) - incentives.quality_for("X", with_liar)) <= 5 * 2_000


def simulate(strategy: str, fake_fraction: float, rounds: int, rng: random.Random) -> float:
    """Average utility per round of one strategic hospital among two honest ones."""
    local_steps, audit_rate_ppm = 100, 50_000
    budget, cheat_slash, training_cost = 1000, 100, 100
    k = ceil_div(audit_rate_ppm * local_steps, SCALE)
    total = 0.0
    for r in range(rounds):
        seed = hashlib.sha256(f"round-{r}-{rng.random()}".encode()).digest()
        audited = set(selection.audit_indices(seed, "S", local_steps, k))
        if strategy == "honest":
            faked, cost = set(), training_cost
        else:
            n_fake = local_steps if strategy == "free-rider" else round(fake_fraction * local_steps)
            faked = set(rng.sample(range(local_steps), n_fake))
            cost = training_cost * (local_steps - n_fake) / local_steps
        caught = bool(audited & faked)
        eligible = {"H1": 7, "H2": 7} | ({} if caught else {"S": 7})
        payout = incentives.split_rewards(budget, eligible, {"H1": 20_000, "H2": 20_000, "S": 20_000})
        total += payout.get("S", 0) - cost - (cheat_slash if caught else 0)
    return total / rounds


@pytest.mark.parametrize(
    ("strategy", "fraction"), [("free-rider", 1.0), ("cheater", 0.5), ("cheater", 0.2), ("cheater", 0.05)]
)
def test_honesty_pays_more_than_free_riding_or_cheating(strategy: str, fraction: float) -> None:
    rng = random.Random(7)
    honest = simulate("honest", 0.0, 1500, rng)
    other = simulate(strategy, fraction, 1500, rng)
    assert honest > other, (strategy, fraction, honest, other)
