"""A client of the fedledger chaincode: every transaction's name and argument shape (calls.py,
shapes.py) and the client that sends them (client.py). No policy: what a call may do, and
when, is the chaincode's to decide."""

from clients.ledger.calls import (
    Call,
    Compliance,
    Consent,
    Diagnostics,
    LoadTest,
    Registry,
    Round,
    Study,
    Token,
    Zk,
)
from clients.ledger.client import LedgerClient
from clients.ledger.shapes import (
    BindingArgs,
    Ceremony,
    CommitArgs,
    Exclusion,
    ProofArgs,
    PublishKeysArgs,
    SharesArgs,
    StudyParams,
)

__all__ = [
    "BindingArgs",
    "Call",
    "Ceremony",
    "CommitArgs",
    "Compliance",
    "Consent",
    "Diagnostics",
    "Exclusion",
    "LedgerClient",
    "LoadTest",
    "ProofArgs",
    "PublishKeysArgs",
    "Registry",
    "Round",
    "SharesArgs",
    "Study",
    "StudyParams",
    "Token",
    "Zk",
]
