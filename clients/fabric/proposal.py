"""Building and signing transaction proposals.

The transaction id is ``hex(sha256(nonce || serialized creator))`` with a fresh 24-byte nonce,
exactly as Fabric computes it, so the peer accepts the proposal and replays are rejected by
the ledger's duplicate-txid check.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

from clients.fabric.identity import Identity, Signer

NONCE_BYTES = 24


@dataclass(frozen=True)
class SignedProposal:
    tx_id: str
    channel_id: str
    proto: proposal_pb2.SignedProposal


def new_tx_id(creator: bytes) -> tuple[str, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    return hashlib.sha256(nonce + creator).hexdigest(), nonce


def build_proposal(
    identity: Identity,
    signer: Signer,
    channel_id: str,
    chaincode: str,
    args: Sequence[bytes],
    transient: Mapping[str, bytes] | None = None,
    timestamp_ns: int | None = None,
) -> SignedProposal:
    """A signed chaincode invocation proposal for ``args`` (function name first)."""
    creator = identity.serialize()
    tx_id, nonce = new_tx_id(creator)
    ts = timestamp_pb2.Timestamp()
    now_ns = time.time_ns() if timestamp_ns is None else timestamp_ns
    ts.seconds, ts.nanos = divmod(now_ns, 1_000_000_000)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        timestamp=ts,
        channel_id=channel_id,
        tx_id=tx_id,
        epoch=0,
        extension=proposal_pb2.ChaincodeHeaderExtension(
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
        ).SerializeToString(),
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(), signature_header=signature_header.SerializeToString()
    )
    invocation = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.Type.UNDEFINED,
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
            input=chaincode_pb2.ChaincodeInput(args=list(args)),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=invocation.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = proposal_pb2.Proposal(header=header.SerializeToString(), payload=payload.SerializeToString())
    proposal_bytes = proposal.SerializeToString()
    signed = proposal_pb2.SignedProposal(proposal_bytes=proposal_bytes, signature=signer.sign(proposal_bytes))
    return SignedProposal(tx_id, channel_id, signed)
