"""Masked updates whose masks cancel in the sum (Bonawitz et al., CCS 2017), the core of the
secure-committee mode.

Each participant i of a round holds an ephemeral X25519 key for the round. For every other
participant j it derives a pairwise seed s_ij from X25519(i, j) (both derive the same one) and
draws a fresh self-mask seed b_i. It publishes

    y_i = x_i + PRG(b_i) + sum_{j > i} PRG(s_ij) - sum_{j < i} PRG(s_ij)      (mod P)

so y_i alone is uniformly random (b_i is never revealed for a participant that drops out), and
in the sum over all participants the pairwise masks cancel. The committee holds Shamir shares of
every b_i and every ephemeral private key: for an *included* participant, t members reconstruct
b_i and remove PRG(b_i); for a participant that *dropped* after others had masked against it,
they reconstruct its ephemeral key instead and remove the pairwise masks the survivors added for
it. Never both for the same participant (the inclusion set on the ledger decides), so no single
update is ever revealed. Bytes: one field vector per participant (5.33 bytes per coordinate) plus
small shares: close to 1x, where full Shamir shares of the update would cost k times.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.secagg import long_vectors
from agent.secagg.field import add, expand, sub

SELF, PAIR = b"fedledger-self", b"fedledger-pair"


def pairwise_seed(mine: x25519.X25519PrivateKey, theirs: x25519.X25519PublicKey, me: str, them: str,
                  context: str) -> bytes:  # fmt: skip
    """The seed i and j share for this round (symmetric: both sides derive the same bytes)."""
    a, b = sorted((me, them))
    info = b"fedledger-secagg-pair|" + context.encode() + b"|" + a.encode() + b"|" + b.encode()
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(mine.exchange(theirs))


def pair_mask(seed: bytes, n: int) -> np.ndarray:
    return expand(seed, n, PAIR)


def self_mask(seed: bytes, n: int) -> np.ndarray:
    return expand(seed, n, SELF)


def mask(x: np.ndarray, me: str, self_seed: bytes, pair_seeds: dict[str, bytes]) -> np.ndarray:
    """y = x + PRG(b) + masks shared with higher ids - masks shared with lower ids (mod P)."""
    n = len(x)
    if me in pair_seeds:
        raise ValueError("no pairwise mask with oneself")
    if n > long_vectors.SMALL:
        specs = [(self_seed, SELF, False)] + [(seed, PAIR, me > other) for other, seed in sorted(pair_seeds.items())]
        return long_vectors.masked_sum([x], specs, n)
    y = add(x, self_mask(self_seed, n))
    for other, seed in pair_seeds.items():
        m = pair_mask(seed, n)
        y = add(y, m) if me < other else sub(y, m)
    return y


def unmask_sum(
    masked: dict[str, np.ndarray],
    self_seeds: dict[str, bytes],
    dropped_pair_seeds: dict[tuple[str, str], bytes],
) -> np.ndarray:
    """The sum of the included participants' x from their masked vectors.

    ``masked`` and ``self_seeds`` cover the included participants (the same set);
    ``dropped_pair_seeds[(dropped, survivor)]`` are the pairwise seeds of every dropped
    participant with every included one, recomputed from the dropped one's reconstructed key.
    """
    if set(masked) != set(self_seeds):
        raise ValueError("self-mask seeds must be reconstructed for exactly the included participants")
    if not masked:
        raise ValueError("nothing to unmask")
    vectors = list(masked.values())
    n = len(vectors[0])
    if any(len(v) != n for v in vectors):
        raise ValueError("masked vectors differ in length")
    for dropped, survivor in dropped_pair_seeds:
        if survivor not in masked or dropped in masked:
            raise ValueError(f"({dropped}, {survivor}) is not a (dropped, included) pair")
    if n > long_vectors.SMALL:
        specs = [(seed, SELF, True) for seed in self_seeds.values()]
        specs += [(seed, PAIR, survivor < dropped) for (dropped, survivor), seed in dropped_pair_seeds.items()]
        return long_vectors.masked_sum(vectors, specs, n)
    total = vectors[0].copy()
    for v in vectors[1:]:
        total = add(total, v)
    for seed in self_seeds.values():
        total = sub(total, self_mask(seed, n))
    for (dropped, survivor), seed in dropped_pair_seeds.items():
        m = pair_mask(seed, n)
        # the survivor added +m if it sorts before the dropped one, -m otherwise; undo it
        total = sub(total, m) if survivor < dropped else add(total, m)
    return total
