"""Circuit names as the ledger reads them agree with the Go registry (zk/circuit/registry.go):
the weight count the noise bound uses and the batch capacity Propose checks."""

from __future__ import annotations

import pytest

from agent.models import LOGREG_30, MLP_30_16_1
from agent.zk import binary
from chaincode.contracts import zk_circuits


def test_names_give_the_models_weight_count_and_capacity() -> None:
    assert zk_circuits.parse("logreg-d30-b32").weights == LOGREG_30.parameter_count() == 31
    mlp = zk_circuits.parse("mlp-d30-h16-b32")
    assert mlp.weights == MLP_30_16_1.parameter_count() == 513 and mlp.capacity == 32
    assert mlp.name == "mlp-d30-h16-b32"


@pytest.mark.parametrize("name", ["mlp-d30-h0-b32", "mlp-d30-h33-b32", "logreg-d65-b32", "logreg-d3-b0", "mlp-d30-b32",
                                  "logreg-d3-h2-b4", "cnn-d3-b2", "logreg-d30-b32 "])  # fmt: skip
def test_names_the_go_registry_refuses_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        zk_circuits.parse(name)
    with pytest.raises(binary.ZkError):
        binary.call(["info", "--circuit", name])
