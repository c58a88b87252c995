"""Test-only forgeries of certificate evidence: blocks and transactions re-signed with genuine
keys of the local network (found by certificate in its state directory) or with a key outside
the channel, to check that the verifier refuses each for the right reason."""

from __future__ import annotations

import datetime
import hashlib
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2

from provenance.blocks import header_bytes

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return encode_dss_signature(r, min(s, N - s))


def key_of(state_root: Path, serialized: bytes) -> ec.EllipticCurvePrivateKey:
    """The private key the network's state directory holds for a serialized identity."""
    pem = identities_pb2.SerializedIdentity.FromString(serialized).id_bytes
    cert = x509.load_pem_x509_certificate(pem)
    for certfile in state_root.rglob("signcerts/*.pem"):
        if x509.load_pem_x509_certificate(certfile.read_bytes()) == cert:
            keyfile = next((certfile.parent.parent / "keystore").iterdir())
            key = serialization.load_pem_private_key(keyfile.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return key
    raise AssertionError("no key for that identity in the state directory")


def outsider(msp_id: str) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A serialized identity claiming ``msp_id``, from a self-made CA the channel never heard of."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orderer9.outside"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "orderer")])  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    pem = cert.public_bytes(serialization.Encoding.PEM)
    return identities_pb2.SerializedIdentity(mspid=msp_id, id_bytes=pem).SerializeToString(), key


def sign_block(block: common_pb2.Block, creator: bytes, key: ec.EllipticCurvePrivateKey) -> None:
    """Recompute ``block``'s data hash and replace its signatures with one by ``creator``."""
    block.header.data_hash = hashlib.sha256(b"".join(block.data.data)).digest()
    md = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
    sig_header = common_pb2.SignatureHeader(creator=creator, nonce=os.urandom(24)).SerializeToString()
    head = header_bytes(block.header.number, block.header.previous_hash, block.header.data_hash)
    signature = sign(key, md.value + sig_header + head)
    del md.signatures[:]
    md.signatures.add(signature_header=sig_header, signature=signature)
    block.metadata.metadata[common_pb2.SIGNATURES] = md.SerializeToString()


def on_channel(envelope: bytes, channel: str, state_root: Path) -> bytes:
    """The same transaction as if its creator had sent it on ``channel``: header changed and the
    envelope re-signed with the creator's genuine key (the endorsements stay genuine)."""
    env = common_pb2.Envelope.FromString(envelope)
    payload = common_pb2.Payload.FromString(env.payload)
    ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    ch.channel_id = channel
    payload.header.channel_header = ch.SerializeToString()
    creator = common_pb2.SignatureHeader.FromString(payload.header.signature_header).creator
    raw = payload.SerializeToString()
    return common_pb2.Envelope(payload=raw, signature=sign(key_of(state_root, creator), raw)).SerializeToString()
