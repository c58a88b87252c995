"""The demo's patients: they enroll at their hospital, most grant consent for the study
through ACA-Py, the hospitals register the credentials on the ledger; during the study one
patient revokes and one is erased.

Each training record is one patient. Enrolling creates the patient's did:key and a pairwise
did:key for their hospital in the patients' ACA-Py agent (their wallets) and adds a row to the
hospital's link table (record pseudonym -> pairwise DID), which stays at the hospital.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from agent.consent.credentials import Grant, Patient, PatientSide, register, stored_consents
from agent.data import demo_split
from agent.data.schema import Schema, load_records
from demo import cohort_index
from demo.progress import counted
from network.aries import read_connections
from network.consortium import LocalConsortium

DAY_MS = 86_400_000
ISSUE_THREADS = 4  # ACA-Py's holder wallet times out under much more concurrency on 2 cores
REGISTER_THREADS = 8


@dataclass
class Cohort:
    """What the demo knows about its patients (the patients' side and each hospital's side)."""

    study_id: str
    links: dict[str, Path] = field(default_factory=dict)  # hospital name -> link table
    patients: dict[str, dict[str, Patient]] = field(default_factory=dict)  # hospital -> pseudonym -> patient
    consent_ids: dict[str, dict[str, str]] = field(default_factory=dict)  # hospital -> pseudonym -> id
    # what each patient's wallet keeps to revoke: hospital -> pseudonym -> Grant (id + revocation key)
    grants: dict[str, dict[str, Grant]] = field(default_factory=dict)
    declined: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # revocations and erasures, in order
    issue_s: float = 0.0
    register_s: float = 0.0


def enroll_and_consent(
    net: LocalConsortium, data: demo_split.DemoData, study_id: str, console: Console, share: float = 0.95, seed: int = 3
) -> Cohort:
    """Enroll every training record's patient, let ``share`` of them grant consent for the
    study through ACA-Py, and register the credentials on the ledger."""
    schema = Schema.load(data.schema_path)
    side = PatientSide(net.aries("patients"), read_connections(net.state))
    cohort = Cohort(study_id)
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    names = [o.name for o in net.topology.hospitals if o.has_peer]
    grants: list[tuple[str, str, Patient]] = []
    records = {n: [str(p) for p in load_records(data.train_paths[n], schema).pseudonyms] for n in names}
    total = sum(len(v) for v in records.values())
    with counted(console, "patients enroll (a did:key each, pairwise with their hospital)", total) as advance:

        def enroll(msp: str) -> Patient:
            patient = side.new_patient([msp])
            advance()
            return patient

        enrolled = {}
        for n in names:
            msp = net.org(n).msp_id
            with ThreadPoolExecutor(ISSUE_THREADS) as pool:
                enrolled[n] = list(pool.map(lambda _, m=msp: enroll(m), records[n]))
    for n in names:
        msp, pseudonyms, patients = net.org(n).msp_id, records[n], enrolled[n]
        cohort.patients[n] = dict(zip(pseudonyms, patients, strict=True))
        link_path = net.state.root / "agents" / net.org(n).short / study_id / "links.csv"
        link_path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"pseudonym": pseudonyms, "did": [p.pairwise[msp] for p in patients]}).to_csv(
            link_path, index=False
        )
        cohort.links[n] = link_path
        consenting = [ps for ps in pseudonyms if rng.random() < share]
        cohort.declined[n] = len(pseudonyms) - len(consenting)
        grants += [(n, ps, cohort.patients[n][ps]) for ps in consenting]
    started = time.monotonic()
    with counted(console, "patients grant consent through ACA-Py", len(grants)) as advanced:

        def grant(item: tuple[str, str, Patient]) -> tuple[str, str, Grant]:
            n, pseudonym, patient = item
            given = side.grant(patient, net.org(n).msp_id, study_id, now - DAY_MS, now + 30 * DAY_MS)
            advanced()
            return n, pseudonym, given

        with ThreadPoolExecutor(ISSUE_THREADS) as pool:
            for n, pseudonym, given in pool.map(grant, grants):
                cohort.grants.setdefault(n, {})[pseudonym] = given
    cohort.issue_s = time.monotonic() - started
    started = time.monotonic()
    endorsers = [net.org(n).msp_id for n in names]
    for n in names:
        msp = net.org(n).msp_id
        by_subject = {p.pairwise[msp]: ps for ps, p in cohort.patients[n].items()}
        vcs = [
            vc
            for vc in stored_consents(net.aries(n))
            if vc["credentialSubject"]["id"] in by_subject and vc["credentialSubject"]["purpose"] == study_id
        ]
        with net.ledger(n, "User1") as ledger, ThreadPoolExecutor(REGISTER_THREADS) as pool:
            records = list(pool.map(lambda vc, c=ledger: register(c, vc, endorsers), vcs))
        cohort.consent_ids[n] = {
            by_subject[vc["credentialSubject"]["id"]]: r["consent_id"] for vc, r in zip(vcs, records, strict=True)
        }
    cohort.register_s = time.monotonic() - started
    total = sum(len(v) for v in cohort.consent_ids.values())
    if total != len(grants):  # a consent granted but not registered would silently exclude a patient
        raise RuntimeError(f"{len(grants)} consents were granted but {total} registered on the ledger")
    mismatched = [ps for n, ids in cohort.consent_ids.items() for ps, cid in ids.items()
                  if cohort.grants[n][ps].consent_id != cid]  # fmt: skip
    if mismatched:  # the patient's wallet and the ledger must name the same consent
        raise RuntimeError(f"{len(mismatched)} consents have another id on the ledger than in the patient's wallet")
    cohort_index.save(net.state.root, study_id, {
        "schema": str(data.schema_path),
        "hospitals": {n: {"train": str(data.train_paths[n]), "links": str(cohort.links[n]), "patients": {
            ps: {"did": p.did, "pairwise": p.pairwise[net.org(n).msp_id],
                 "consent_id": cohort.consent_ids[n].get(ps),
                 "revocation_key": g.revocation_key if (g := cohort.grants.get(n, {}).get(ps)) else None}
            for ps, p in cohort.patients[n].items()}}
                      for n in names},
    })  # fmt: skip
    console.print(
        f"  {total} consent credentials issued through ACA-Py ({cohort.issue_s:.1f}s) and registered on "
        f"the ledger ({cohort.register_s:.1f}s); {sum(cohort.declined.values())} patients declined"
    )
    return cohort


def mid_study_events(
    net: LocalConsortium, cohort: Cohort, data: demo_split.DemoData, say: Callable[[str], None]
) -> Callable[[str, dict[str, Any]], None]:
    """A hook for the progress watcher: once round 0 is finalized a HospitalA patient revokes
    (signed in their wallet, relayed by HospitalB); once round 1 is finalized a HospitalB
    patient is erased (HospitalB's admin)."""
    from agent.consent.credentials import relay_revocation
    from agent.consent.erasure import erase_patient

    side = PatientSide(net.aries("patients"), read_connections(net.state))
    done: set[int] = set()

    def on_event(name: str, event: dict[str, Any]) -> None:
        if name != "round.finalized" or event.get("study") != cohort.study_id or event.get("round") in done:
            return
        r = event["round"]
        done.add(r)
        if r == 0 and cohort.consent_ids.get("HospitalA"):
            pseudonym, consent_id = sorted(cohort.consent_ids["HospitalA"].items())[0]
            patient = cohort.patients["HospitalA"][pseudonym]
            with net.ledger("HospitalB", "User1") as ledger:
                relay_revocation(
                    ledger,
                    consent_id,
                    side.revocation(patient, consent_id, cohort.grants["HospitalA"][pseudonym].revocation_key),
                )
            cohort.events.append({"after_round": r, "hospital": "HospitalA", "what": "revoked"})
            say(f"a HospitalA patient revoked consent (signed in their wallet, relayed by HospitalB) after round {r}")
        elif r == 1 and cohort.consent_ids.get("HospitalB"):
            pseudonym, consent_id = sorted(cohort.consent_ids["HospitalB"].items())[0]
            schema = Schema.load(data.schema_path)
            with net.ledger("HospitalB", "Admin") as admin:
                erased = erase_patient(
                    admin,
                    consent_id,
                    pseudonym,
                    schema.pseudonym,
                    [data.train_paths["HospitalB"]],
                    cohort.links["HospitalB"],
                )
            cohort.events.append(
                {
                    "after_round": r,
                    "hospital": "HospitalB",
                    "what": "erased",
                    "rows_removed": sum(erased.rows_removed.values()),
                }
            )
            rows = ", ".join(f"{Path(f).name} {k}" for f, k in erased.rows_removed.items())
            say(
                f"a HospitalB patient was erased after round {r}: credential purged from private data; rows "
                f"deleted at the hospital: {rows}"
            )

    return on_event
