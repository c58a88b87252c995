"""Governance contracts. ``all_contracts()`` is what the chaincode service serves."""

from __future__ import annotations

import os

from chaincode.contracts.diagnostics import DiagnosticsContract
from chaincode.contracts.loadtest import LoadTestContract
from chaincode.contracts.registry import RegistryContract
from chaincode.runtime.contract import Contract


def all_contracts() -> list[Contract]:
    contracts: list[Contract] = [RegistryContract()]
    if os.environ.get("FEDLEDGER_TEST_CONTRACTS") == "1":
        contracts += [LoadTestContract(), DiagnosticsContract()]
    return contracts
