"""Runtime paths the governance contracts rely on, proven against a real peer through the
Diagnostics contract: private data in an implicit org collection (transient in, hash visible to
other orgs, purge erases it everywhere) and paginated range queries."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from clients.fabric import GatewayError
from network.consortium import LocalConsortium
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration


def diagnostics(net: LocalConsortium, org: str, user: str = "User1"):
    gw = net.gateway(org, user)
    return gw, gw.network(CHANNEL).contract(CHAINCODE_NAME, "Diagnostics")


def test_private_data_put_hash_and_purge(network: LocalConsortium) -> None:
    key = f"k{uuid.uuid4().hex[:12]}"
    secret = b"consent details never on the public ledger"
    gw_a, a = diagnostics(network, "HospitalA")
    gw_r, reg = diagnostics(network, "Regulator")
    with gw_a, gw_r:
        put = a.submit("PutPrivate", {"key": key}, transient={"value": secret})
        assert put.json()["sha256"] == hashlib.sha256(secret).hexdigest()
        assert a.evaluate("GetPrivate", {"key": key})["value"] == secret.decode()
        # another org sees only the hash, on its own peer
        seen = reg.evaluate("GetPrivateHash", {"key": key, "msp_id": "HospitalAMSP"}, target_orgs=["RegulatorMSP"])
        assert seen["sha256"] == hashlib.sha256(secret).hexdigest()
        a.submit("PurgePrivate", {"key": key})
        with pytest.raises(GatewayError) as info:
            a.evaluate("GetPrivate", {"key": key})
        assert "no private value" in str(info.value)
        gone = reg.evaluate("GetPrivateHash", {"key": key, "msp_id": "HospitalAMSP"}, target_orgs=["RegulatorMSP"])
        assert gone["sha256"] is None


def test_private_value_must_come_in_transient_data(network: LocalConsortium) -> None:
    gw, a = diagnostics(network, "HospitalB")
    with gw:
        with pytest.raises(GatewayError) as info:
            a.submit("PutPrivate", {"key": "x"})
        assert info.value.chaincode_status == 400 and "transient" in str(info.value)


def test_paginated_range_query_walks_every_key_once(network: LocalConsortium) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    gw, a = diagnostics(network, "HospitalC")
    with gw:
        a.submit("Fill", {"prefix": prefix, "count": 25})
        seen: list[int] = []
        bookmark = ""
        pages = 0
        while True:
            page = a.evaluate("Page", {"prefix": prefix, "page_size": 10, "bookmark": bookmark})
            seen += page["items"]
            pages += 1
            bookmark = page["bookmark"]
            if not bookmark:
                break
    assert seen == list(range(25)) and pages == 3
