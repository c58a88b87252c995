"""Client identities and signing for the Fabric Gateway.

An identity is an MSP ID plus an X.509 certificate; the signer holds the private key. Fabric
accepts only low-S ECDSA signatures (s <= n/2): about half of raw ECDSA signatures are
high-S, so every signature is normalised before it leaves this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from fabric_protos.msp import identities_pb2

_CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16
    ),
}


@dataclass(frozen=True)
class Identity:
    msp_id: str
    cert_pem: bytes

    def serialize(self) -> bytes:
        """The ``msp.SerializedIdentity`` bytes Fabric puts in every header."""
        return identities_pb2.SerializedIdentity(mspid=self.msp_id, id_bytes=self.cert_pem).SerializeToString()


class Signer:
    """ECDSA signer producing DER signatures with low S, over SHA-256 (P-256) or SHA-384."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key
        self._order = _CURVE_ORDERS[key.curve.name]
        self._hash = hashes.SHA256() if key.curve.name == "secp256r1" else hashes.SHA384()

    def sign(self, message: bytes) -> bytes:
        der = self._key.sign(message, ec.ECDSA(self._hash))
        r, s = decode_dss_signature(der)
        if s > self._order // 2:
            s = self._order - s
        return encode_dss_signature(r, s)


def load_msp_identity(msp_dir: Path, msp_id: str) -> tuple[Identity, Signer]:
    """Load the certificate (signcerts/) and private key (keystore/) of an MSP folder."""
    certs = sorted((msp_dir / "signcerts").glob("*.pem"))
    keys = sorted((msp_dir / "keystore").glob("*"))
    if not certs or not keys:
        raise FileNotFoundError(f"{msp_dir} has no signcerts/*.pem or keystore/* (is it an MSP folder?)")
    key = serialization.load_pem_private_key(keys[0].read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{keys[0]} is not an ECDSA key")
    return Identity(msp_id, certs[0].read_bytes()), Signer(key)
