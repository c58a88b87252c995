"""Encrypted artifacts on the hospitals' real Kubo daemons: cross-hospital fetch over bitswap,
integrity checks, and crypto-shredding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.storage.vault import ArtifactError, ArtifactRef, KeyStore, Vault
from clients.kubo import IPFSClient, IPFSError
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration


def test_daemons_run_kubo_and_know_only_each_other(network: LocalConsortium) -> None:
    clients = {o: IPFSClient(network.ipfs_api(o)) for o in ("HospitalA", "HospitalB", "HospitalC")}
    assert all(c.version() == "0.39.0" for c in clients.values())
    ids = {c.peer_id() for c in clients.values()}
    assert len(ids) == 3 and ids == set(network.state.read_manifest()["ipfs_peers"].values())


def test_artifact_stored_by_one_hospital_is_fetched_by_another(network: LocalConsortium, tmp_path: Path) -> None:
    a = Vault(IPFSClient(network.ipfs_api("HospitalA")), KeyStore(tmp_path / "a-keys"))
    b_ipfs = IPFSClient(network.ipfs_api("HospitalB"))
    payload = os.urandom(300_000)
    ref = a.put(payload, "test/update")
    assert ref.cid.startswith("baf") and ref.size == len(payload)  # CIDv1
    # B fetches the ciphertext from A's node over bitswap; without the key it is noise
    ciphertext = b_ipfs.cat(ref.cid)
    assert payload not in ciphertext and len(ciphertext) == len(payload) + 12 + 16
    # with the key shared to it (the aggregation issue encrypts keys to members), B reads it
    b = Vault(b_ipfs, KeyStore(tmp_path / "b-keys"))
    assert b.get(ref, key=a.keys.get(ref.key_id)) == payload


def test_wrong_hash_and_unknown_cid_are_refused(network: LocalConsortium, tmp_path: Path) -> None:
    vault = Vault(IPFSClient(network.ipfs_api("HospitalC")), KeyStore(tmp_path / "keys"))
    ref = vault.put(b"model checkpoint", "test/model")
    forged = ArtifactRef(ref.cid, "0" * 64, ref.key_id, ref.label, ref.size)
    with pytest.raises(ArtifactError, match="does not match"):
        vault.get(forged)
    with pytest.raises(IPFSError):
        IPFSClient(network.ipfs_api("HospitalC"), timeout_s=3).cat("bafkreinotacid")


def test_shredding_the_key_makes_every_copy_unreadable(network: LocalConsortium, tmp_path: Path) -> None:
    a = Vault(IPFSClient(network.ipfs_api("HospitalA")), KeyStore(tmp_path / "keys"))
    ref = a.put(b"patient-derived gradient", "test/erasure")
    b_ipfs = IPFSClient(network.ipfs_api("HospitalB"))
    copy = b_ipfs.cat(ref.cid)  # another node now holds the ciphertext too
    assert a.shred(ref)
    with pytest.raises(ArtifactError, match="shredded"):
        a.get(ref)
    assert b"patient-derived gradient" not in copy


def test_key_shared_through_the_registry_opens_the_artifact_for_that_hospital_only(
    network: LocalConsortium, tmp_path: Path
) -> None:
    """The trusted-aggregator delivery path: A encrypts to B's share key published on the ledger."""
    import base64 as b64

    from cryptography.hazmat.primitives.asymmetric import x25519

    from agent.keys import public_b64
    from agent.storage.keywrap import KeyWrapError, unwrap, wrap
    from clients.fabric import GatewayError
    from clients.ledger import Registry

    b_private = x25519.X25519PrivateKey.generate()
    with network.ledger("HospitalB", "Admin") as b_admin:
        entry = {"msp_id": "HospitalBMSP", "display_name": "B", "share_key": public_b64(b_private),
                 "contact": "fl@b.org"}  # fmt: skip
        try:
            result = b_admin.submit(Registry.register(**entry))
        except GatewayError:
            result = b_admin.submit(Registry.update(**entry))
    with network.ledger("HospitalA", "User1") as a_agent:
        a_agent.wait_for_commit(result.tx_id)
        b_key = a_agent.evaluate(Registry.get("HospitalBMSP"))
    a = Vault(IPFSClient(network.ipfs_api("HospitalA")), KeyStore(tmp_path / "a"))
    payload = os.urandom(4096)
    ref = a.put(payload, "s/r0/update-of-A")
    wrapped = wrap(a.keys.get(ref.key_id), b_key["share_key"], ref.label)
    b = Vault(IPFSClient(network.ipfs_api("HospitalB")), KeyStore(tmp_path / "b"))
    assert b.get(ref, key=unwrap(wrapped, b_private, ref.label)) == payload
    with pytest.raises(KeyWrapError):
        unwrap(wrapped, x25519.X25519PrivateKey.generate(), ref.label)
    assert b64.b64decode(b_key["share_key"]) != a.keys.get(ref.key_id)
