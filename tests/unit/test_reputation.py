"""The reputation rule, number by number."""

from __future__ import annotations

from chaincode.contracts import reputation


def test_newcomer_starts_at_one_half() -> None:
    r = reputation.new_record()
    assert (r["honesty_ppm"], r["availability_ppm"], r["quality_ppm"], r["score_ppm"]) == (
        500_000,
        500_000,
        500_000,
        500_000,
    )


def test_smoothed_rates_and_weights() -> None:
    r = reputation.apply(reputation.new_record(), verified=1, on_time=1)
    assert r["honesty_ppm"] == 2 * 1_000_000 // 3  # (1 + 1) / (1 + 0 + 2)
    assert r["availability_ppm"] == 666_666
    # each weighted component is floored on its own, as fixed point does on every peer
    assert r["score_ppm"] == 666_666 * 400_000 // 10**6 + 666_666 * 300_000 // 10**6 + 500_000 * 300_000 // 10**6
    bad = reputation.apply(reputation.new_record(), failed=1, missed=1)
    assert bad["honesty_ppm"] == 333_333 and bad["score_ppm"] < 500_000


def test_old_events_decay() -> None:
    r = reputation.apply(reputation.new_record(), failed=1)
    for _ in range(30):
        r = reputation.apply(r, verified=1)
    assert r["failed_m"] < 50  # 1000 * 0.9**30 ~ 42
    # decay also caps the weight of a long good record at ~10 recent events: (10 + 1) / (10 + 2)
    assert 900_000 < r["honesty_ppm"] < 917_000


def test_quality_is_a_moving_average_of_clamped_gains() -> None:
    assert reputation.quality_target(100_000) == 1_000_000  # +10 points maps to 1.0 (clamped)
    assert reputation.quality_target(-100_000) == 0
    assert reputation.quality_target(0) == 500_000
    r = reputation.apply(reputation.new_record(), gain_ppm=100_000)
    assert r["quality_ppm"] == 500_000 + 300_000 * 500_000 // 1_000_000  # EMA weight 0.3
    for _ in range(40):
        r = reputation.apply(r, gain_ppm=-100_000)
    assert r["quality_ppm"] < 10_000
