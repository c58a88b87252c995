"""Consent on the real network, through real ACA-Py agents.

Patients' did:keys live in the patients' ACA-Py agent, which issues consent credentials over
DIDComm to HospitalA's agent; HospitalA registers them on the ledger (transient map only),
the training gate keeps exactly the consented records, a patient's signed revocation relayed
by another hospital removes one, an erasure purges another from private data, a forged
credential changes nothing, and a scan of every block finds no patient identifier.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import uuid

import numpy as np
import pytest

from agent.consent.credentials import PatientSide, register, relay_revocation, stored_consents
from agent.consent.gate import consented, snapshot
from agent.data.schema import Records
from agent.gateway import GatewayError
from chaincode.contracts.consent_vc import credential_id
from fedledger.consortium_admin import Admins
from network.aries import read_connections
from network.consortium import Network
from network.topology import CHAINCODE_NAME, CHANNEL

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000


def test_consent_through_acapy_gates_training_and_erasure_is_real(network: Network) -> None:
    with Admins(network) as admins:
        admins.register_hospitals()
    purpose = f"consent-{uuid.uuid4().hex[:6]}"
    a_msp = network.org("HospitalA").msp_id
    patients_side = PatientSide(network.aries("patients"), read_connections(network.state))
    now = int(time.time() * 1000)
    patients = [patients_side.new_patient([a_msp]) for _ in range(3)]
    started = time.monotonic()
    for p in patients:
        patients_side.grant(p, a_msp, purpose, now - HOUR_MS, now + 24 * HOUR_MS)
    issue_s = (time.monotonic() - started) / len(patients)
    subjects = [p.pairwise[a_msp] for p in patients]
    vcs = {vc["credentialSubject"]["id"]: vc for vc in stored_consents(network.aries("HospitalA"), subjects)}
    assert set(vcs) == set(subjects)

    with network.gateway("HospitalA", "User1") as a, network.gateway("HospitalA", "Admin") as a_admin, \
            network.gateway("HospitalB", "User1") as b:  # fmt: skip
        consent_a = a.network(CHANNEL).contract(CHAINCODE_NAME, "Consent")
        hospitals = [network.org(n).msp_id for n in ("HospitalA", "HospitalB", "HospitalC")]
        ids = {s: register(consent_a, vcs[s], hospitals)["consent_id"] for s in subjects}
        assert ids == {s: credential_id(vcs[s]) for s in subjects}

        # forged and tampered credentials are refused and change nothing
        height = a.network(CHANNEL).height()
        forged = copy.deepcopy(vcs[subjects[0]])
        forged["credentialSubject"]["purpose"] = "another-study"
        with pytest.raises(GatewayError) as refused:
            register(consent_a, forged, hospitals)
        assert refused.value.chaincode_status == 400 and "signature does not verify" in str(refused.value)
        consent_b = b.network(CHANNEL).contract(CHAINCODE_NAME, "Consent")
        with pytest.raises(GatewayError) as wrong:  # HospitalB presenting A's credential
            register(consent_b, vcs[subjects[1]], hospitals)
        assert "not to HospitalBMSP" in str(wrong.value)
        assert a.network(CHANNEL).height() == height

        # the gate: three consented patients and two without consent
        records = Records(np.zeros((5, 2), np.float32), np.zeros(5, np.float32),
                          np.array([*subjects, "did:key:z6MkNoConsentA", "did:key:z6MkNoConsentB"]))  # fmt: skip
        assert list(consented(records, snapshot(consent_a, a_msp, purpose, now)).pseudonyms) == subjects
        assert len(consented(records, snapshot(consent_a, a_msp, purpose, now + 25 * HOUR_MS))) == 0  # expired

        # the patient revokes (signed in their own wallet); HospitalB relays it
        jws = patients_side.revocation(patients[1], ids[subjects[1]])
        revoked = b.network(CHANNEL).contract(CHAINCODE_NAME, "Consent").submit(
            "Revoke", {"consent_id": ids[subjects[1]]}, transient={"revocation": jws.encode()})  # fmt: skip
        a.network(CHANNEL).wait_for_commit(revoked.tx_id)
        with pytest.raises(GatewayError) as twice:
            relay_revocation(consent_b, ids[subjects[1]], jws)
        assert twice.value.chaincode_status == 409
        kept = consented(records, snapshot(consent_a, a_msp, purpose, now))
        assert list(kept.pseudonyms) == [subjects[0], subjects[2]]

        # erasure: the credential is purged from private data on every peer
        target = ids[subjects[2]]
        assert json.loads(consent_a.evaluate("GetCredential", {"consent_id": target})["credential_json"]) == vcs[
            subjects[2]]  # fmt: skip
        erased = a_admin.network(CHANNEL).contract(CHAINCODE_NAME, "Consent").submit("Erase", {"consent_id": target})
        a.network(CHANNEL).wait_for_commit(erased.tx_id)
        with pytest.raises(GatewayError) as gone:
            consent_a.evaluate("GetCredential", {"consent_id": target})
        assert gone.value.chaincode_status == 404
        assert consent_a.evaluate("Get", {"consent_id": target})["status"] == "erased"
        assert list(consented(records, snapshot(consent_a, a_msp, purpose, now)).pseudonyms) == [subjects[0]]

        # an auditor's scan of every block: no patient DID, issuer or subject, appears anywhere
        network_a = a.network(CHANNEL)
        blocks = b"".join(network_a.block_bytes(n) for n in range(network_a.height()))
        for p in patients:
            for did in (p.did, *p.pairwise.values()):
                assert did.encode() not in blocks
        assert hashlib.sha256(subjects[0].encode()).hexdigest().encode() in blocks  # hashes are what it holds
    print(f"issue + store via ACA-Py: {issue_s * 1000:.0f} ms per credential")
