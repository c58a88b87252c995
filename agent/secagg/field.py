"""Updates as vectors over the ring of integers modulo 2**48, and masks expanded from seeds.

Why a ring and not a prime field: a one-time pad works in any group (y = x + m mod R is
uniform when m is), and the masking never divides, so the modulus only has to hold the sum.
R = 2**48 packs into 6 bytes per coordinate (1.5x a float32 update; the 61-bit prime field this
replaced cost 8 bytes, 2x), reduction is a bit mask, and AES-CTR output truncated to 48 bits is
exactly uniform. Shamir sharing of the short mask seeds keeps its own prime field
(agent/secagg/shamir.py).

Fixed point: a float x becomes round(x * 2**FRACTION_BITS) mod R. A sum of encoded values
decodes correctly while every true partial sum stays within +-2**(47 - FRACTION_BITS)
(about +-2.1e9 with 16 fractional bits). ``encode`` refuses any coordinate beyond ``MAX_ABS``
(just under 2**31 / 64), so the sum of up to ``MAX_TERMS`` = 64 encoded vectors always decodes.
The rounding error of a decoded sum of n values is at most n * 2**-(FRACTION_BITS + 1) per
coordinate.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BITS = 48
R = 1 << BITS
MASK = np.uint64(R - 1)
BYTES_PER_COORD = BITS // 8
FRACTION_BITS = 16
SCALE = float(1 << FRACTION_BITS)
MAX_TERMS = 64
MAX_ABS = float(2**31 // MAX_TERMS - 1)  # 33,554,431: any coordinate beyond this is refused


class FieldError(ValueError):
    """A value cannot be encoded (NaN, infinite or out of bounds), or bytes are not a vector."""


def encode(x: np.ndarray) -> np.ndarray:
    """Floats -> ring elements (fixed point; negative numbers wrap around R)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise FieldError("cannot encode NaN or infinity")
    if np.abs(x).max(initial=0.0) > MAX_ABS:
        raise FieldError(f"a coordinate exceeds the encoding bound {MAX_ABS:g}")
    return np.rint(x * SCALE).astype(np.int64).astype(np.uint64) & MASK


def decode(v: np.ndarray) -> np.ndarray:
    """Ring elements -> floats, lifting to the centred range [-R/2, R/2)."""
    v = np.asarray(v, dtype=np.uint64) & MASK
    signed = v.astype(np.int64) - np.where(v >= np.uint64(R // 2), np.int64(R), np.int64(0))
    return signed.astype(np.float64) / SCALE


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b) & MASK


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b) & MASK  # uint64 wraps modulo 2**64, a multiple of R


def to_bytes(v: np.ndarray) -> bytes:
    """Pack a vector at 6 bytes per coordinate (little endian)."""
    words = np.ascontiguousarray(np.asarray(v, dtype="<u8") & MASK)
    return words.view(np.uint8).reshape(-1, 8)[:, :BYTES_PER_COORD].tobytes()


def from_bytes(raw: bytes, n: int) -> np.ndarray:
    """Unpack ``n`` coordinates; refuses any other length."""
    if len(raw) != n * BYTES_PER_COORD:
        raise FieldError(f"a masked vector of {n} coordinates is {n * BYTES_PER_COORD} bytes, got {len(raw)}")
    padded = np.zeros((n, 8), dtype=np.uint8)
    padded[:, :BYTES_PER_COORD] = np.frombuffer(raw, dtype=np.uint8).reshape(n, BYTES_PER_COORD)
    return padded.view("<u8").reshape(n).astype(np.uint64)


def expand(seed: bytes, n: int, label: bytes = b"") -> np.ndarray:
    """``n`` uniform ring elements from a 32-byte seed (AES-256-CTR keystream, 64-bit words
    truncated to 48 bits; ``label`` separates uses of one seed)."""
    if len(seed) != 32:
        raise ValueError("a mask seed is 32 bytes")
    nonce = (label + bytes(16))[:16]
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    return np.frombuffer(encryptor.update(bytes(8 * n)), dtype="<u8") & MASK
