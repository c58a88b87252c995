"""Governance contracts. ``all_contracts()`` is what the chaincode service serves."""

from __future__ import annotations

import os

from chaincode.contracts.compliance import ComplianceContract
from chaincode.contracts.consent import ConsentContract
from chaincode.contracts.diagnostics import DiagnosticsContract
from chaincode.contracts.loadtest import LoadTestContract
from chaincode.contracts.registry import RegistryContract
from chaincode.contracts.rounds import RoundContract
from chaincode.contracts.studies import StudyContract
from chaincode.contracts.tokens import TokenContract
from chaincode.contracts.zk_keys import ZkContract
from chaincode.runtime.contract import Contract


def all_contracts() -> list[Contract]:
    contracts: list[Contract] = [
        RegistryContract(),
        TokenContract(),
        StudyContract(),
        RoundContract(),
        ComplianceContract(),
        ConsentContract(),
        ZkContract(),
    ]
    if os.environ.get("FEDLEDGER_TEST_CONTRACTS") == "1":
        contracts += [LoadTestContract(), DiagnosticsContract()]
    return contracts
