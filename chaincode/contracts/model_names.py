"""The study's ``model`` on the ledger: its name, and whether a step circuit proves it.

``logreg-d<D>-c<C>``: logistic regression on D features with C label classes;
``mlp-d<D>-h<H>-c<C>``: the D-H-C one-hidden-layer ReLU perceptron; ``cnn-<H>x<W>-f<F1>x<F2>-c<C>``:
a two-block convolutional network on H x W single-channel images (H and W multiples of 4 up to
64, F1 and F2 filters up to 64). D is 1..4096, H 1..1024 and C 2..1000, C = 2 being a binary
label (one output, the logistic loss). The same validation as
the agent's ``ModelSpec.parse`` (agent/models.py), which derives the model from this name and
checks it against ``model_spec_hash``; the chaincode does not import agent code.

The step circuits (chaincode/contracts/zk_circuits.py) prove binary models only, with at most
64 features and, for the perceptron, at most 32 hidden units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chaincode.contracts import zk_circuits

PATTERN = (r"(logreg-d[0-9]{1,4}-c[0-9]{1,4}|mlp-d[0-9]{1,4}-h[0-9]{1,4}-c[0-9]{1,4}"
           r"|cnn-[0-9]{1,2}x[0-9]{1,2}-f[0-9]{1,2}x[0-9]{1,2}-c[0-9]{1,4})")  # fmt: skip
_NAME = re.compile(r"^(logreg|mlp)-d([0-9]{1,4})(?:-h([0-9]{1,4}))?-c([0-9]{1,4})\Z")
_CNN = re.compile(r"^cnn-([0-9]{1,2})x([0-9]{1,2})-f([0-9]{1,2})x([0-9]{1,2})-c([0-9]{1,4})\Z")
MAX_SIDE = 64
MAX_FILTERS = 64
MAX_FEATURES = 4096
MAX_HIDDEN = 1024
MAX_CLASSES = 1000
# the bounds of zk_circuits.parse
CIRCUIT_MAX_FEATURES = 64
CIRCUIT_MAX_HIDDEN = 32
SHAPES = (
    f"zk circuits exist for binary logreg or mlp with at most {CIRCUIT_MAX_FEATURES} features "
    f"(mlp: at most {CIRCUIT_MAX_HIDDEN} hidden units)"
)


@dataclass(frozen=True)
class Model:
    kind: str  # "logreg" | "mlp" | "cnn"
    features: int
    hidden: int  # 0 for logreg and cnn
    classes: int  # 2: a binary label
    image: tuple[int, int] | None = None  # cnn
    filters: tuple[int, int] | None = None  # cnn

    @property
    def name(self) -> str:
        if self.image is not None and self.filters is not None:
            return f"cnn-{self.image[0]}x{self.image[1]}-f{self.filters[0]}x{self.filters[1]}-c{self.classes}"
        hidden = f"-h{self.hidden}" if self.kind == "mlp" else ""
        return f"{self.kind}-d{self.features}{hidden}-c{self.classes}"

    @property
    def binary(self) -> bool:
        return self.classes == 2


def parse(name: str) -> Model:
    """The model a name denotes; ValueError for anything the agent's ``ModelSpec.parse`` refuses."""
    c = _CNN.match(name)
    if c is not None:
        h, w, f1, f2, classes = (int(g) for g in c.groups())
        if not (4 <= h <= MAX_SIDE and 4 <= w <= MAX_SIDE and h % 4 == 0 and w % 4 == 0):
            raise ValueError(f"model {name!r}: a cnn's image sides must be multiples of 4 from 4 to {MAX_SIDE}")
        if not (1 <= f1 <= MAX_FILTERS and 1 <= f2 <= MAX_FILTERS):
            raise ValueError(f"model {name!r}: a cnn has 1-{MAX_FILTERS} filters per convolution")
        if not 2 <= classes <= MAX_CLASSES:
            raise ValueError(f"model {name!r}: classes must be between 2 and {MAX_CLASSES}")
        return Model("cnn", h * w, 0, classes, (h, w), (f1, f2))
    m = _NAME.match(name)
    if m is None or (m.group(1) == "mlp") != (m.group(3) is not None):
        raise ValueError(f"unknown model {name!r} (expected logreg-d<features>-c<classes>, "
                         "mlp-d<features>-h<hidden>-c<classes> or cnn-<H>x<W>-f<F1>x<F2>-c<classes>)")  # fmt: skip
    model = Model(m.group(1), int(m.group(2)), int(m.group(3) or 0), int(m.group(4)))
    if not 1 <= model.features <= MAX_FEATURES:
        raise ValueError(f"model {name!r}: features must be between 1 and {MAX_FEATURES}")
    if model.kind == "mlp" and not 1 <= model.hidden <= MAX_HIDDEN:
        raise ValueError(f"model {name!r}: an mlp needs 1-{MAX_HIDDEN} hidden units")
    if not 2 <= model.classes <= MAX_CLASSES:
        raise ValueError(f"model {name!r}: classes must be between 2 and {MAX_CLASSES}")
    return model


def proved_by(circuit: zk_circuits.Circuit) -> Model:
    """The model whose steps ``circuit`` proves: binary, of the circuit's kind and shape."""
    return Model(circuit.kind, circuit.features, circuit.hidden, 2)


def audit_problem(model: Model) -> str | None:
    """Why no step circuit could prove this model's steps, or None when one could."""
    if model.kind == "cnn":
        return f"model {model.name} is a cnn, and no zk circuit proves convolution steps; {SHAPES}"
    if not model.binary:
        return (f"model {model.name} has {model.classes} label classes, and audited studies need a binary "
                f"label; {SHAPES}")  # fmt: skip
    if model.features > CIRCUIT_MAX_FEATURES:
        return f"model {model.name} has {model.features} features, more than any zk circuit takes; {SHAPES}"
    if model.hidden > CIRCUIT_MAX_HIDDEN:
        return f"model {model.name} has {model.hidden} hidden units, more than any zk circuit takes; {SHAPES}"
    return None


def circuit_problem(model: Model, circuit: zk_circuits.Circuit) -> str | None:
    """Why ``circuit`` does not prove steps of ``model`` (naming both), or None when it does."""
    if model.kind == "cnn":
        return f"zk_circuit {circuit.name} proves {circuit.kind} steps, not cnn (model {model.name}); {SHAPES}"
    if not model.binary:
        return (f"model {model.name} has {model.classes} label classes, and audited studies need a binary label "
                f"(zk_circuit {circuit.name} proves binary models only); {SHAPES}")  # fmt: skip
    if model.kind != circuit.kind:
        return f"zk_circuit {circuit.name} proves {circuit.kind} steps, not {model.kind} (model {model.name}); {SHAPES}"
    if model.features != circuit.features:
        return (f"zk_circuit {circuit.name} takes {circuit.features} features, model {model.name} has "
                f"{model.features}; {SHAPES}")  # fmt: skip
    if model.hidden != circuit.hidden:
        return (f"zk_circuit {circuit.name} has {circuit.hidden} hidden units, model {model.name} has "
                f"{model.hidden}; {SHAPES}")  # fmt: skip
    return None
