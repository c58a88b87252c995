"""Consent credentials end to end: a patient grants through ACA-Py, the hospital registers.

* The **patient side** (the patients' ACA-Py agent) holds each patient's did:key (the issuer)
  and a pairwise did:key per hospital (the credential's subject: what the hospital knows the
  patient by). ``grant`` issues a consent credential over DIDComm to the hospital's agent;
  ``revocation`` signs a JWS the ledger accepts as the patient's revocation.
* The **hospital side** takes the credential from its own agent's wallet and registers it on
  the ledger through the transient map (``register``): it never enters a block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chaincode.contracts.consent_vc import CONTEXT, credential_id, revocation_key
from clients.acapy import AcaPy
from clients.ledger import Consent, LedgerClient


@dataclass(frozen=True)
class Patient:
    """A patient as their own wallet knows them: one did:key, one pairwise DID per hospital."""

    did: str
    pairwise: dict[str, str]  # grantee MSP ID -> pairwise did:key


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def consent_document(patient: Patient, grantee: str, purpose: str, from_ms: int, until_ms: int,
                     categories: tuple[str, ...] = ("tabular",)) -> dict[str, Any]:  # fmt: skip
    """The unsigned consent credential (ACA-Py adds the proof)."""
    return {
        "@context": CONTEXT,
        "type": ["VerifiableCredential", "ConsentCredential"],
        "issuer": patient.did,
        "issuanceDate": iso(from_ms),
        "credentialSubject": {
            "id": patient.pairwise[grantee],
            "grantee": grantee,
            "purpose": purpose,
            "dataCategories": list(categories),
            "consentFrom": iso(from_ms),
            "consentUntil": iso(until_ms),
        },
    }


@dataclass(frozen=True)
class Grant:
    """What the patient's wallet keeps of one consent it issued: the subject it names, the
    consent's id on the ledger and the key a revocation must carry."""

    subject: str
    consent_id: str
    revocation_key: str


class PatientSide:
    """The patients' ACA-Py agent (issuer), connected to each hospital's agent."""

    def __init__(self, acapy: AcaPy, connections: dict[str, str]) -> None:
        self.acapy = acapy
        self.connections = connections  # grantee MSP ID -> connection id

    def new_patient(self, hospitals: list[str]) -> Patient:
        return Patient(self.acapy.create_did_key(), {h: self.acapy.create_did_key() for h in hospitals})

    def grant(self, patient: Patient, grantee: str, purpose: str, from_ms: int, until_ms: int) -> Grant:
        """Issue the consent credential to ``grantee``'s agent; returns once it is stored there,
        with what the patient keeps to revoke it (read from the patient's own exchange record)."""
        doc = consent_document(patient, grantee, purpose, from_ms, until_ms)
        exchange = self.acapy.issue_ld_credential(self.connections[grantee], doc)
        self.acapy.wait_issued(exchange)
        issued = self.acapy.issued_ld_credential(exchange)
        return Grant(patient.pairwise[grantee], credential_id(issued), revocation_key(issued))

    def revocation(self, patient: Patient, consent_id: str, key: str) -> str:
        """The patient's signed request to revoke ``consent_id``; ``key`` is the consent's
        revocation key (:func:`chaincode.contracts.consent_vc.revocation_key` of the credential)."""
        return self.acapy.sign_jws(patient.did, {"consent_id": consent_id, "action": "revoke", "key": key})


def stored_consents(hospital_agent: AcaPy, subject_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Consent credentials in the hospital's wallet (optionally for some subjects only)."""
    return [vc for vc in hospital_agent.w3c_credentials(subject_ids) if "ConsentCredential" in vc.get("type", [])]


def register(ledger: LedgerClient, vc: dict[str, Any], endorsers: list[str]) -> dict[str, Any]:
    """Register ``vc`` on the ledger; the credential travels in the transient map only.

    Every endorser must verify the credential, so it reaches the endorsing peers (in memory,
    never in a block). Only the grantee's peer stores it (its implicit collection); the others
    keep its hash. Fabric's gateway refuses to send transient data to peers outside the
    collection unless the client names the endorsing orgs it trusts with it: ``endorsers``
    (the consortium's hospitals, enough to satisfy the MAJORITY policy)."""
    return ledger.submit(Consent.register(json.dumps(vc).encode()), endorsing_orgs=endorsers).json()


def relay_revocation(ledger: LedgerClient, consent_id: str, jws: str) -> dict[str, Any]:
    """Relay the patient's signed revocation (``PatientSide.revocation``) to the ledger."""
    return ledger.submit(Consent.revoke(consent_id, jws)).json()
