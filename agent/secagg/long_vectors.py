"""Field arithmetic on long vectors through fedledger-zk (zk/secagg, Go): masked inputs, unmasked
sums and values at a point, for vectors of more than ``SMALL`` elements, where numpy's four-limb
arithmetic (agent/secagg/field.py) takes tenths of a second per vector of a million coordinates.
Both give the same elements (tests compare them); short vectors stay in numpy, without a
process.

A mask is given by its seed, its label (as ``field.expand`` takes it) and whether it is
subtracted; fedledger-zk expands it exactly as ``field.expand`` does.
"""

from __future__ import annotations

import numpy as np

from agent.secagg import field
from agent.zk import binary

SMALL = 4096  # elements; longer vectors go to fedledger-zk
MaskSpec = tuple[bytes, bytes, bool]  # seed, label, subtract


def _specs(masks: list[MaskSpec]) -> bytes:
    return b"".join(seed + (label + bytes(16))[:16] + (b"\x01" if subtract else b"\x00")
                    for seed, label, subtract in masks)  # fmt: skip


def masked_sum(vectors: list[np.ndarray], masks: list[MaskSpec], elements: int) -> np.ndarray:
    """The sum of ``vectors`` plus or minus each mask expanded to ``elements`` elements."""
    data = b"".join(field.to_bytes(v) for v in vectors) + _specs(masks)
    out = binary.raw_call(["field-mask", "--elements", str(elements), "--masks", str(len(masks))], data)
    return np.frombuffer(out, dtype="<u8").reshape(-1, field.LIMBS).astype(np.uint64)


def values(vectors: list[np.ndarray], masks: list[MaskSpec], elements: int, z: int) -> list[int]:
    """The value at ``z`` of each vector, then of each mask expanded to ``elements`` elements."""
    data = b"".join(field.to_bytes(v) for v in vectors) + _specs(masks)
    return binary.field_values(data, elements, z, len(masks))


def masked_sum_and_values(vectors: list[np.ndarray], masks: list[MaskSpec], elements: int,
                          z: int) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """``masked_sum`` and, from the same reading, the value at ``z`` of each vector and then of
    each mask (unsigned)."""
    data = b"".join(field.to_bytes(v) for v in vectors) + _specs(masks)
    out = binary.raw_call(["field-mask", "--elements", str(elements), "--masks", str(len(masks)),
                           "--point", str(z)], data)  # fmt: skip
    size = elements * field.ELEMENT_BYTES
    total = np.frombuffer(out[:size], dtype="<u8").reshape(-1, field.LIMBS).astype(np.uint64)
    tail = out[size:]
    values = [int.from_bytes(tail[i : i + field.ELEMENT_BYTES], "little") for i in range(0, len(tail), 32)]
    return total, values
