"""Names of the training-step circuits (zk/circuit/registry.go) and what the ledger reads
from them: the number of weights the commitments cover and the batch capacity.

``logreg-d<D>-b<B>``: logistic regression, D features plus a bias (D <= 64).
``mlp-d<D>-h<H>-b<B>``: the D-H-1 perceptron, H D + 2 H + 1 weights (D <= 64, H <= 32).
B <= 32 examples per step. The Go registry enforces the same bounds when it compiles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PATTERN = r"(logreg-d[0-9]{1,2}-b[0-9]{1,2}|mlp-d[0-9]{1,2}-h[0-9]{1,2}-b[0-9]{1,2})"
# a circuit with a verifying key on the ledger: a training step, or the secure-aggregation
# binding of a model with that many weights (zk/circuit/bind.go; chaincode/contracts/binding.py)
KEY_PATTERN = r"(" + PATTERN + r"|bind-w[0-9]{1,4})"
MAX_BIND_WEIGHTS = 4096
_NAME = re.compile(r"^(logreg|mlp)-d([0-9]{1,2})(?:-h([0-9]{1,2}))?-b([0-9]{1,2})\Z")


@dataclass(frozen=True)
class Circuit:
    kind: str  # "logreg" | "mlp"
    features: int
    hidden: int  # 0 for logreg
    capacity: int  # batch capacity B

    @property
    def weights(self) -> int:
        if self.kind == "mlp":
            return self.hidden * self.features + 2 * self.hidden + 1
        return self.features + 1

    @property
    def name(self) -> str:
        if self.kind == "mlp":
            return f"mlp-d{self.features}-h{self.hidden}-b{self.capacity}"
        return f"logreg-d{self.features}-b{self.capacity}"


def parse(name: str) -> Circuit:
    """The circuit a name denotes; ValueError for anything the Go registry would refuse."""
    m = _NAME.match(name)
    if m is None or (m.group(1) == "mlp") != (m.group(3) is not None):
        raise ValueError(f"unknown circuit {name!r} (expected logreg-d<D>-b<B> or mlp-d<D>-h<H>-b<B>)")
    c = Circuit(m.group(1), int(m.group(2)), int(m.group(3) or 0), int(m.group(4)))
    if not (1 <= c.features <= 64 and 1 <= c.capacity <= 32 and (c.kind == "logreg" or 1 <= c.hidden <= 32)):
        raise ValueError(f"circuit {name!r}: D must be 1..64, H 1..32 and B 1..32")
    return c


def bind_name(weights: int) -> str:
    """The binding circuit of a model with ``weights`` weights."""
    return f"bind-w{weights}"


def check_key_circuit(name: str) -> None:
    """ValueError unless ``name`` is a circuit a verifying key may be registered for."""
    m = re.fullmatch(r"bind-w([0-9]{1,4})", name)
    if m is None:
        parse(name)
    elif not 1 <= int(m.group(1)) <= MAX_BIND_WEIGHTS:
        raise ValueError(f"circuit {name!r}: a binding covers 1..{MAX_BIND_WEIGHTS} weights")
