"""Encrypted artifacts on IPFS, with crypto-shredding.

Every artifact (model checkpoint, update share, proof) is encrypted with its own AES-256-GCM
key before it leaves the hospital; only the ciphertext goes to IPFS, and the ledger records
the CID and the SHA-256 of the plaintext. Keys live in the hospital's key store, one file per
key, readable only by its owner. IPFS content is content-addressed and may be replicated on
other nodes, so it cannot be reliably deleted; deleting the *key* makes every copy unreadable
(crypto-shredding), which is how an artifact is erased.

What this does not hide: the size of each artifact, and when it was stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clients.kubo import BlobStore, IPFSError

NONCE_BYTES = 12
FORMAT = b"fedledger-artifact-v1"


class ArtifactError(RuntimeError):
    """An artifact cannot be read back: shredded key, tampered or wrong content."""


@dataclass(frozen=True)
class ArtifactRef:
    """What the ledger (or a peer hospital) needs to find and check an artifact."""

    cid: str
    sha256: str  # of the plaintext
    key_id: str
    label: str
    size: int


def encrypt(key: bytes, plaintext: bytes, label: str, key_id: str) -> bytes:
    """nonce || AES-GCM(plaintext), authenticated with the label and key id."""
    nonce = os.urandom(NONCE_BYTES)
    aad = FORMAT + b"|" + label.encode() + b"|" + key_id.encode()
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, label: str, key_id: str) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise ArtifactError("ciphertext too short")
    aad = FORMAT + b"|" + label.encode() + b"|" + key_id.encode()
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise ArtifactError(f"artifact {label} ({key_id}) failed authentication: tampered or wrong key") from None


class KeyStore:
    """One 256-bit key per file under ``root`` (mode 0600)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key_id: str) -> Path:
        if not key_id.isalnum():
            raise ValueError("key ids are alphanumeric")
        return self.root / f"{key_id}.key"

    def create(self) -> tuple[str, bytes]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_id = os.urandom(16).hex()
        key = AESGCM.generate_key(bit_length=256)
        path = self._path(key_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key_id, key

    def get(self, key_id: str) -> bytes:
        path = self._path(key_id)
        if not path.exists():
            raise ArtifactError(f"key {key_id} is not in the key store (shredded or never here)")
        return path.read_bytes()

    def shred(self, key_id: str) -> bool:
        """Delete the key; returns False if it was already gone."""
        path = self._path(key_id)
        if not path.exists():
            return False
        size = path.stat().st_size
        with open(path, "r+b") as fh:  # overwrite first; on copy-on-write file systems this is best effort
            fh.write(os.urandom(size))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
        return True


class Vault:
    """Store and fetch encrypted artifacts through one hospital's IPFS node."""

    def __init__(self, ipfs: BlobStore, keys: KeyStore | None) -> None:
        self.ipfs = ipfs
        self.keys = keys

    def put(self, data: bytes, label: str) -> ArtifactRef:
        key_id, key = self.keys.create()
        cid = self.ipfs.add(encrypt(key, data, label, key_id))
        return ArtifactRef(cid, hashlib.sha256(data).hexdigest(), key_id, label, len(data))

    def get(self, ref: ArtifactRef, key: bytes | None = None) -> bytes:
        """Fetch, decrypt and check an artifact (``key`` when it was shared with us)."""
        blob = self.ipfs.cat(ref.cid)
        if key is None:
            if self.keys is None:
                raise ArtifactError(f"no key for artifact {ref.label}")
            key = self.keys.get(ref.key_id)
        plaintext = decrypt(key, blob, ref.label, ref.key_id)
        if hashlib.sha256(plaintext).hexdigest() != ref.sha256:
            raise ArtifactError(f"artifact {ref.label}: content does not match its recorded SHA-256")
        return plaintext

    def shred(self, ref: ArtifactRef) -> bool:
        """Erase the artifact by destroying its key (and unpin the local ciphertext)."""
        destroyed = self.keys.shred(ref.key_id)
        with contextlib.suppress(IPFSError):  # not pinned here: the key is what matters
            self.ipfs.unpin(ref.cid)
        return destroyed
