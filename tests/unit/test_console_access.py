"""Who may read the console (console/access.py) and what a bad request gets (console/app.py),
without a network: the access policy over a throwaway PKI, the app over a reader double."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from console.access import AccessDenied, AccessPolicy, Reader
from console.app import create_app
from provenance.channel_config import ChannelTrust, Group
from provenance.msp import Msp
from tests.unit import pki

OUS = {"client": "client", "peer": "peer", "admin": "admin", "orderer": "orderer"}


@pytest.fixture(scope="module")
def channel() -> tuple[ChannelTrust, dict[str, tuple]]:
    roots = {m: pki.ca(f"ca.{m}") for m in ("RegulatorMSP", "HospitalAMSP")}
    msps = {m: Msp(m, [r[0]], node_ous=OUS) for m, r in roots.items()}
    return ChannelTrust("fedledger", 0, msps, Group({}, {}), {}, "etcdraft"), roots


def _der(root: tuple, role: str) -> bytes:
    return pki.leaf(root, f"someone-{role}", role)[0].public_bytes(Encoding.DER)


def test_home_clients_and_admins_and_other_orgs_admins_read(channel: Any) -> None:
    trust, roots = channel
    policy = AccessPolicy(trust, "RegulatorMSP")
    assert policy.reader(_der(roots["RegulatorMSP"], "client")).msp_id == "RegulatorMSP"
    assert policy.reader(_der(roots["HospitalAMSP"], "admin")).msp_id == "HospitalAMSP"
    for der, why in (
        (None, "no client certificate"),
        (b"not a certificate", "cannot be read"),
        (_der(roots["HospitalAMSP"], "client"), "only admins may read"),
        (_der(roots["RegulatorMSP"], "peer"), "peer identity"),
        (_der(pki.ca("ca.outside"), "admin"), "not an identity of any channel member"),
    ):
        with pytest.raises(AccessDenied, match=why):
            policy.reader(der)
    narrow = AccessPolicy(trust, "RegulatorMSP", orgs=[])
    with pytest.raises(AccessDenied, match="may not read this console"):
        narrow.reader(_der(roots["HospitalAMSP"], "admin"))
    assert b"BEGIN CERTIFICATE" in policy.root_bundle()


def _get(app: Any, paths: list[str]) -> list[httpx.Response]:
    """Each path through the ASGI app in process (no TLS: no client certificate in the scope)."""

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as c:
            return [await c.get(p) for p in paths]

    return asyncio.run(run())


class _Everyone:
    def reader(self, cert_der: bytes | None) -> Reader:
        return Reader("RegulatorMSP", "officer", frozenset({"member", "client"}))


class _NoLedger:
    """A reader double: any ledger read would be a bug in these tests."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the ledger was read ({name}) for a request that should be refused first")


def test_bad_parameters_get_a_400_naming_them_before_any_ledger_read(channel: Any) -> None:
    cases = [
        ("/studies/NOT_AN_ID", "study_id"),
        ("/studies/a/lineage", "study_id"),
        ("/hospitals/bad!id", "msp_id"),
        ("/search?q=" + "x" * 201, "longer than 200"),
        ("/certificate/abc.html", "sha-256"),
        ("/certificate/" + "a" * 64 + ".exe", "json|html|pdf"),
    ]
    app = create_app(_NoLedger(), _Everyone())  # type: ignore[arg-type]
    for (path, named), response in zip(cases, _get(app, [p for p, _ in cases]), strict=True):
        assert response.status_code == 400 and named in response.text, (path, response.status_code)


def test_without_a_client_certificate_every_page_is_a_403(channel: Any) -> None:
    trust, _ = channel
    app = create_app(_NoLedger(), AccessPolicy(trust, "RegulatorMSP"))  # type: ignore[arg-type]
    for response in _get(app, ["/", "/studies", "/consent", "/events", "/certificate/" + "a" * 64 + ".json"]):
        assert response.status_code == 403 and "no client certificate" in response.text


def test_live_pages_are_bounded_and_each_gives_its_slot_back() -> None:
    from console import events

    hub = events.EventHub(lambda checkpoint: None)  # type: ignore[arg-type,return-value]  (never started)

    async def fill() -> None:
        queues = [hub.subscribe() for _ in range(events.MAX_SUBSCRIBERS)]
        with pytest.raises(events.TooManySubscribers):
            hub.subscribe()
        hub.unsubscribe(queues[0])
        hub.subscribe()  # the freed slot is usable again

    asyncio.run(fill())
