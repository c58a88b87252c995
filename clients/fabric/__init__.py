"""Fabric Gateway client: Gateway -> Network -> Contract, as in fabric-gateway."""

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
from clients.fabric.gateway import Contract, Gateway, Network, SubmitResult, Timeouts
from clients.fabric.identity import Identity, Signer, load_msp_identity

__all__ = [
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Checkpoint",
    "CommitError",
    "CommitStatusError",
    "Contract",
    "EndorseError",
    "EvaluateError",
    "Gateway",
    "GatewayError",
    "Identity",
    "Network",
    "PeerDetail",
    "Signer",
    "SubmitError",
    "SubmitResult",
    "Timeouts",
    "load_msp_identity",
]
