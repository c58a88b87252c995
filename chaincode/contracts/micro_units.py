"""Fixed-point micro units (millionths) for values every endorser must compute identically.

Scores, rates and privacy budgets are integers in millionths ("ppm" / micro units): 0.25 is
250_000. Division rounds toward zero, always the same way on every peer.
"""

from __future__ import annotations

from collections.abc import Sequence

SCALE = 1_000_000


def mul(a: int, b: int) -> int:
    """a * b for two fixed-point values."""
    return a * b // SCALE


def ratio(numerator: int, denominator: int) -> int:
    """numerator / denominator as a fixed-point value (0 when the denominator is 0)."""
    return numerator * SCALE // denominator if denominator else 0


def clamp(value: int, lo: int = 0, hi: int = SCALE) -> int:
    return max(lo, min(hi, value))


def median(values: Sequence[int]) -> int:
    """Integer median; for an even count, the mean of the two middle values rounded down."""
    if not values:
        raise ValueError("median of nothing")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def fmt(value: int) -> str:
    """A fixed-point value as a decimal string, without floats: 2_500_000 -> '2.5'."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), SCALE)
    digits = f"{frac:06d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"
