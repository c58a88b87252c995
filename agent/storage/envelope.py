"""Envelopes: an encrypted artifact plus its key wrapped for each named hospital.

The CID of an envelope is what goes on the ledger (a commitment's share CID, a round's global
model CID). The envelope itself is a small JSON document on IPFS: the artifact's CID, label,
plaintext SHA-256 and, per recipient MSP ID, the artifact key wrapped to that hospital's
registry share key (agent/storage/keywrap.py). Whoever is not a recipient learns only sizes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import x25519

from agent.storage.keywrap import KeyWrapError, unwrap, wrap
from agent.storage.vault import ArtifactError, ArtifactRef, Vault
from clients.kubo import BlobStore

MAX_ENVELOPE_BYTES = 256 * 1024


def publish(vault: Vault, data: bytes, label: str, recipients: Mapping[str, str]) -> str:
    """Encrypt ``data``, wrap its key for every recipient (MSP ID -> X25519 public key, base64),
    store both, and return the envelope's CID."""
    if not recipients:
        raise ValueError("an envelope needs at least one recipient")
    ref = vault.put(data, label)
    key = vault.keys.get(ref.key_id)
    keys = {msp: base64.b64encode(wrap(key, pub, f"{label}|{msp}")).decode() for msp, pub in recipients.items()}
    artifact = {"cid": ref.cid, "sha256": ref.sha256, "key_id": ref.key_id, "label": ref.label, "size": ref.size}
    doc = {"format": "fedledger-envelope-v1", "artifact": artifact, "keys": keys}
    return vault.ipfs.add(json.dumps(doc, sort_keys=True).encode())


def open_envelope(ipfs: BlobStore, cid: str, msp_id: str, private: x25519.X25519PrivateKey) -> bytes:
    """Fetch and decrypt the artifact behind envelope ``cid`` as recipient ``msp_id``."""
    try:
        doc = json.loads(ipfs.cat(cid, max_bytes=MAX_ENVELOPE_BYTES))
        art = doc["artifact"]
        wrapped = doc["keys"].get(msp_id)
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{cid} is not a fedledger envelope: {exc}") from None
    if wrapped is None:
        raise ArtifactError(f"envelope {cid} holds no key for {msp_id}")
    try:
        key = unwrap(base64.b64decode(wrapped), private, f"{art['label']}|{msp_id}")
    except KeyWrapError as exc:  # e.g. wrapped to a share key this hospital has since replaced
        raise ArtifactError(f"envelope {cid}: {exc}") from None
    ref = ArtifactRef(art["cid"], art["sha256"], art["key_id"], art["label"], art["size"])
    return Vault(ipfs, keys=None).get(ref, key=key)
