"""Fabric blocks as the verifier needs them: header hashes, data hashes, and the orderers'
signatures with the bytes each one signs.

The header hash is SHA-256 over the ASN.1 DER encoding of ``SEQUENCE {INTEGER number, OCTET
STRING previous_hash, OCTET STRING data_hash}`` (Fabric's ``protoutil.BlockHeaderHash``); the
data hash is SHA-256 over the concatenated envelopes. An orderer signs ``metadata.value ||
signature_header || header_bytes`` (a Raft orderer puts its identity in the signature header;
a BFT consenter puts its numeric id in an identifier header instead).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from google.protobuf.message import DecodeError

from provenance.errors import Refused


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(n: int) -> bytes:
    body = n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True) if n else b"\x00"
    return _der(0x02, body)


def header_bytes(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """The DER bytes Fabric hashes and the orderers sign for a block header."""
    return _der(0x30, _der_integer(number) + _der(0x04, previous_hash) + _der(0x04, data_hash))


def header_hash(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    return hashlib.sha256(header_bytes(number, previous_hash, data_hash)).digest()


@dataclass(frozen=True)
class HeaderLink:
    """One block header: enough to walk the hash chain without the block's contents."""

    number: int
    previous_hash: bytes
    data_hash: bytes

    @property
    def hash(self) -> bytes:
        return header_hash(self.number, self.previous_hash, self.data_hash)


@dataclass(frozen=True)
class OrdererSignature:
    """One orderer's signature over a block: who (an identity, or a BFT consenter id) and what."""

    signed_bytes: bytes
    signature: bytes
    creator: bytes | None  # a serialized identity (Raft)
    consenter_id: int | None  # a consenter id of the channel's orderer set (BFT)


def parse_block(raw: bytes) -> common_pb2.Block:
    try:
        block = common_pb2.Block.FromString(raw)
    except DecodeError as exc:
        raise Refused(f"not a Fabric block: {exc}") from None
    if not block.HasField("header") or not block.HasField("data"):
        raise Refused("not a Fabric block: no header or no data")
    return block


def link_of(block: common_pb2.Block) -> HeaderLink:
    h = block.header
    return HeaderLink(h.number, bytes(h.previous_hash), bytes(h.data_hash))


def data_hash(block: common_pb2.Block) -> bytes:
    return hashlib.sha256(b"".join(bytes(d) for d in block.data.data)).digest()


def orderer_signatures(block: common_pb2.Block) -> list[OrdererSignature]:
    """Each orderer signature of ``block`` with the exact bytes it covers."""
    meta = block.metadata.metadata
    if len(meta) <= common_pb2.SIGNATURES or not meta[common_pb2.SIGNATURES]:
        return []
    try:
        md = common_pb2.Metadata.FromString(meta[common_pb2.SIGNATURES])
    except DecodeError as exc:
        raise Refused(f"block {block.header.number}: unreadable signature metadata: {exc}") from None
    head = header_bytes(block.header.number, block.header.previous_hash, block.header.data_hash)
    out = []
    for s in md.signatures:
        if s.signature_header:
            creator = common_pb2.SignatureHeader.FromString(s.signature_header).creator
            out.append(OrdererSignature(md.value + s.signature_header + head, bytes(s.signature), bytes(creator), None))
        elif s.identifier_header:
            ident = common_pb2.IdentifierHeader.FromString(s.identifier_header).identifier
            out.append(OrdererSignature(md.value + s.identifier_header + head, bytes(s.signature), None, ident))
    return out


def last_config_index(block: common_pb2.Block) -> int:
    """The number of the configuration block in force when ``block`` was cut."""
    md = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    return common_pb2.OrdererBlockMetadata.FromString(md.value).last_config.index


def validation_flags(block: common_pb2.Block) -> bytes:
    """The committing peer's validation code per transaction (0 = VALID). The orderers' signatures
    do not cover these: they are the peer's own verdict."""
    meta = block.metadata.metadata
    return bytes(meta[common_pb2.TRANSACTIONS_FILTER]) if len(meta) > common_pb2.TRANSACTIONS_FILTER else b""
