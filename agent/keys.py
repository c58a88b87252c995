"""A hospital's own key material, kept on the hospital's disk and never on the ledger.

The X25519 key is what committee members encrypt aggregation shares to; its public half is
published in the registry. Private keys are PEM files readable only by their owner.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519


def load_or_create_x25519(path: Path) -> x25519.X25519PrivateKey:
    """Load the key at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, x25519.X25519PrivateKey):
            raise ValueError(f"{path} does not hold an X25519 private key")
        return key
    key = x25519.X25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_bytes(pem)
    tmp.replace(path)
    return key


def public_b64(key: x25519.X25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()
