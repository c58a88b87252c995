"""Governance contracts. ``all_contracts()`` is what the chaincode service serves."""

from __future__ import annotations

import os

from chaincode.contracts.loadtest import LoadTestContract
from chaincode.contracts.registry import RegistryContract
from chaincode.runtime.contract import Contract


def all_contracts() -> list[Contract]:
    contracts: list[Contract] = [RegistryContract()]
    if os.environ.get("FEDLEDGER_LOADTEST_CONTRACT") == "1":
        contracts.append(LoadTestContract())
    return contracts
