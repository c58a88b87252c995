"""Updates as vectors over a prime field, and masks expanded from short seeds.

Field: integers modulo P = 2**61 - 1 (a Mersenne prime), held in numpy uint64; sums of two
elements stay below 2**62, so additions never overflow before the reduction.

Fixed point: a float x becomes round(x * 2**FRACTION_BITS) mod P; a sum of at most n encoded
values decodes exactly (up to rounding) as long as every true partial sum stays within
+-(P - 1) / 2 / 2**FRACTION_BITS, about 1.76e13 with 16 fractional bits: clipped, DP-noised
updates are many orders of magnitude below it (``check_bounds`` enforces a limit anyway).
The rounding error of a decoded sum of n values is at most n * 2**-(FRACTION_BITS + 1) per
coordinate.

Masks: a 32-byte seed is expanded with AES-256-CTR into n uniform field elements (64-bit words
reduced mod P; the bias is below 2**-60).
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

P = (1 << 61) - 1
FRACTION_BITS = 16
SCALE = float(1 << FRACTION_BITS)
MAX_ABS = 1e9  # any update coordinate beyond this is refused before encoding


class FieldError(ValueError):
    """A value cannot be encoded (NaN, infinite or out of bounds)."""


def encode(x: np.ndarray) -> np.ndarray:
    """Floats -> field elements (fixed point, negative numbers wrap around P)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise FieldError("cannot encode NaN or infinity")
    if np.abs(x).max(initial=0.0) > MAX_ABS:
        raise FieldError(f"a coordinate exceeds the encoding bound {MAX_ABS:g}")
    q = np.rint(x * SCALE).astype(np.int64)
    return np.where(q < 0, q + P, q).astype(np.uint64)


def decode(v: np.ndarray) -> np.ndarray:
    """Field elements -> floats, lifting to the centred range (-P/2, P/2]."""
    v = np.asarray(v, dtype=np.uint64)
    signed = np.where(v > P // 2, v.astype(np.int64) - P, v.astype(np.int64))
    return signed.astype(np.float64) / SCALE


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b) % np.uint64(P)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + (np.uint64(P) - b)) % np.uint64(P)


def expand(seed: bytes, n: int, label: bytes = b"") -> np.ndarray:
    """``n`` field elements from a 32-byte seed (AES-256-CTR keystream; ``label`` separates uses)."""
    if len(seed) != 32:
        raise ValueError("a mask seed is 32 bytes")
    nonce = (label + bytes(16))[:16]
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    words = np.frombuffer(encryptor.update(bytes(8 * n)), dtype="<u8")
    return words % np.uint64(P)
