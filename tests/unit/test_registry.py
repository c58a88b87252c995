"""Registry contract rules, on the in-memory ledger."""

from __future__ import annotations

import base64

import pytest

from chaincode.contracts.registry import RegistryContract
from chaincode.runtime.contract import Router
from chaincode.runtime.testing import InMemoryLedger, make_identity

KEY = base64.b64encode(bytes(range(32))).decode()
PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"


def entry(msp_id: str, **over: object) -> dict[str, object]:
    base = {"msp_id": msp_id, "display_name": f"{msp_id} hospital", "share_key": KEY, "contact": "it@example.org"}
    base.update(over)
    return base


@pytest.fixture()
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture()
def router() -> Router:
    return Router([RegistryContract()])


ADMIN_A = make_identity("HospitalAMSP", "admin")
ADMIN_B = make_identity("HospitalBMSP", "admin")
CLIENT_A = make_identity("HospitalAMSP", "client")
REGULATOR = make_identity("RegulatorMSP", "admin")


def test_register_then_get_and_list(ledger: InMemoryLedger, router: Router) -> None:
    res = ledger.invoke(router, ADMIN_A, "Registry:Register", entry("HospitalAMSP", ipfs_peer_id=PEER_ID))
    assert res.ok, res.message
    assert res.json()["version"] == 1
    assert res.event is not None and res.event.name == "registry.registered"
    assert ledger.invoke(router, ADMIN_B, "Registry:Register", entry("HospitalBMSP")).ok
    got = ledger.invoke(router, REGULATOR, "Registry:Get", {"msp_id": "HospitalAMSP"}).json()
    assert got["display_name"] == "HospitalAMSP hospital"
    assert got["ipfs_peer_id"] == PEER_ID
    listed = ledger.invoke(router, REGULATOR, "Registry:List").json()
    assert [e["msp_id"] for e in listed] == ["HospitalAMSP", "HospitalBMSP"]


def test_update_bumps_version_and_keeps_history(ledger: InMemoryLedger, router: Router) -> None:
    ledger.invoke(router, ADMIN_A, "Registry:Register", entry("HospitalAMSP"))
    res = ledger.invoke(router, ADMIN_A, "Registry:Update", entry("HospitalAMSP", display_name="Renamed"))
    assert res.ok and res.json()["version"] == 2
    history = ledger.invoke(router, REGULATOR, "Registry:History", {"msp_id": "HospitalAMSP"}).json()
    assert [h["entry"]["version"] for h in history] == [1, 2]


@pytest.mark.parametrize(
    ("caller", "args", "status", "fragment"),
    [
        (ADMIN_B, entry("HospitalAMSP"), 403, "may not write the record of HospitalAMSP"),
        (CLIENT_A, entry("HospitalAMSP"), 403, "only an admin"),
        (REGULATOR, entry("RegulatorMSP"), 403, "read-only regulator"),
        (ADMIN_A, entry("HospitalAMSP", share_key="bm90IDMyIGJ5dGVz"), 400, "share_key must decode to 32 bytes"),
        (ADMIN_A, entry("HospitalAMSP", display_name="x" * 121), 400, "display_name must be 1-120"),
        (ADMIN_A, entry("HospitalAMSP", contact="not-an-email"), 400, "contact has an invalid format"),
        (ADMIN_A, entry("HospitalAMSP", extra=1), 400, "unknown field(s): extra"),
        (ADMIN_A, {"msp_id": "HospitalAMSP"}, 400, "missing field"),
        (ADMIN_A, entry("HospitalAMSP", ipfs_peer_id="bogus"), 400, "ipfs_peer_id has an invalid format"),
    ],
)
def test_bad_register_is_refused_and_changes_nothing(
    ledger: InMemoryLedger, router: Router, caller, args, status: int, fragment: str
) -> None:
    res = ledger.invoke(router, caller, "Registry:Register", args)
    assert res.status == status
    assert fragment in res.message
    assert ledger.state == {}
    assert ledger.events == []


def test_double_register_conflicts(ledger: InMemoryLedger, router: Router) -> None:
    assert ledger.invoke(router, ADMIN_A, "Registry:Register", entry("HospitalAMSP")).ok
    before = dict(ledger.state)
    res = ledger.invoke(router, ADMIN_A, "Registry:Register", entry("HospitalAMSP", display_name="again"))
    assert res.status == 409 and "already registered" in res.message
    assert ledger.state == before


def test_update_of_missing_entry_is_not_found(ledger: InMemoryLedger, router: Router) -> None:
    res = ledger.invoke(router, ADMIN_A, "Registry:Update", entry("HospitalAMSP"))
    assert res.status == 404


def test_get_missing_is_not_found(ledger: InMemoryLedger, router: Router) -> None:
    res = ledger.invoke(router, REGULATOR, "Registry:Get", {"msp_id": "HospitalZMSP"})
    assert res.status == 404 and "not registered" in res.message
