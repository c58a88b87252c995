"""Update compression (trusted mode): int8 quantisation.

Each update is scaled by its largest absolute value to [-127, 127] and rounded (4x smaller
than float32, error at most scale/254 per coordinate).
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
