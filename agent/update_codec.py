"""How a model update travels: raw float32, or int8-quantised (agent/compression.py).

The bytes produced here are what a participant encrypts, stores on IPFS and commits to by
SHA-256 on the ledger, so the aggregator checks the hash of exactly what it decodes.
Quantisation happens after DP noise was added: it is post-processing and costs no privacy.

int8 format: ``b"FLQ8"`` + float32 scale (little endian) + one int8 per coordinate.
"""

from __future__ import annotations

import struct

import numpy as np

from agent.compression import dequantize_int8, quantize_int8

INT8_MAGIC = b"FLQ8"
CODECS = ("none", "int8")


class UpdateFormatError(ValueError):
    """The bytes are not an update of the expected model."""


def encode_update(update: np.ndarray, codec: str = "none") -> bytes:
    flat = np.ascontiguousarray(update, dtype=np.float32).ravel()
    if codec == "none":
        return flat.astype("<f4").tobytes()
    if codec == "int8":
        q, scale = quantize_int8(flat)
        return INT8_MAGIC + struct.pack("<f", scale) + q.tobytes()
    raise ValueError(f"unknown update codec {codec!r}; use one of {CODECS}")


def decode_update(data: bytes, dim: int) -> np.ndarray:
    """The float32 update of ``dim`` coordinates inside ``data`` (either format)."""
    if data.startswith(INT8_MAGIC):
        body = data[len(INT8_MAGIC) + 4 :]
        if len(body) != dim:
            raise UpdateFormatError(f"int8 update has {len(body)} coordinates; the model has {dim}")
        (scale,) = struct.unpack("<f", data[len(INT8_MAGIC) : len(INT8_MAGIC) + 4])
        if not np.isfinite(scale) or scale < 0:
            raise UpdateFormatError("int8 update has an invalid scale")
        return dequantize_int8(np.frombuffer(body, dtype=np.int8), scale)
    if len(data) != 4 * dim:
        raise UpdateFormatError(f"update is {len(data)} bytes; a float32 update of this model is {4 * dim}")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
