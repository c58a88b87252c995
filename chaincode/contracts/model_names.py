"""The study's ``model`` on the ledger: its name, and whether a step circuit proves it.

``logreg-d<D>-c<C>``: logistic regression on D features with C label classes;
``mlp-d<D>-h<H>-c<C>``: the D-H-C one-hidden-layer ReLU perceptron. D is 1..4096, H 1..1024 and
C 2..1000, C = 2 being a binary label (one output, the logistic loss). The same validation as
the agent's ``ModelSpec.parse`` (agent/models.py), which derives the model from this name and
checks it against ``model_spec_hash``; the chaincode does not import agent code.

The step circuits (chaincode/contracts/zk_circuits.py) prove binary models only, with at most
64 features and, for the perceptron, at most 32 hidden units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chaincode.contracts import zk_circuits

PATTERN = r"(logreg-d[0-9]{1,4}-c[0-9]{1,4}|mlp-d[0-9]{1,4}-h[0-9]{1,4}-c[0-9]{1,4})"
_NAME = re.compile(r"^(logreg|mlp)-d([0-9]{1,4})(?:-h([0-9]{1,4}))?-c([0-9]{1,4})\Z")
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
    kind: str  # "logreg" | "mlp"
    features: int
    hidden: int  # 0 for logreg
    classes: int  # 2: a binary label

    @property
    def name(self) -> str:
        hidden = f"-h{self.hidden}" if self.kind == "mlp" else ""
        return f"{self.kind}-d{self.features}{hidden}-c{self.classes}"

    @property
    def binary(self) -> bool:
        return self.classes == 2


def parse(name: str) -> Model:
    """The model a name denotes; ValueError for anything the agent's ``ModelSpec.parse`` refuses."""
    m = _NAME.match(name)
    if m is None or (m.group(1) == "mlp") != (m.group(3) is not None):
        raise ValueError(f"unknown model {name!r} (expected logreg-d<features>-c<classes> or "
                         "mlp-d<features>-h<hidden>-c<classes>)")  # fmt: skip
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
