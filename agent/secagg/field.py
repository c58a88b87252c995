"""Updates as vectors over the BN254 scalar field, six fixed-point coordinates per element, and
masks expanded from seeds.

Why this field: masking needs any group (y = x + m is uniform when m is), but checking a masked
input against a commitment needs the group the commitments live in. fedledger's commitments
(KZG over BN254, and the gnark circuits) work modulo the BN254 scalar field order ``P`` (254
bits), so the masking does too: a masked input's evaluation at a point is then the evaluation of
the update plus those of the masks (agent/secagg/binding.py).

Packing: a float x becomes the integer round(x * 2**FRACTION_BITS); six such integers sit in
42-bit slots of one element, ``sum((c_k + 2**41) * 2**(42 k)) - OFFSET mod P``, so an element
of a sum carries the slot-wise sums. 32 bytes hold 6 coordinates: 5.33 bytes per coordinate,
1.33x a float32 update. ``encode`` refuses any coordinate beyond ``MAX_ABS`` (2**19 - 1, just
under 2**41 / 64 in fixed point) so the sum of up to ``MAX_TERMS`` = 64 encoded vectors always
decodes: every slot of the sum stays within +-2**41. The rounding error of a decoded sum of n
values is at most n * 2**-(FRACTION_BITS + 1) per coordinate.

Arithmetic is vectorised over little-endian 64-bit limbs, shape (elements, 4), always canonical
(below ``P``). Elements read from bytes are checked to be canonical.
"""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

P = 21888242871839275222246405745257275088548364400416034343698204186575808495617
LIMBS = 4
ELEMENT_BYTES = 32
SLOT_BITS = 42
SLOTS = 6  # coordinates per element
FRACTION_BITS = 16
SCALE = float(1 << FRACTION_BITS)
MAX_TERMS = 64
MAX_ABS = float(2**19 - 1)  # 524,287: any coordinate beyond this is refused
_HALF_SLOT = 1 << (SLOT_BITS - 1)
OFFSET = sum(_HALF_SLOT << (SLOT_BITS * k) for k in range(SLOTS))
_U64 = np.uint64
_ALL = (1 << 64) - 1


class FieldError(ValueError):
    """A value cannot be encoded (NaN, infinite or out of bounds), or bytes are not a vector."""


def _limbs(value: int) -> np.ndarray:
    return np.array([(value >> (64 * j)) & _ALL for j in range(LIMBS)], dtype=_U64)


def int_of(limbs: np.ndarray) -> int:
    """The Python int of one element's limbs."""
    return sum(int(limbs[j]) << (64 * j) for j in range(LIMBS))


def ints(v: np.ndarray) -> list[int]:
    """Every element of a vector as a Python int (for evaluation and tests)."""
    raw = np.ascontiguousarray(v, dtype="<u8").tobytes()
    return [int.from_bytes(raw[i : i + ELEMENT_BYTES], "little") for i in range(0, len(raw), ELEMENT_BYTES)]


def from_ints(values: list[int]) -> np.ndarray:
    """A vector from Python ints (each reduced mod P)."""
    raw = b"".join((x % P).to_bytes(ELEMENT_BYTES, "little") for x in values)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, LIMBS).astype(_U64)


_P_LIMBS = _limbs(P)
_OFFSET_LIMBS = _limbs(OFFSET)


def elements(n: int) -> int:
    """How many elements hold ``n`` coordinates."""
    return -(-n // SLOTS)


def _geq_p(a: np.ndarray) -> np.ndarray:
    """a >= P, element-wise (lexicographic over limbs, most significant first)."""
    result = np.ones(len(a), dtype=bool)  # equal so far counts as >=
    decided = np.zeros(len(a), dtype=bool)
    for j in range(LIMBS - 1, -1, -1):
        gt, lt = a[:, j] > _P_LIMBS[j], a[:, j] < _P_LIMBS[j]
        result = np.where(~decided & gt, True, np.where(~decided & lt, False, result))
        decided |= gt | lt
    return result


def _sub_limbs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a - b over 256 bits and the final borrow (b broadcasts)."""
    out = np.empty_like(a)
    borrow = np.zeros(len(a), dtype=_U64)
    b = np.broadcast_to(b, a.shape)
    for j in range(LIMBS):
        d = a[:, j] - b[:, j]
        under = a[:, j] < b[:, j]
        d2 = d - borrow
        under |= (d == 0) & (borrow == 1)
        out[:, j], borrow = d2, under.astype(_U64)
    return out, borrow


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a + b) mod P. Both canonical, so the sum is below 2P < 2**255 and one subtraction suffices."""
    out = np.empty_like(a)
    carry = np.zeros(len(a), dtype=_U64)
    b = np.broadcast_to(b, a.shape)
    for j in range(LIMBS):
        s = a[:, j] + b[:, j]
        over = s < a[:, j]
        s2 = s + carry
        over |= s2 < s
        out[:, j], carry = s2, over.astype(_U64)
    reduced, _ = _sub_limbs(out, _P_LIMBS)
    return np.where(_geq_p(out)[:, None], reduced, out)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) mod P."""
    d, borrow = _sub_limbs(a, b)
    out = d.copy()
    carry = np.zeros(len(a), dtype=_U64)
    for j in range(LIMBS):  # d + P where a < b
        s = d[:, j] + _P_LIMBS[j]
        over = s < d[:, j]
        s2 = s + carry
        over |= s2 < s
        out[:, j], carry = s2, over.astype(_U64)
    return np.where((borrow == 1)[:, None], out, d)


def _pack(slots: np.ndarray) -> np.ndarray:
    """(elements, 6) non-negative 42-bit integers -> (elements, 4) limbs of sum(s_k 2**(42 k))."""
    out = np.zeros((len(slots), LIMBS), dtype=_U64)
    for k in range(SLOTS):
        value = slots[:, k].astype(_U64)
        bit = SLOT_BITS * k
        limb, shift = divmod(bit, 64)
        out[:, limb] |= value << _U64(shift)
        if shift + SLOT_BITS > 64:
            out[:, limb + 1] |= value >> _U64(64 - shift)
    return out


def _unpack(v: np.ndarray) -> np.ndarray:
    """Inverse of ``_pack``: (elements, 4) limbs below 2**252 -> (elements, 6) slot values."""
    out = np.zeros((len(v), SLOTS), dtype=np.int64)
    low = _U64((1 << SLOT_BITS) - 1)
    for k in range(SLOTS):
        bit = SLOT_BITS * k
        limb, shift = divmod(bit, 64)
        value = v[:, limb] >> _U64(shift)
        if shift + SLOT_BITS > 64:
            value |= v[:, limb + 1] << _U64(64 - shift)
        out[:, k] = (value & low).astype(np.int64)
    return out


def encode(x: np.ndarray) -> np.ndarray:
    """Floats -> field elements (fixed point, six coordinates per element, zero padded)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise FieldError("cannot encode NaN or infinity")
    if np.abs(x).max(initial=0.0) > MAX_ABS:
        raise FieldError(f"a coordinate exceeds the encoding bound {MAX_ABS:g}")
    fixed = np.zeros(elements(len(x)) * SLOTS, dtype=np.int64)
    fixed[: len(x)] = np.rint(x * SCALE).astype(np.int64)
    return sub(_pack((fixed + _HALF_SLOT).reshape(-1, SLOTS)), _OFFSET_LIMBS)


def decode(v: np.ndarray, n: int) -> np.ndarray:
    """Field elements -> the first ``n`` floats. Correct for a sum of at most MAX_TERMS encoded
    vectors; any other vector (a masked one, say) decodes to meaningless numbers."""
    if len(v) != elements(n):
        raise FieldError(f"{n} coordinates take {elements(n)} elements, got {len(v)}")
    shifted = add(np.asarray(v, dtype=_U64), _OFFSET_LIMBS)
    slots = _unpack(shifted) - _HALF_SLOT
    return slots.reshape(-1)[:n].astype(np.float64) / SCALE


def to_bytes(v: np.ndarray) -> bytes:
    """32 bytes per element, little endian."""
    return np.ascontiguousarray(v, dtype="<u8").tobytes()


def from_bytes(raw: bytes, n: int, extra: int = 0) -> np.ndarray:
    """The vector of ``n`` coordinates (and ``extra`` more elements) in ``raw``; refuses any
    other length and any element that is not below P."""
    want = (elements(n) + extra) * ELEMENT_BYTES
    if len(raw) != want:
        raise FieldError(f"a masked vector of {n} coordinates{f' and {extra} more elements' if extra else ''} is "
                         f"{want} bytes, got {len(raw)}")  # fmt: skip
    v = np.frombuffer(raw, dtype="<u8").reshape(-1, LIMBS).astype(_U64)
    if _geq_p(v).any():
        raise FieldError("an element is not below the field order")
    return v


def expand(seed: bytes, n: int, label: bytes = b"") -> np.ndarray:
    """``n`` uniform field elements from a 32-byte seed: AES-256-CTR keystream read as 254-bit
    candidates (two top bits cleared), each kept only when below P (rejection sampling: about
    3 in 4 are), so every element is exactly uniform. ``label`` separates uses of one seed."""
    if len(seed) != 32:
        raise ValueError("a mask seed is 32 bytes")
    nonce = (label + bytes(16))[:16]
    stream = Cipher(algorithms.AES(seed), modes.CTR(nonce)).encryptor()
    top = _U64((1 << 62) - 1)
    kept: list[np.ndarray] = []
    have = 0
    while have < n:
        want = max(16, int((n - have) * 1.35) + 16)
        candidates = np.frombuffer(stream.update(bytes(ELEMENT_BYTES * want)), dtype="<u8").reshape(-1, LIMBS)
        candidates = candidates.astype(_U64)
        candidates[:, 3] &= top
        good = candidates[~_geq_p(candidates)]
        kept.append(good)
        have += len(good)
    return np.concatenate(kept)[:n]
