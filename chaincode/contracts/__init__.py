"""Governance contracts. ``all_contracts()`` is what the chaincode service serves."""

from __future__ import annotations

from chaincode.contracts.registry import RegistryContract
from chaincode.runtime.contract import Contract


def all_contracts() -> list[Contract]:
    return [RegistryContract()]
