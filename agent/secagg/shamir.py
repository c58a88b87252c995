"""Shamir secret sharing of 32-byte secrets, t-of-k, over the prime field 2**521 - 1.

Any t shares determine the secret (Lagrange interpolation at 0); any t - 1 shares are
uniformly distributed whatever the secret is, so they carry no information about it
(information-theoretic). Coefficients come from ``secrets`` (the OS CSPRNG).
"""

from __future__ import annotations

import hashlib
import secrets as _os_random
from dataclasses import dataclass

Q = (1 << 521) - 1  # a Mersenne prime, larger than any 32-byte secret


@dataclass(frozen=True)
class Share:
    x: int  # the holder's evaluation point, 1..k
    y: int

    def to_bytes(self) -> bytes:
        return self.x.to_bytes(2, "big") + self.y.to_bytes(66, "big")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Share:
        if len(raw) != 68:
            raise ValueError("a share is 68 bytes")
        return cls(int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big"))


def split(secret: bytes, t: int, k: int) -> list[Share]:
    """``k`` shares of ``secret``, any ``t`` of which reconstruct it."""
    if not 1 <= t <= k <= 255:
        raise ValueError("need 1 <= t <= k <= 255")
    if len(secret) > 64:
        raise ValueError("secrets are at most 64 bytes")
    coefficients = [int.from_bytes(secret, "big")] + [_os_random.randbelow(Q) for _ in range(t - 1)]
    shares = []
    for x in range(1, k + 1):
        y = 0
        for c in reversed(coefficients):  # Horner
            y = (y * x + c) % Q
        shares.append(Share(x, y))
    return shares


def reconstruct(shares: list[Share], length: int = 32) -> bytes:
    """The secret from at least t distinct shares (fewer give a wrong value, not an error:
    callers check the result against a commitment)."""
    xs = [s.x for s in shares]
    if len(set(xs)) != len(xs) or not shares:
        raise ValueError("shares must have distinct evaluation points")
    secret = 0
    for i, si in enumerate(shares):
        num, den = 1, 1
        for j, sj in enumerate(shares):
            if i != j:
                num = num * (-sj.x) % Q
                den = den * (si.x - sj.x) % Q
        secret = (secret + si.y * num * pow(den, -1, Q)) % Q
    if secret >= 1 << (8 * length):
        raise ValueError("the shares do not reconstruct a secret of this length (too few or tampered shares)")
    return secret.to_bytes(length, "big")


def commitment(secret: bytes) -> str:
    """What the dealer publishes with its shares: SHA-256 of the secret."""
    return hashlib.sha256(b"fedledger-secagg-seed|" + secret).hexdigest()


def reconstruct_checked(shares: list[Share], expected: str, length: int = 32) -> bytes:
    """Reconstruct and check against the dealer's commitment: a tampered, foreign or missing
    share gives another value, and is caught here."""
    try:
        secret = reconstruct(shares, length)
    except ValueError:
        raise ValueError("the shares do not reconstruct the committed secret") from None
    if commitment(secret) != expected:
        raise ValueError("the shares do not reconstruct the committed secret (a share was tampered with or is missing)")
    return secret
