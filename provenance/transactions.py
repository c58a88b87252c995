"""An endorsed transaction inside a block, checked the way a committing peer checks it, and the
writes it made to one chaincode's namespace.

Checked: it is an endorser transaction of this channel; its id is SHA-256(nonce || creator) as
Fabric derives it; its creator is a member of the channel that may write (``/Channel/Application
/Writers``) and signed the whole payload; each endorsement is a valid signature over the
proposal response payload and the endorser, by a member identity, and together they satisfy
the chaincode's endorsement policy (the channel's ``/Channel/Application/Endorsement``, which a
chaincode defined without its own policy uses).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf.message import DecodeError

from provenance.channel_config import ChannelTrust
from provenance.errors import Refused
from provenance.msp import Identity, check_signature

WRITERS = "/Channel/Application/Writers"
ENDORSEMENT = "/Channel/Application/Endorsement"


@dataclass(frozen=True)
class EndorsedTransaction:
    tx_id: str
    channel_id: str
    timestamp_s: int
    creator: Identity
    endorsers: tuple[Identity, ...]
    namespace_writes: dict[str, dict[str, bytes | None]]  # namespace -> key -> value (None: deleted)


def tx_id_of(envelope_bytes: bytes) -> str:
    """The transaction id a block's envelope claims (no checks), to index a block's transactions."""
    try:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(envelope_bytes).payload)
        return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id
    except DecodeError:
        return ""


def verify_transaction(envelope_bytes: bytes, trust: ChannelTrust) -> EndorsedTransaction:
    """Decode and check one endorser transaction; Refused names the first thing that fails."""
    try:
        envelope = common_pb2.Envelope.FromString(envelope_bytes)
        payload = common_pb2.Payload.FromString(envelope.payload)
        channel = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
    except DecodeError as exc:
        raise Refused(f"unreadable transaction envelope: {exc}") from None
    tx = channel.tx_id or "(no id)"
    if channel.type != common_pb2.ENDORSER_TRANSACTION:
        raise Refused(f"transaction {tx} is not an endorser transaction (type {channel.type})")
    if channel.channel_id != trust.channel_id:
        raise Refused(f"transaction {tx} belongs to channel {channel.channel_id!r}, not {trust.channel_id!r}")
    expected_id = hashlib.sha256(signature_header.nonce + signature_header.creator).hexdigest()
    if channel.tx_id != expected_id:
        raise Refused(f"transaction {tx}: its id is not SHA-256(nonce || creator) ({expected_id})")
    creator = _member(trust, signature_header.creator, f"transaction {tx}: creator")
    try:
        check_signature(creator.certificate, envelope.payload, envelope.signature)
    except Refused as exc:
        raise Refused(f"transaction {tx}: creator's signature: {exc}") from None
    if not trust.satisfies(WRITERS, [creator]):
        raise Refused(f"transaction {tx}: creator {creator.msp_id} {creator.subject} may not write ({WRITERS})")
    try:
        body = transaction_pb2.Transaction.FromString(payload.data)
    except DecodeError as exc:
        raise Refused(f"transaction {tx}: unreadable body: {exc}") from None
    if len(body.actions) != 1:
        raise Refused(f"transaction {tx}: {len(body.actions)} actions; Fabric transactions carry exactly one")
    endorsers, writes = _action(tx, body.actions[0], trust)
    return EndorsedTransaction(tx, channel.channel_id, channel.timestamp.seconds, creator, endorsers, writes)


def _member(trust: ChannelTrust, serialized: bytes, what: str) -> Identity:
    try:
        return trust.identity(serialized)
    except Refused as exc:
        raise Refused(f"{what}: {exc}") from None


def _action(tx: str, action: transaction_pb2.TransactionAction, trust: ChannelTrust
            ) -> tuple[tuple[Identity, ...], dict[str, dict[str, bytes | None]]]:  # fmt: skip
    try:
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        prp_bytes = cap.action.proposal_response_payload
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(prp_bytes)
        cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
        rwset = rwset_pb2.TxReadWriteSet.FromString(cc_action.results)
    except DecodeError as exc:
        raise Refused(f"transaction {tx}: unreadable chaincode action: {exc}") from None
    endorsers: list[Identity] = []
    seen: set[bytes] = set()
    for e in cap.action.endorsements:
        if e.endorser in seen:
            continue  # Fabric counts an endorser once
        seen.add(e.endorser)
        who = _member(trust, e.endorser, f"transaction {tx}: endorser")
        try:
            check_signature(who.certificate, prp_bytes + e.endorser, e.signature)
        except Refused as exc:
            raise Refused(f"transaction {tx}: endorsement by {who.msp_id}: {exc}") from None
        endorsers.append(who)
    if not trust.satisfies(ENDORSEMENT, endorsers):
        orgs = ", ".join(sorted(f"{w.msp_id} ({'/'.join(sorted(w.roles - {'member'}))})" for w in endorsers))
        raise Refused(f"transaction {tx}: endorsements by {orgs or 'nobody'} do not satisfy {ENDORSEMENT} "
                      f"({trust.describe(ENDORSEMENT)})")  # fmt: skip
    return tuple(endorsers), _writes(tx, rwset)


def _writes(tx: str, rwset: rwset_pb2.TxReadWriteSet) -> dict[str, dict[str, bytes | None]]:
    writes: dict[str, dict[str, bytes | None]] = {}
    for ns in rwset.ns_rwset:
        try:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
        except DecodeError as exc:
            raise Refused(f"transaction {tx}: unreadable write set of {ns.namespace}: {exc}") from None
        writes[ns.namespace] = {w.key: None if w.is_delete else bytes(w.value) for w in kv.writes}
    return writes


def unverified_writes(envelope_bytes: bytes) -> dict[str, dict[str, bytes | None]]:
    """The writes a transaction envelope carries, decoded without any check: for the issuer, who
    only gathers evidence (the verifier goes through :func:`verify_transaction`)."""
    try:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(envelope_bytes).payload)
        action = transaction_pb2.Transaction.FromString(payload.data).actions[0]
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(cap.action.proposal_response_payload)
        rwset = rwset_pb2.TxReadWriteSet.FromString(proposal_pb2.ChaincodeAction.FromString(prp.extension).results)
    except (DecodeError, IndexError) as exc:
        raise Refused(f"unreadable transaction: {exc}") from None
    return _writes(tx_id_of(envelope_bytes), rwset)
