"""Sharing an artifact's key with one hospital: X25519 + HKDF-SHA256 + AES-256-GCM.

The recipient's X25519 public key comes from the ledger's registry. A fresh ephemeral key
pair per wrap gives forward secrecy for the sender; the ``context`` (for example
"study/round/update-of-HospitalA") is bound into both the derived key and the authentication
tag, so a wrapped key cannot be replayed for another artifact. Only the holder of the
recipient's private key can unwrap.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"fedledger-keywrap-v1|"


class KeyWrapError(ValueError):
    """A wrapped key that cannot be opened with this private key and context."""


def _kek(shared: bytes, eph_pub: bytes, recipient_pub: bytes, context: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=eph_pub + recipient_pub, info=INFO + context.encode()).derive(shared)


def _raw(public: x25519.X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def wrap(key: bytes, recipient_public_b64: str, context: str) -> bytes:
    """eph_pub (32) || nonce (12) || AES-GCM(key)."""
    recipient = x25519.X25519PublicKey.from_public_bytes(base64.b64decode(recipient_public_b64))
    ephemeral = x25519.X25519PrivateKey.generate()
    eph_pub = _raw(ephemeral.public_key())
    kek = _kek(ephemeral.exchange(recipient), eph_pub, _raw(recipient), context)
    nonce = os.urandom(12)
    return eph_pub + nonce + AESGCM(kek).encrypt(nonce, key, context.encode())


def unwrap(blob: bytes, private: x25519.X25519PrivateKey, context: str) -> bytes:
    if len(blob) < 32 + 12 + 16:
        raise KeyWrapError("wrapped key too short")
    eph_pub, nonce, ct = blob[:32], blob[32:44], blob[44:]
    shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(eph_pub))
    kek = _kek(shared, eph_pub, _raw(private.public_key()), context)
    try:
        return AESGCM(kek).decrypt(nonce, ct, context.encode())
    except InvalidTag:
        raise KeyWrapError("wrapped key does not open: not for this recipient, wrong context, or tampered") from None
