"""Consent benchmark: issuing through ACA-Py, registering on the ledger, verifying in the
chaincode, and filtering training records by consent.

* ``issue_store_ms``: the patients' ACA-Py agent issues a consent credential over DIDComm and
  HospitalA's agent stores it (issue-credential 2.0, ld_proof), one at a time.
* ``register_ms``: ``Consent:Register`` submitted until committed (endorsed by three peers, each
  verifying the credential), one at a time.
* ``verify_ms``: the chaincode's verification (`check_consent`: pinned contexts, dropped-term
  check, URDNA2015, Ed25519) in this process, warm, median of many: what each endorser spends.
* ``filter_100k_s``: the training gate (agent/consent/gate.py ``consented``) over 100 000
  records whose pseudonyms are patient DIDs, against 50 000 valid consents, with the consent
  -> patient index already warm (as in every round after a consent's first): a set of the
  valid consents' DIDs and one lookup per record. ``subjects_50k_s``: warming that index, each
  consent's credential JSON parsed for its subject; here the credentials come from memory, on
  a hospital each is one ``Consent:GetCredential`` query to its own peer, once per consent.
  Reading a hospital's consents from the ledger is reported separately as ``list_s`` for the
  consents actually on the ledger.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import numpy as np

from agent.consent.credentials import PatientSide, register, stored_consents
from agent.consent.gate import ConsentSnapshot, SubjectIndex, consented, snapshot
from agent.data.schema import Records
from bench.throwaway import registered_network
from chaincode.contracts.consent_vc import check_consent
from clients.ledger import Consent
from network.aries import read_connections

DAY_MS = 86_400_000


def run(port_base: int, credentials: int = 30, progress: Any = print) -> dict[str, Any]:
    with registered_network("consentbench", port_base, progress, with_ipfs=False) as net:
        a_msp = net.org("HospitalA").msp_id
        side = PatientSide(net.aries("patients"), read_connections(net.state))
        now = int(time.time() * 1000)
        purpose = "bench-consent"
        patients = [side.new_patient([a_msp]) for _ in range(credentials)]
        issue = []
        for p in patients:
            t = time.monotonic()
            side.grant(p, a_msp, purpose, now - DAY_MS, now + DAY_MS)
            issue.append(time.monotonic() - t)
        progress(f"issue + store through ACA-Py: median {statistics.median(issue) * 1000:.0f} ms")
        vcs = stored_consents(net.aries("HospitalA"), [p.pairwise[a_msp] for p in patients])
        hospitals = [net.org(n).msp_id for n in ("HospitalA", "HospitalB", "HospitalC")]
        reg = []
        with net.ledger("HospitalA", "User1") as ledger:
            for vc in vcs:
                t = time.monotonic()
                register(ledger, vc, hospitals)
                reg.append(time.monotonic() - t)
            t = time.monotonic()
            snap = snapshot(ledger.contract(Consent.NAME), a_msp, purpose, now)
            list_s = time.monotonic() - t
        progress(f"ledger registration: median {statistics.median(reg) * 1000:.0f} ms")
        check_consent(vcs[0], a_msp, now)  # warm the context cache, as a running chaincode service is
        verify = []
        for vc in vcs * max(1, 200 // len(vcs)):
            t = time.perf_counter()
            check_consent(vc, a_msp, now)
            verify.append(time.perf_counter() - t)
        progress(f"in-chaincode verification: median {statistics.median(verify) * 1000:.1f} ms")
    n = 100_000
    dids = np.array([f"did:key:z6Mk{i:040d}" for i in range(n)])
    valid = {f"consent-{i}": str(d) for i, d in enumerate(dids[::2])}
    big = ConsentSnapshot(now, frozenset(valid), frozenset(), 0)
    records = Records(np.zeros((n, 30), np.float32), np.zeros(n, np.float32), dids)
    index = SubjectIndex(_Credentials(valid))  # type: ignore[arg-type]
    t = time.perf_counter()
    index.subjects(big.valid)
    subjects_s = time.perf_counter() - t
    t = time.perf_counter()
    kept = consented(records, big, index)
    filter_s = time.perf_counter() - t
    assert len(kept) == n // 2 and len(snap.valid) == len(vcs)
    progress(f"consent index for 50k consents: {subjects_s:.2f} s; filter 100k records: {filter_s:.2f} s")
    return {
        "benchmark": "consent",
        "credentials": len(vcs),
        "issue_store_ms": round(statistics.median(issue) * 1000, 1),
        "register_ms": round(statistics.median(reg) * 1000, 1),
        "verify_ms": round(statistics.median(verify) * 1000, 2),
        "verify_p95_ms": round(sorted(verify)[int(len(verify) * 0.95)] * 1000, 2),
        "list_s": round(list_s, 3),
        "filter_100k_s": round(filter_s, 3),
        "subjects_50k_s": round(subjects_s, 3),
        "targets": {"verify_ms": "<= 20", "filter_100k_s": "<= 1"},
    }


class _Credentials:
    """The Consent contract's credential query answered from memory (the bench times the gate,
    not the peer)."""

    def __init__(self, subjects: dict[str, str]) -> None:
        self.subjects = subjects

    def evaluate(self, function: str, args: dict[str, Any]) -> dict[str, str]:
        assert function == "GetCredential"
        return {"credential_json": json.dumps({"credentialSubject": {"id": self.subjects[args["consent_id"]]}})}
