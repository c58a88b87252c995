"""Model specs and weight serialisation.

A model spec (logistic regression, or the 30-16-1 MLP) is a small dict whose SHA-256 over
canonical JSON is the ``model_spec_hash`` a study fixes on the ledger; the verifiable-training
issue proves steps of exactly these. Weights travel as a flat float32 vector in a fixed
parameter order, so their bytes, and therefore their SHA-256, are the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "logreg" | "mlp"
    input_dim: int
    hidden: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("logreg", "mlp"):
            raise ValueError(f"unknown model kind {self.kind!r}; use logreg or mlp")
        if not 1 <= self.input_dim <= 4096:
            raise ValueError("input_dim must be between 1 and 4096")
        if self.kind == "mlp" and not 1 <= self.hidden <= 1024:
            raise ValueError("an mlp needs 1-1024 hidden units")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "input_dim": self.input_dim, "hidden": self.hidden, "output": 1,
                "activation": "relu" if self.kind == "mlp" else None, "loss": "bce_with_logits"}  # fmt: skip

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def build(self, seed: int = 0) -> nn.Module:
        """The model with deterministic initial weights; torch's global random state is left as
        it was (DP training draws from it)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.kind == "logreg":
                return nn.Sequential(nn.Linear(self.input_dim, 1))
            return nn.Sequential(nn.Linear(self.input_dim, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 1))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.build().parameters())


LOGREG_30 = ModelSpec("logreg", 30)
MLP_30_16_1 = ModelSpec("mlp", 30, 16)


def get_weights(model: nn.Module) -> np.ndarray:
    """The parameters as one float32 vector, in ``named_parameters`` order."""
    return np.concatenate([p.detach().cpu().numpy().astype(np.float32).ravel() for _, p in _params(model)])


def set_weights(model: nn.Module, flat: np.ndarray) -> None:
    expected = sum(p.numel() for _, p in _params(model))
    if flat.shape != (expected,):
        raise ValueError(f"weights have shape {flat.shape}; this model needs ({expected},)")
    if not np.isfinite(flat).all():
        raise ValueError("weights contain NaN or infinity")
    offset = 0
    with torch.no_grad():
        for _, p in _params(model):
            n = p.numel()
            p.copy_(torch.from_numpy(flat[offset : offset + n].astype(np.float32).reshape(p.shape)))
            offset += n


def _params(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    # Opacus wraps modules in GradSampleModule ("_module." prefix); the order is unchanged
    return list(model.named_parameters())


def weights_bytes(flat: np.ndarray) -> bytes:
    return np.ascontiguousarray(flat, dtype="<f4").tobytes()


def weights_from_bytes(data: bytes, spec: ModelSpec) -> np.ndarray:
    n = spec.parameter_count()
    if len(data) != 4 * n:
        raise ValueError(f"weights are {len(data)} bytes; {spec.kind} with input {spec.input_dim} needs {4 * n}")
    flat = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(flat).all():
        raise ValueError("weights contain NaN or infinity")
    return flat


def weights_hash(flat: np.ndarray) -> str:
    return hashlib.sha256(weights_bytes(flat)).hexdigest()
