"""The reward rule: how a round's reward is split (the study is the Stackelberg leader).

Before a round opens, its budget is fixed on the ledger: ``min(reward_per_round, pool)``.
Followers (hospitals) see the rule and the budget and decide to enroll. After the round is
finalized and the hospitals have reported how the new model does on their own held-out data,
the budget is split among *eligible* participants (included in the aggregate, every audit
verified; for an unaudited study, committed on time and included) in proportion to::

    contribution_i = (1 + sample_bucket_i) * quality_i
    quality_i      = clamp(0.5 + 5 * median gain reported by the hospitals other than i)

Failed, missing or dropped work earns nothing, and failed audits and missed commitments are
also slashed (studies.py sets the amounts), with slashed stake flowing into the pool that pays
the honest. Integer division leaves at most a few tokens in the pool per round.
"""

from __future__ import annotations

from collections.abc import Mapping

from chaincode.contracts.micro_units import median
from chaincode.contracts.reputation import quality_target
from chaincode.contracts.selection import MAX_BUCKET

RULE_NAME = "proportional-to-verified-quality/v1"


def quality_for(msp_id: str, gains_by_reporter: Mapping[str, int]) -> int:
    """Quality of ``msp_id``'s contribution: median gain reported by the other hospitals."""
    others = [g for reporter, g in gains_by_reporter.items() if reporter != msp_id]
    return quality_target(median(others)) if others else quality_target(0)


def split_rewards(
    budget: int,
    eligible_buckets: Mapping[str, int],
    gains_by_reporter: Mapping[str, int],
) -> dict[str, int]:
    """Payout per eligible participant; the sum never exceeds ``budget``."""
    contributions = {
        msp: (1 + min(max(bucket, 0), MAX_BUCKET)) * quality_for(msp, gains_by_reporter)
        for msp, bucket in eligible_buckets.items()
    }
    total = sum(contributions.values())
    if budget <= 0 or total <= 0:
        return {msp: 0 for msp in eligible_buckets}
    return {msp: budget * c // total for msp, c in sorted(contributions.items())}
