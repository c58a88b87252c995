"""Deterministic, stake- and reputation-weighted selection of participants, committees and
audited steps.

Every endorser must pick the same hospitals from the same ledger state, so randomness comes
only from a seed on the ledger: the previous round's final hash (the study's genesis hash for
round 0) for selection, the hash of all commitments for audits. A SHA-256 counter stream turns
the seed into 256-bit integers; a draw modulo a total weight of at most ~2^80 has a bias below
2^-170.

Selection is sampling without replacement, each draw proportional to weight: a lottery in
which stake and reputation buy tickets. It is the rule proof-of-stake committees use because it
is simple to verify and hard to game: doubling weight at most doubles the chance per draw; the
stake factor is capped (at ``STAKE_CAP`` times the minimum stake) so a rich org cannot buy
the committee, and reputation has a floor so a newcomer can still be chosen and earn some.
Weights (all integers)::

    participant: w = max(reputation_ppm, 10_000) * stake_factor * (1 + quality_bucket)
    committee:   w = max(reputation_ppm, 10_000) * stake_factor
    stake_factor = min(free_stake, STAKE_CAP * min_stake) * 1000 // min_stake

``quality_bucket`` is the data-quality proxy: the log2 bucket of the consented sample count
the hospital committed in its last round of this study (0 before its first round, capped at 20).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

REPUTATION_FLOOR = 10_000  # 0.01
STAKE_CAP = 10
MAX_BUCKET = 20


def stream(seed: bytes, domain: str) -> Iterator[int]:
    """An endless stream of 256-bit integers derived from ``seed`` and ``domain``."""
    counter = 0
    prefix = seed + b"|" + domain.encode() + b"|"
    while True:
        yield int.from_bytes(hashlib.sha256(prefix + counter.to_bytes(8, "big")).digest(), "big")
        counter += 1


def stake_factor(free_stake: int, min_stake: int) -> int:
    return min(free_stake, STAKE_CAP * min_stake) * 1000 // min_stake


def participant_weight(reputation_ppm: int, free_stake: int, min_stake: int, quality_bucket: int) -> int:
    rep = max(reputation_ppm, REPUTATION_FLOOR)
    return rep * stake_factor(free_stake, min_stake) * (1 + min(max(quality_bucket, 0), MAX_BUCKET))


def committee_weight(reputation_ppm: int, free_stake: int, min_stake: int) -> int:
    return max(reputation_ppm, REPUTATION_FLOOR) * stake_factor(free_stake, min_stake)


def weighted_sample(weights: dict[str, int], k: int, seed: bytes, domain: str) -> list[str]:
    """``k`` distinct ids (fewer if there are fewer), each draw proportional to weight."""
    pool = sorted((cid, w) for cid, w in weights.items() if w > 0)
    chosen: list[str] = []
    draws = stream(seed, domain)
    while pool and len(chosen) < k:
        total = sum(w for _, w in pool)
        point = next(draws) % total
        acc = 0
        for i, (cid, w) in enumerate(pool):
            acc += w
            if point < acc:
                chosen.append(cid)
                pool.pop(i)
                break
    return chosen


def audit_indices(challenge_seed: bytes, msp_id: str, local_steps: int, count: int) -> list[int]:
    """``count`` distinct step indices in [0, local_steps) that ``msp_id`` must prove, sorted."""
    count = min(count, local_steps)
    picked: set[int] = set()
    for value in stream(challenge_seed, f"audit|{msp_id}"):
        if len(picked) == count:
            break
        picked.add(value % local_steps)
    return sorted(picked)


def challenge_seed(commitment_hashes: Sequence[tuple[str, str]]) -> bytes:
    """Hash of every (msp_id, commitment hash) pair, in MSP ID order: known only after the
    commit window closed, so no participant can know its audited steps while training."""
    material = "|".join(f"{m}:{h}" for m, h in sorted(commitment_hashes))
    return hashlib.sha256(material.encode()).digest()
