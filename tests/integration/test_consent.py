"""Consent on the real network, through real ACA-Py agents.

Patients' did:keys live in the patients' ACA-Py agent, which issues consent credentials over
DIDComm to HospitalA's agent; HospitalA registers them on the ledger (transient map only),
the training gate keeps exactly the consented records, a patient's signed revocation relayed
by another hospital removes one, an erasure purges another from private data, a forged
credential changes nothing, and a scan of every block finds no patient identifier.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from agent.consent.credentials import PatientSide, register, relay_revocation, stored_consents
from agent.consent.gate import SubjectIndex, consented, snapshot
from agent.data import demo_split
from agent.data.schema import Records
from chaincode.contracts.consent_vc import credential_id
from clients.fabric import GatewayError
from clients.ledger import Consent, Diagnostics, Round
from demo.agent_study import StudyPlan, run_agent_study
from demo.consortium_admin import register_hospitals
from network.admins import Admins
from network.consortium import LocalConsortium

pytestmark = pytest.mark.integration
HOUR_MS = 3_600_000


def test_consent_through_acapy_gates_training_and_erasure_is_real(network: LocalConsortium) -> None:
    with Admins(network) as admins:
        register_hospitals(admins)
    purpose = f"consent-{uuid.uuid4().hex[:6]}"
    a_msp = network.org("HospitalA").msp_id
    patients_side = PatientSide(network.aries("patients"), network.aries_connections())
    now = int(time.time() * 1000)
    patients = [patients_side.new_patient([a_msp]) for _ in range(3)]
    started = time.monotonic()
    grants = [patients_side.grant(p, a_msp, purpose, now - HOUR_MS, now + 24 * HOUR_MS) for p in patients]
    issue_s = (time.monotonic() - started) / len(patients)
    subjects = [p.pairwise[a_msp] for p in patients]
    vcs = {vc["credentialSubject"]["id"]: vc for vc in stored_consents(network.aries("HospitalA"), subjects)}
    assert set(vcs) == set(subjects)

    with network.ledger("HospitalA", "User1") as a, network.ledger("HospitalA", "Admin") as a_admin, \
            network.ledger("HospitalB", "User1") as b:  # fmt: skip
        consent_a = a.contract(Consent.NAME)  # the training gate reads through the Consent contract's handle
        hospitals = [network.org(n).msp_id for n in ("HospitalA", "HospitalB", "HospitalC")]
        ids = {s: register(a, vcs[s], hospitals)["consent_id"] for s in subjects}
        assert ids == {s: credential_id(vcs[s]) for s in subjects} == {g.subject: g.consent_id for g in grants}

        # forged and tampered credentials are refused and change nothing
        height = a.network.height()
        forged = copy.deepcopy(vcs[subjects[0]])
        forged["credentialSubject"]["purpose"] = "another-study"
        with pytest.raises(GatewayError) as refused:
            register(a, forged, hospitals)
        assert refused.value.chaincode_status == 400 and "signature does not verify" in str(refused.value)
        with pytest.raises(GatewayError) as wrong:  # HospitalB presenting A's credential
            register(b, vcs[subjects[1]], hospitals)
        assert "not to HospitalBMSP" in str(wrong.value)
        assert a.network.height() == height

        # the gate: three consented patients and two without consent
        records = Records(np.zeros((5, 2), np.float32), np.zeros(5, np.float32),
                          np.array([*subjects, "did:key:z6MkNoConsentA", "did:key:z6MkNoConsentB"]))  # fmt: skip
        index = SubjectIndex(consent_a)  # which patient each consent is about: A's own private data
        assert list(consented(records, snapshot(consent_a, a_msp, purpose, now), index).pseudonyms) == subjects
        assert len(consented(records, snapshot(consent_a, a_msp, purpose, now + 25 * HOUR_MS), index)) == 0

        # the patient revokes (signed in their own wallet); HospitalB relays it
        jws = patients_side.revocation(patients[1], ids[subjects[1]], grants[1].revocation_key)
        revoked = b.submit(Consent.revoke(ids[subjects[1]], jws))
        a.wait_for_commit(revoked.tx_id)
        with pytest.raises(GatewayError) as twice:
            relay_revocation(b, ids[subjects[1]], jws)
        assert twice.value.chaincode_status == 409
        later = int(time.time() * 1000) + 1
        kept = consented(records, snapshot(consent_a, a_msp, purpose, later), index)
        assert list(kept.pseudonyms) == [subjects[0], subjects[2]]
        # the revoked credential re-encoded (key order, spacing, escapes) is the same consent: 409
        height = a.network.height()
        for variant in (json.dumps(vcs[subjects[1]], sort_keys=True, indent=2),
                        json.dumps(dict(reversed(list(vcs[subjects[1]].items()))), ensure_ascii=True)):  # fmt: skip
            with pytest.raises(GatewayError) as again:
                a.submit(Consent.register(variant.encode()), endorsing_orgs=hospitals)
            assert again.value.chaincode_status == 409 and "(revoked)" in str(again.value)
        # a blank-node graph under a member a consent does not have: refused before any JSON-LD work
        bomb = copy.deepcopy(vcs[subjects[0]])
        bomb["credentialSubject"]["evidence"] = [{"@type": "x", "p": [{"q": i % 2}] * 3} for i in range(40)]
        started_bomb = time.monotonic()
        with pytest.raises(GatewayError) as refused_bomb:
            register(a, bomb, hospitals)
        bomb_s = time.monotonic() - started_bomb
        assert refused_bomb.value.chaincode_status == 400 and "'evidence'" in str(refused_bomb.value)
        assert a.network.height() == height

        # erasure: the credential is purged from private data on every peer
        target = ids[subjects[2]]
        assert json.loads(a.evaluate(Consent.get_credential(target))["credential_json"]) == vcs[subjects[2]]
        peer_orgs = [o.msp_id for o in network.topology.peer_orgs]

        def private_hashes() -> list[str | None]:  # what each org's own peer holds for it
            return [a.evaluate(Diagnostics.get_private_hash(target, a_msp), target_orgs=[m])["sha256"]
                    for m in peer_orgs]  # fmt: skip

        assert all(private_hashes())  # every peer holds the hash; only A's peer the credential
        erased = a_admin.submit(Consent.erase(target))
        for n in ("HospitalA", "HospitalB", "HospitalC", "Regulator"):
            with network.ledger(n, "User1") as g:
                g.wait_for_commit(erased.tx_id)
        assert private_hashes() == [None] * len(peer_orgs)  # purged on every peer
        with pytest.raises(GatewayError) as gone:
            a.evaluate(Consent.get_credential(target))
        assert gone.value.chaincode_status == 404
        assert a.evaluate(Consent.get(target))["status"] == "erased"
        later = int(time.time() * 1000) + 1
        assert list(consented(records, snapshot(consent_a, a_msp, purpose, later), index).pseudonyms) == [
            subjects[0]]  # fmt: skip
        # validity is judged at a moment (a round's start): before the revocation and the erasure
        # all three counted (the erased patient's rows are gone from the hospital's files anyway)
        assert len(consented(records, snapshot(consent_a, a_msp, purpose, now), SubjectIndex(consent_a))) == 2
        # (the erased patient's credential is gone from private data: nothing names them any more)

        # an auditor's scan of every block: no patient DID, issuer or subject, nor its hash, anywhere
        network_a = a.network
        blocks = b"".join(network_a.block_bytes(n) for n in range(network_a.height()))
        for p in patients:
            for did in (p.did, *p.pairwise.values()):
                digest = hashlib.sha256(did.encode()).digest()
                for needle in (did.encode(), digest, digest.hex().encode()):
                    assert needle not in blocks, f"{did} is linkable from the blocks"
    print(
        f"issue + store via ACA-Py: {issue_s * 1000:.0f} ms per credential; blank-node graph refused in "
        f"{bomb_s * 1000:.0f} ms end to end"
    )


def test_a_consent_gated_study_drops_a_revoked_and_an_erased_patient_in_later_rounds(
    network: LocalConsortium, tmp_path: Path
) -> None:
    """Three agents, three rounds, patients consenting through ACA-Py: the records each round
    trained on (committed on the ledger) lose exactly the revoked (HospitalA, after round 0) and
    the erased (HospitalB, after round 1) patient."""
    with Admins(network) as admins:
        register_hospitals(admins)
    small = _small_split(tmp_path, rows=12)
    run = run_agent_study(network, Console(width=120, force_terminal=False),
                          StudyPlan(rounds=3, consent="ledger", data=small),
                          study_id=f"consented-{uuid.uuid4().hex[:6]}", timeout_s=600)  # fmt: skip
    cohort = run.cohort
    assert cohort is not None and [e["what"] for e in cohort.events] == ["revoked", "erased"]
    records = [r["records"] for r in run.report.rounds]
    a, b, c = (network.org(n).msp_id for n in ("HospitalA", "HospitalB", "HospitalC"))
    consented_count = {m: len(cohort.consent_ids[n]) for m, n in ((a, "HospitalA"), (b, "HospitalB"),
                                                                  (c, "HospitalC"))}  # fmt: skip
    assert records[0] == consented_count  # only consented records, all of them
    # each later round lacks exactly the patients whose consent ended before it opened (the
    # ledger's own order decides); an erased patient's rows are also gone from the hospital's file
    with network.ledger("Regulator", "User1") as regulator:
        revoked_at = regulator.evaluate(Consent.get(sorted(cohort.consent_ids["HospitalA"].items())[0][1]))[
            "revoked_at_ms"]  # fmt: skip
        erased_at = regulator.evaluate(Consent.get(sorted(cohort.consent_ids["HospitalB"].items())[0][1]))[
            "erased_at_ms"]  # fmt: skip
        opened = [regulator.evaluate(Round.get(run.study_id, r))["transitions"][0]["ts_ms"] for r in range(3)]
    assert opened[0] < revoked_at < erased_at
    for r in (1, 2):
        assert records[r][a] == consented_count[a] - (1 if revoked_at < opened[r] else 0)
        assert records[r][c] == consented_count[c]
        if erased_at < opened[r]:
            assert records[r][b] == consented_count[b] - 1
        else:  # erased while the round ran: excluded only if the agent read its file after the deletion
            assert records[r][b] in (consented_count[b], consented_count[b] - 1)
    assert revoked_at < opened[2], "a revocation after round 0 lands before round 2 opens"
    erased_row = sorted(cohort.consent_ids["HospitalB"])[0]
    train_b = pd.read_csv(run.agents[b].train)
    assert erased_row not in set(train_b["patient_pseudonym"])  # gone from the hospital's own copy

    # an auditor scans every block: no record pseudonym, patient DID or raw record value
    with network.ledger("Regulator", "User1") as regulator:
        net_r = regulator.network
        blocks = b"".join(net_r.block_bytes(n) for n in range(net_r.height()))
    needles = set()
    for n, path in small.train_paths.items():
        table = pd.read_csv(path, dtype=str)
        needles |= set(table["patient_pseudonym"])
        needles |= {v for col in table.columns[:-2] for v in table[col] if len(v) >= 8}  # full-precision values
        dids = {p.did for p in cohort.patients[n].values()}
        dids |= {d for p in cohort.patients[n].values() for d in p.pairwise.values()}
        needles |= dids | {hashlib.sha256(d.encode()).hexdigest() for d in dids}  # identifiers and their hashes
    assert len(needles) > 300
    leaked = sorted(x for x in needles if x.encode() in blocks)
    assert not leaked, leaked[:5]


def _small_split(tmp_path: Path, rows: int) -> demo_split.DemoData:
    base = demo_split.build(tmp_path / "full")
    train = {}
    for n, path in base.train_paths.items():
        train[n] = tmp_path / f"{n.lower()}_train.csv"
        pd.read_csv(path).head(rows).to_csv(train[n], index=False)
    return dataclasses.replace(base, train_paths=train)
