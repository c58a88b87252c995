"""Model specs and weight serialisation.

A model spec is a model family (logistic regression, a one-hidden-layer ReLU perceptron, or a
small convolutional network on single-channel images), the number of input features, the
hidden width (or the CNN's filters) and the number of label classes: a binary label has one
output and the logistic loss, C > 2 classes have C outputs and softmax cross entropy. Its name
(``logreg-d13-c2``, ``mlp-d13-h16-c3``, ``cnn-8x8-f8x16-c10``) is the study's ``model`` on the
ledger, and the SHA-256 of its dict over canonical JSON is the ``model_spec_hash``; an agent
derives the spec from the name and checks both. A study's spec follows from its data schema
(:meth:`ModelSpec.for_schema`). Weights travel as a flat float32 vector in a fixed parameter
order, so their bytes, and therefore their SHA-256, are the same on every machine.

The CNN (``cnn-<H>x<W>-f<F1>x<F2>-c<C>``) reads the H*W features as one H x W image (row by
row) and applies two blocks of a 3x3 convolution (same padding), ReLU and 2x2 max-pooling,
with F1 and F2 filters, then one linear layer to the outputs; H and W are multiples of 4. It
has no batch normalisation: DP-SGD needs per-example gradients, which batch statistics mix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

MODEL_KINDS = ("logreg", "mlp", "cnn")
MAX_FEATURES = 4096
MAX_HIDDEN = 1024
MAX_CLASSES = 1000
MAX_SIDE = 64  # a CNN's image height and width
MAX_FILTERS = 64
DEFAULT_HIDDEN = 16
DEFAULT_FILTERS = (8, 16)
_NAME = re.compile(r"^(logreg|mlp)-d([0-9]{1,4})(?:-h([0-9]{1,4}))?-c([0-9]{1,4})\Z")
_CNN = re.compile(r"^cnn-([0-9]{1,2})x([0-9]{1,2})-f([0-9]{1,2})x([0-9]{1,2})-c([0-9]{1,4})\Z")


@dataclass(frozen=True)
class ModelSpec:
    kind: str  # "logreg" | "mlp" | "cnn"
    input_dim: int
    hidden: int = 0
    classes: int = 2  # 2: one logit and the logistic loss; more: one logit per class, softmax
    image: tuple[int, int] | None = None  # cnn: (height, width), height * width == input_dim
    filters: tuple[int, int] | None = None  # cnn: the two convolutions' filter counts

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; use logreg, mlp or cnn")
        if not 1 <= self.input_dim <= MAX_FEATURES:
            raise ValueError(f"input_dim must be between 1 and {MAX_FEATURES}")
        if self.kind == "mlp" and not 1 <= self.hidden <= MAX_HIDDEN:
            raise ValueError(f"an mlp needs 1-{MAX_HIDDEN} hidden units")
        if self.kind != "mlp" and self.hidden != 0:
            raise ValueError(f"a {self.kind} model has no hidden units")
        if not 2 <= self.classes <= MAX_CLASSES:
            raise ValueError(f"classes must be between 2 and {MAX_CLASSES}")
        if self.kind == "cnn":
            if self.image is None or self.filters is None:
                raise ValueError("a cnn needs its image shape (height, width) and its two filter counts")
            h, w = self.image
            if not (4 <= h <= MAX_SIDE and 4 <= w <= MAX_SIDE and h % 4 == 0 and w % 4 == 0):
                raise ValueError(f"a cnn's image sides must be multiples of 4 from 4 to {MAX_SIDE}, not {h}x{w}")
            if h * w != self.input_dim:
                raise ValueError(f"a {h}x{w} image has {h * w} pixels, not input_dim {self.input_dim}")
            if not all(1 <= f <= MAX_FILTERS for f in self.filters) or len(self.filters) != 2:
                raise ValueError(f"a cnn has two convolutions of 1-{MAX_FILTERS} filters each")
        elif self.image is not None or self.filters is not None:
            raise ValueError("only a cnn has an image shape and filters")

    @classmethod
    def for_schema(cls, schema: Any, kind: str, hidden: int = DEFAULT_HIDDEN,
                   filters: tuple[int, int] = DEFAULT_FILTERS) -> ModelSpec:  # fmt: skip
        """The spec a study on ``schema`` (agent/data/schema.py) trains: one input per feature
        column (a cnn: the schema's image of them), one output per class (one for a binary label)."""
        if kind == "cnn":
            if schema.image is None:
                raise ValueError("a cnn needs a schema with 'image': [height, width] (its features are the pixels)")
            return cls("cnn", len(schema.features), 0, schema.classes, tuple(schema.image), tuple(filters))
        return cls(kind, len(schema.features), hidden if kind == "mlp" else 0, schema.classes)

    @classmethod
    def parse(cls, name: str) -> ModelSpec:
        """The spec a ``model`` name denotes; ValueError naming the accepted forms otherwise."""
        c = _CNN.match(name)
        if c is not None:
            h, w, f1, f2, classes = (int(g) for g in c.groups())
            return cls("cnn", h * w, 0, classes, (h, w), (f1, f2))
        m = _NAME.match(name)
        if m is None or (m.group(1) == "mlp") != (m.group(3) is not None):
            raise ValueError(f"unknown model {name!r} (expected logreg-d<features>-c<classes>, "
                             "mlp-d<features>-h<hidden>-c<classes> or cnn-<H>x<W>-f<F1>x<F2>-c<classes>)")  # fmt: skip
        return cls(m.group(1), int(m.group(2)), int(m.group(3) or 0), int(m.group(4)))

    @property
    def name(self) -> str:
        if self.kind == "cnn":
            assert self.image is not None and self.filters is not None
            return f"cnn-{self.image[0]}x{self.image[1]}-f{self.filters[0]}x{self.filters[1]}-c{self.classes}"
        hidden = f"-h{self.hidden}" if self.kind == "mlp" else ""
        return f"{self.kind}-d{self.input_dim}{hidden}-c{self.classes}"

    @property
    def outputs(self) -> int:
        return 1 if self.classes == 2 else self.classes

    @property
    def binary(self) -> bool:
        return self.classes == 2

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "input_dim": self.input_dim, "hidden": self.hidden, "output": self.outputs,
               "activation": "relu" if self.kind != "logreg" else None,
               "loss": "bce_with_logits" if self.binary else "cross_entropy"}  # fmt: skip
        if not self.binary:
            out["classes"] = self.classes
        if self.kind == "cnn":
            assert self.image is not None and self.filters is not None
            out["image"], out["filters"] = list(self.image), list(self.filters)
            out["layers"] = "conv3x3-relu-maxpool2 x2, linear"
        return out

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def build(self, seed: int = 0) -> nn.Module:
        """The model with deterministic initial weights; torch's global random state is left as
        it was (DP training draws from it)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if self.kind == "logreg":
                return nn.Sequential(nn.Linear(self.input_dim, self.outputs))
            if self.kind == "mlp":
                return nn.Sequential(nn.Linear(self.input_dim, self.hidden), nn.ReLU(),
                                     nn.Linear(self.hidden, self.outputs))  # fmt: skip
            assert self.image is not None and self.filters is not None
            (h, w), (f1, f2) = self.image, self.filters
            return nn.Sequential(
                nn.Unflatten(1, (1, h, w)),
                nn.Conv2d(1, f1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(f1, f2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(f2 * (h // 4) * (w // 4), self.outputs),
            )  # fmt: skip

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
        raise ValueError(f"weights are {len(data)} bytes; model {spec.name} needs {4 * n}")
    flat = np.frombuffer(data, dtype="<f4").astype(np.float32)
    if not np.isfinite(flat).all():
        raise ValueError("weights contain NaN or infinity")
    return flat


def weights_hash(flat: np.ndarray) -> str:
    return hashlib.sha256(weights_bytes(flat)).hexdigest()
