"""What the peer tells the chaincode about a transaction, decoded from the signed proposal."""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2

from chaincode.runtime.identity import ClientIdentity, identity_from_creator


@dataclass(frozen=True)
class TransactionContext:
    """Facts about the transaction that every endorser sees identically."""

    channel_id: str
    tx_id: str
    timestamp_seconds: int
    timestamp_nanos: int
    creator: ClientIdentity
    transient: dict[str, bytes]

    @property
    def timestamp_ms(self) -> int:
        """Transaction timestamp in whole milliseconds: the chaincode's only clock."""
        return self.timestamp_seconds * 1000 + self.timestamp_nanos // 1_000_000


def decode_signed_proposal(signed: proposal_pb2.SignedProposal, channel_id: str, tx_id: str) -> TransactionContext:
    """Extract creator, timestamp and transient data from a ``SignedProposal``."""
    proposal = proposal_pb2.Proposal()
    proposal.ParseFromString(signed.proposal_bytes)
    header = common_pb2.Header()
    header.ParseFromString(proposal.header)
    channel_header = common_pb2.ChannelHeader()
    channel_header.ParseFromString(header.channel_header)
    signature_header = common_pb2.SignatureHeader()
    signature_header.ParseFromString(header.signature_header)
    payload = proposal_pb2.ChaincodeProposalPayload()
    payload.ParseFromString(proposal.payload)
    return TransactionContext(
        channel_id=channel_id,
        tx_id=tx_id,
        timestamp_seconds=channel_header.timestamp.seconds,
        timestamp_nanos=channel_header.timestamp.nanos,
        creator=identity_from_creator(signature_header.creator),
        transient=dict(payload.TransientMap),
    )
