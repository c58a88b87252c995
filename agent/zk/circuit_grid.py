"""The training-step circuits' fixed-point grid, on the agent's side (zk/fixed/fixed.go
is the reference: 12 fractional bits; |w| < 128; features clamped to [-8, 8)).

An audited study trains on features that are already clamped and on the 2^-12 grid, so the
float training and the circuit see the same inputs; weights are quantized when a step is
recorded. ``round_tag`` binds a proof to one study, round and hospital; the chaincode computes
the same value.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

F = 12
ONE = 1 << F
W_LIMIT = 1 << (F + 7)  # |w * 2^F| < 2^19
X_MAX = 8.0 - 1.0 / ONE  # largest feature on the grid below 8
FIELD_BITS = 248  # salts and tags stay below the BN254 scalar field


class FixedPointError(ValueError):
    """A value is outside what the circuit can represent."""


def quantize(values: np.ndarray) -> list[int]:
    """Floats -> integers at scale 2^F (round to nearest); refuses |w| >= 128."""
    q = np.rint(np.asarray(values, dtype=np.float64) * ONE).astype(np.int64)
    if q.size and np.abs(q).max() >= W_LIMIT:
        raise FixedPointError(f"a weight reached {np.abs(q).max() / ONE:g}; the circuit takes |w| < 128")
    return [int(v) for v in q]


def grid_features(x: np.ndarray) -> np.ndarray:
    """Clamp features to [-8, 8) and round them to the 2^-12 grid (float32, exactly representable)."""
    clamped = np.clip(np.asarray(x, dtype=np.float64), -8.0, X_MAX)
    return (np.rint(clamped * ONE) / ONE).astype(np.float32)


def feature_ints(x: np.ndarray) -> list[list[int]]:
    """Grid features -> integers at scale 2^F (exact)."""
    return [[int(v) for v in row] for row in np.rint(np.asarray(x, dtype=np.float64) * ONE).astype(np.int64)]


def round_tag(study_id: str, round_no: int, msp_id: str) -> int:
    """What binds a step proof to one study, round and hospital (the circuit's Round input)."""
    digest = hashlib.sha256(f"fedledger-zk|{study_id}|{round_no}|{msp_id}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - FIELD_BITS)


def new_salt() -> int:
    return secrets.randbits(FIELD_BITS)
