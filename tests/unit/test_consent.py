"""The consent contract and its credential verifier, on the in-memory ledger.

Every refusal leaves the ledger byte-identical. Credentials come from a test signer
(chaincode/hostile/vc_signer.py) and, for interoperability, from ACA-Py itself (fixtures/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from chaincode.contracts import consent_vc
from chaincode.contracts.consent_vc import CredentialError, check_consent, credential_id, revocation_key
from chaincode.hostile.vc_signer import Patient
from clients.ledger import Call, Consent
from tests.unit.consortium_sim import Consortium

A, B = "HospitalAMSP", "HospitalBMSP"
NOW = 1_767_225_600_000  # 2026-01-01, the simulated consortium's clock
FIXTURE = Path(__file__).parent / "fixtures" / "consent_vc_from_acapy.json"


def register(cons: Consortium, who: str, vc: Any, admin: bool = False):
    caller = cons.admins[who] if admin else cons.agents[who]
    raw = vc if isinstance(vc, bytes) else json.dumps(vc).encode()
    return cons.ledger.invoke(cons.router, caller, "Consent:Register", {}, timestamp_ms=cons.now_ms,
                              transient={"credential": raw})  # fmt: skip


def revoke(cons: Consortium, who: str, consent_id: str, jws: str | None):
    transient = {"revocation": jws.encode()} if jws is not None else {}
    return cons.ledger.invoke(cons.router, cons.agents[who], "Consent:Revoke", {"consent_id": consent_id},
                              timestamp_ms=cons.now_ms, transient=transient)  # fmt: skip


@pytest.fixture
def cons() -> Consortium:
    c = Consortium()
    c.register_all()
    return c


def test_a_credential_issued_by_acapy_verifies_and_any_change_breaks_it() -> None:
    vc = json.loads(FIXTURE.read_text())
    later = consent_vc.parse_time_ms("2027-01-01T00:00:00Z", "t")
    terms = check_consent(vc, "HospitalAMSP", later)
    assert terms["purpose"] == "study-1" and set(terms) == {"grantee", "purpose", "data_categories", "from_ms",
                                                            "until_ms", "issuer_commitment"}  # fmt: skip
    for path, value in ((("credentialSubject", "purpose"), "study-2"), (("credentialSubject", "consentUntil"),
                        "2030-01-01T00:00:00Z"), (("issuanceDate",), "2026-11-23T00:00:00Z")):  # fmt: skip
        bad = copy.deepcopy(vc)
        target = bad
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
        with pytest.raises(CredentialError, match="signature does not verify"):
            check_consent(bad, "HospitalAMSP", later)


def test_register_verifies_stores_hashes_publicly_and_the_credential_privately(cons: Consortium) -> None:
    patient = Patient()
    vc = patient.consent(grantee=A)
    res = register(cons, A, vc)
    assert res.ok, res.message
    record = res.json()
    assert record["status"] == "active" and record["consent_id"] == credential_id(vc)
    public = b"".join(cons.ledger.public_snapshot().values())
    assert patient.pairwise_did.encode() not in public and patient.did.encode() not in public
    stored = cons.ok(cons.agents[A], "Consent:GetCredential", {"consent_id": record["consent_id"]})
    assert json.loads(stored["credential_json"]) == vc
    denied = cons.call(cons.agents[B], "Consent:GetCredential", {"consent_id": record["consent_id"]})
    assert denied.status == 403
    listed = cons.ok(cons.regulator, "Consent:List", {"grantee": A, "purpose": "bc-screening"})
    assert [i["consent_id"] for i in listed["items"]] == [record["consent_id"]] and listed["bookmark"] == ""


def _expired(p: Patient) -> dict[str, Any]:
    return p.consent(consentFrom="2025-01-01T00:00:00Z", consentUntil="2025-06-01T00:00:00Z")


def _forged(p: Patient) -> dict[str, Any]:
    vc = p.consent()
    vc["issuer"] = Patient().did  # someone else's key claims it
    return vc


def _tampered(p: Patient) -> dict[str, Any]:
    vc = p.consent()
    vc["credentialSubject"]["dataCategories"] = ["tabular", "genomic"]
    return vc


def _dropped_term(p: Patient) -> dict[str, Any]:
    vc = p.consent()
    doc = {k: v for k, v in vc.items() if k != "proof"}
    doc["credentialSubject"] = {**doc["credentialSubject"], "alsoFor": "marketing"}  # not in any context
    return p.sign(doc)


def _foreign_context(p: Patient) -> dict[str, Any]:
    vc = p.consent()
    vc["@context"] = [*vc["@context"][:2], "https://example.org/evil/v1"]
    return vc


@pytest.mark.parametrize(
    ("make", "status", "fragment"),
    [
        (_expired, 400, "expired"),
        (_forged, 400, "verification method is not the issuer"),
        (_tampered, 400, "signature does not verify"),
        (_dropped_term, 400, "members a consent credential does not have: 'alsoFor'"),
        (_foreign_context, 400, "@context must be exactly"),
        (lambda p: p.consent(grantee=B), 400, "granted to 'HospitalBMSP'"),
        (lambda p: p.consent(dataCategories=["everything"]), 400, "dataCategories"),
        (lambda p: b"{not json", 400, "not valid JSON"),
        (lambda p: b"x" * 20_000, 400, "the limit is 4096"),
    ],
)
def test_bad_credentials_are_refused_and_change_nothing(cons: Consortium, make, status: int, fragment: str) -> None:
    before = dict(cons.ledger.state)
    res = register(cons, A, make(Patient()))
    assert res.status == status and fragment in res.message, res.message
    assert cons.ledger.state == before


def test_register_needs_the_transient_credential_a_hospital_and_no_replay(cons: Consortium) -> None:
    vc = Patient().consent()
    before = dict(cons.ledger.state)
    res = cons.call(cons.agents[A], "Consent:Register", {})
    assert res.status == 400 and "transient" in res.message and cons.ledger.state == before
    res = cons.ledger.invoke(cons.router, cons.regulator, "Consent:Register", {}, timestamp_ms=cons.now_ms,
                             transient={"credential": json.dumps(vc).encode()})  # fmt: skip
    assert res.status == 403 and cons.ledger.state == before
    assert register(cons, A, vc).ok
    before = dict(cons.ledger.state)
    res = register(cons, A, vc)
    assert res.status == 409 and "already registered" in res.message and cons.ledger.state == before


def test_only_the_patient_can_revoke_and_only_once(cons: Consortium) -> None:
    patient = Patient()
    vc = patient.consent()
    consent_id, key = register(cons, A, vc).json()["consent_id"], revocation_key(vc)
    other = Patient()
    before = dict(cons.ledger.state)
    for jws, fragment in (
        (other.revocation(consent_id, key), "not signed by the patient"),
        (patient.revocation(consent_id, "0" * 64), "its key is wrong"),
        (patient.revocation("0" * 64, key), "must name this consent"),
        (patient.revocation(consent_id, key)[:-4] + "AAAA", "does not verify"),
        ("not-a-jws", "compact JWS"),
        ("a." * 600 + "b", "limit is 1024"),
        (None, "transient"),
    ):
        res = revoke(cons, B, consent_id, jws)
        assert res.status == 400 and fragment in res.message, res.message
        assert cons.ledger.state == before
    res = revoke(cons, B, consent_id, patient.revocation(consent_id, key))  # anyone may relay it
    assert res.ok and res.json()["status"] == "revoked"
    again = revoke(cons, B, consent_id, patient.revocation(consent_id, key))
    assert again.status == 409
    listed = cons.ok(cons.agents[A], "Consent:List", {"grantee": A, "purpose": "bc-screening"})["items"]
    assert [i["status"] for i in listed] == ["revoked"]


def test_erase_purges_the_credential_for_the_grantee_admin_only(cons: Consortium) -> None:
    consent_id = register(cons, A, Patient().consent()).json()["consent_id"]
    before = dict(cons.ledger.state)
    for who in (cons.agents[A], cons.admins[B]):
        res = cons.call(who, "Consent:Erase", {"consent_id": consent_id})
        assert res.status == 403 and cons.ledger.state == before
    erased = cons.ok(cons.admins[A], "Consent:Erase", {"consent_id": consent_id})
    assert erased["status"] == "erased"
    missing = cons.call(cons.agents[A], "Consent:GetCredential", {"consent_id": consent_id})
    assert missing.status == 404
    assert not [k for (c, k) in cons.ledger.state if c.startswith("_implicit_org_")]


def test_list_pages_through_many_consents(cons: Consortium) -> None:
    ids = {register(cons, A, Patient().consent()).json()["consent_id"] for _ in range(5)}
    seen, bookmark = [], ""
    while True:
        page = cons.ok(cons.agents[A], "Consent:List", {"grantee": A, "purpose": "bc-screening", "page_size": 2,
                                                         "bookmark": bookmark})  # fmt: skip
        seen += [i["consent_id"] for i in page["items"]]
        bookmark = page["bookmark"]
        if not bookmark:
            break
    assert sorted(seen) == sorted(ids)


def test_erasure_deletes_the_patients_rows_at_the_hospital(tmp_path: Path) -> None:
    import pandas as pd

    from agent.consent.erasure import erase_patient

    train = tmp_path / "train.csv"
    pd.DataFrame({"f": [1.0, 2.0, 3.0], "patient_pseudonym": ["p1", "p2", "p3"]}).to_csv(train, index=False)
    links = tmp_path / "links.csv"
    pd.DataFrame({"pseudonym": ["p1", "p2", "p3"], "did": ["d1", "d2", "d3"]}).to_csv(links, index=False)

    class Submitted:
        tx_id = "t" * 64

    calls = []

    class FakeLedger:  # the ledger side is tested on the real network
        def submit(self, call: Call) -> Submitted:
            calls.append(call)
            return Submitted()

    erased = erase_patient(FakeLedger(), "c" * 64, "p2", "patient_pseudonym", [train], links)  # type: ignore[arg-type]
    assert calls == [Consent.erase("c" * 64)]
    assert erased.rows_removed == {str(train): 1, str(links): 1}
    assert list(pd.read_csv(train)["patient_pseudonym"]) == ["p1", "p3"]
    assert list(pd.read_csv(links)["did"]) == ["d1", "d3"]


def test_a_consent_counts_only_for_its_own_purpose(cons: Consortium) -> None:
    register(cons, A, Patient().consent(purpose="bc-screening"))
    other = cons.ok(cons.agents[A], "Consent:List", {"grantee": A, "purpose": "another-study"})
    assert other["items"] == []  # the training gate of another study finds no consent
    mine = cons.ok(cons.agents[A], "Consent:List", {"grantee": A, "purpose": "bc-screening"})
    assert len(mine["items"]) == 1
