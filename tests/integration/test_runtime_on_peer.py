"""Runtime paths the governance contracts rely on, proven against a real peer through the
Diagnostics contract: private data in an implicit org collection (transient in, hash visible to
other orgs, purge erases it everywhere) and paginated range queries."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from clients.fabric import GatewayError
from clients.ledger import Diagnostics
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration


def test_private_data_put_hash_and_purge(network: LocalConsortium) -> None:
    key = f"k{uuid.uuid4().hex[:12]}"
    secret = b"consent details never on the public ledger"
    with network.ledger("HospitalA", "User1") as a, network.ledger("Regulator", "User1") as reg:
        put = a.submit(Diagnostics.put_private(key, secret))
        assert put.json()["sha256"] == hashlib.sha256(secret).hexdigest()
        assert a.evaluate(Diagnostics.get_private(key))["value"] == secret.decode()
        # another org sees only the hash, on its own peer
        seen = reg.evaluate(Diagnostics.get_private_hash(key, "HospitalAMSP"), target_orgs=["RegulatorMSP"])
        assert seen["sha256"] == hashlib.sha256(secret).hexdigest()
        a.submit(Diagnostics.purge_private(key))
        with pytest.raises(GatewayError) as info:
            a.evaluate(Diagnostics.get_private(key))
        assert "no private value" in str(info.value)
        gone = reg.evaluate(Diagnostics.get_private_hash(key, "HospitalAMSP"), target_orgs=["RegulatorMSP"])
        assert gone["sha256"] is None


def test_private_value_must_come_in_transient_data(network: LocalConsortium) -> None:
    with network.ledger("HospitalB", "User1") as a:
        with pytest.raises(GatewayError) as info:
            a.submit(Diagnostics.put_private("x"))
        assert info.value.chaincode_status == 400 and "transient" in str(info.value)


def test_paginated_range_query_walks_every_key_once(network: LocalConsortium) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    with network.ledger("HospitalC", "User1") as a:
        a.submit(Diagnostics.fill(prefix, 25))
        seen: list[int] = []
        bookmark = ""
        pages = 0
        while True:
            page = a.evaluate(Diagnostics.page(prefix, 10, bookmark=bookmark))
            seen += page["items"]
            pages += 1
            bookmark = page["bookmark"]
            if not bookmark:
                break
    assert seen == list(range(25)) and pages == 3
