"""Fabric Gateway client: Gateway -> Network -> Contract, as in fabric-gateway."""

from clients.fabric.contract import Contract, SubmitResult
from clients.fabric.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    GatewayError,
    PeerDetail,
    SubmitError,
)
from clients.fabric.events import ChaincodeEvent, ChaincodeEventStream, Checkpoint
from clients.fabric.gateway import Gateway
from clients.fabric.identity import Identity, Signer, load_msp_identity
from clients.fabric.network import Network
from clients.fabric.service import GatewayService, Timeouts
from clients.fabric.transaction import Commit, Transaction

__all__ = [
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Checkpoint",
    "Commit",
    "CommitError",
    "CommitStatusError",
    "Contract",
    "EndorseError",
    "EvaluateError",
    "Gateway",
    "GatewayError",
    "GatewayService",
    "Identity",
    "Network",
    "PeerDetail",
    "Signer",
    "SubmitError",
    "SubmitResult",
    "Timeouts",
    "Transaction",
    "load_msp_identity",
]
