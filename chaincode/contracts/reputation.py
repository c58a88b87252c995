"""Reputation: a score in [0, 1] (fixed point, ppm) per org, from three signals.

* honesty: audits passed vs failed (a missing proof counts as failed);
* availability: deadlines met vs missed (commitments, committee records);
* quality: how much the global models an org helped train improved, as reported by *the
  other* hospitals and median-aggregated, so one lying reporter cannot move it.

Rule, in plain words: every event count decays by 10% whenever a new event for that org is
recorded, so old behaviour fades (only about the last ten events carry weight, so a long
spotless record saturates near 0.92 honesty rather than 1.0). Honesty and availability are Laplace-smoothed rates,
(good + 1) / (good + bad + 2), so a newcomer starts at 0.5 and a single event does not jump to
0 or 1. Quality is an exponential moving average (weight 0.3 for the newest round) of
0.5 + 5 x median validation gain (a 10-point accuracy gain maps to 1.0, a 10-point loss to
0.0), starting at 0.5. The score is 0.4 honesty + 0.3 availability + 0.3 quality.
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts.micro_units import SCALE, clamp, mul

DECAY_PER_MILLE = 900
ALPHA = 300_000  # EMA weight of the newest quality observation
GAIN_SLOPE = 5
WEIGHTS = {"honesty": 400_000, "availability": 300_000, "quality": 300_000}
MILLI = 1000  # counts are kept in thousandths so decay stays exact enough in integers


def new_record() -> dict[str, Any]:
    record = {"verified_m": 0, "failed_m": 0, "on_time_m": 0, "missed_m": 0, "quality_ppm": SCALE // 2, "events": 0}
    record.update(components(record))
    return record


def _rate(good_m: int, bad_m: int) -> int:
    return (good_m + MILLI) * SCALE // (good_m + bad_m + 2 * MILLI)


def components(record: dict[str, Any]) -> dict[str, int]:
    honesty = _rate(record["verified_m"], record["failed_m"])
    availability = _rate(record["on_time_m"], record["missed_m"])
    quality = record["quality_ppm"]
    score = (
        mul(honesty, WEIGHTS["honesty"]) + mul(availability, WEIGHTS["availability"]) + mul(quality, WEIGHTS["quality"])
    )
    return {"honesty_ppm": honesty, "availability_ppm": availability, "score_ppm": clamp(score)}


def quality_target(gain_ppm: int) -> int:
    """Map a median validation gain (ppm of the metric) to a quality observation in [0, 1]."""
    return clamp(SCALE // 2 + GAIN_SLOPE * gain_ppm)


def apply(
    record: dict[str, Any],
    *,
    verified: int = 0,
    failed: int = 0,
    on_time: int = 0,
    missed: int = 0,
    gain_ppm: int | None = None,
) -> dict[str, Any]:
    """A new record with the counts decayed once and the given events added."""
    out = dict(record)
    for key in ("verified_m", "failed_m", "on_time_m", "missed_m"):
        out[key] = out[key] * DECAY_PER_MILLE // 1000
    out["verified_m"] += verified * MILLI
    out["failed_m"] += failed * MILLI
    out["on_time_m"] += on_time * MILLI
    out["missed_m"] += missed * MILLI
    if gain_ppm is not None:
        q = out["quality_ppm"]
        out["quality_ppm"] = clamp(q + mul(ALPHA, quality_target(gain_ppm) - q))
    out["events"] = out["events"] + 1
    out.update(components(out))
    return out
