"""Test helpers shared by unit tests."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from chaincode.runtime.testing import make_identity
from clients.fabric.identity import Identity, Signer


def gateway_identity(msp_id: str, ou: str) -> tuple[Identity, Signer]:
    """A client identity + signer whose certificate carries the given NodeOU."""
    key = ec.generate_private_key(ec.SECP256R1())
    cid = make_identity(msp_id, ou, key=key)
    return Identity(msp_id, cid.cert_pem), Signer(key)
