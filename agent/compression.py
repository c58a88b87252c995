"""Update compression: int8 quantisation, and top-k sparsification with error feedback.

int8: each update is scaled by its largest absolute value to [-127, 127] and rounded (4x
smaller than float32, error at most scale/254 per coordinate). Top-k keeps the k largest
coordinates; what it drops is remembered (error feedback, Stich et al. 2018) and added to the
next round's update, so nothing is lost for good, only delayed.
"""

from __future__ import annotations

import numpy as np


def quantize_int8(update: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.max(np.abs(update))) if update.size else 0.0
    if scale == 0.0:
        return np.zeros(update.shape, dtype=np.int8), 0.0
    return np.clip(np.rint(update / scale * 127), -127, 127).astype(np.int8), scale


def dequantize_int8(q: np.ndarray, scale: float) -> np.ndarray:
    return q.astype(np.float32) * np.float32(scale / 127)


def int8_bytes(q: np.ndarray) -> int:
    return q.nbytes + 4  # values + the float32 scale


class TopKWithErrorFeedback:
    """Keeps a residual between rounds; ``compress`` returns (indices, values)."""

    def __init__(self, dim: int, fraction: float) -> None:
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.k = max(1, int(dim * fraction))
        self.residual = np.zeros(dim, dtype=np.float32)

    def compress(self, update: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        corrected = update.astype(np.float32) + self.residual
        idx = np.sort(np.argpartition(np.abs(corrected), -self.k)[-self.k :]).astype(np.int32)
        values = corrected[idx]
        self.residual = corrected.copy()
        self.residual[idx] = 0.0
        return idx, values

    @staticmethod
    def decompress(idx: np.ndarray, values: np.ndarray, dim: int) -> np.ndarray:
        out = np.zeros(dim, dtype=np.float32)
        out[idx] = values
        return out

    @staticmethod
    def nbytes(idx: np.ndarray, values: np.ndarray) -> int:
        return idx.nbytes + values.nbytes
