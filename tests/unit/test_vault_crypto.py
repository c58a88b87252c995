"""The artifact encryption itself (no IPFS): AES-GCM bound to label and key id, key store."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.storage.vault import ArtifactError, KeyStore, decrypt, encrypt


def test_round_trip_and_binding(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    key_id, key = keys.create()
    blob = encrypt(key, b"weights", "round-3/update", key_id)
    assert decrypt(keys.get(key_id), blob, "round-3/update", key_id) == b"weights"
    with pytest.raises(ArtifactError, match="failed authentication"):
        decrypt(key, blob, "round-4/update", key_id)  # moved to another label
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(ArtifactError, match="failed authentication"):
        decrypt(key, tampered, "round-3/update", key_id)
    assert (tmp_path / "keys" / f"{key_id}.key").stat().st_mode & 0o777 == 0o600


def test_shredded_key_is_gone(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path)
    key_id, _ = keys.create()
    assert keys.shred(key_id) and not keys.shred(key_id)
    with pytest.raises(ArtifactError, match="shredded"):
        keys.get(key_id)
    with pytest.raises(ValueError):
        keys.get("../etc/passwd")
