"""`fedledger consent ...`: the demo's patients and their consents on the local network.

The patients' side (their DIDs, held in the patients' ACA-Py agent) and each hospital's link
table are recorded by the demo in ``<state>/consent/<study>.json``; these commands act on them:
a patient grants (again), revokes (signed in their wallet, relayed by the hospital), a hospital
erases a patient, and anyone on the channel reads consent status (hashes only).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from clients.ledger import Consent
from demo import cohort_index
from fedledger.network import open_network, state_dir_option

console = Console()
DAY_MS = 86_400_000


def load_index(state_root: Path, study_id: str) -> dict[str, Any]:
    try:
        return cohort_index.load(state_root, study_id)
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc}; run the demo first") from None


def _entry(index: dict[str, Any], org: str, pseudonym: str) -> dict[str, Any]:
    try:
        return index["hospitals"][org]["patients"][pseudonym]
    except KeyError:
        raise click.ClickException(f"{org} has no patient with pseudonym {pseudonym} in this cohort") from None


@click.group("consent")
def consent_group() -> None:
    """Patient consent credentials (DID/VC through ACA-Py) and their status on the ledger."""


@consent_group.command("status")
@state_dir_option
@click.option("--study", required=True, help="Study id (the consent's purpose).")
@click.option("--org", "org_name", required=True, help="Grantee hospital, e.g. HospitalA.")
@click.option("--as", "as_org", default="Regulator", show_default=True, help="Whose gateway reads.")
def status_cmd(state_dir: Path | None, study: str, org_name: str, as_org: str) -> None:
    """Count a hospital's consents for a study by status (hashes and windows only)."""
    from agent.consent.gate import snapshot

    net = open_network(state_dir)
    msp = net.org(org_name).msp_id
    with net.ledger(as_org, "User1") as ledger:
        items, bookmark = [], ""
        while True:
            page = ledger.evaluate(Consent.list(msp, study, bookmark=bookmark))
            items += page["items"]
            bookmark = page["bookmark"]
            if not bookmark:
                break
        now = int(time.time() * 1000)
        valid = len(snapshot(ledger.contract(Consent.NAME), msp, study, now).valid)  # consents, not records
    table = Table(title=f"Consents granted to {msp} for {study} (as {as_org} sees them)")
    table.add_column("status")
    table.add_column("count")
    for status, count in sorted(Counter(i["status"] for i in items).items()):
        table.add_row(status, str(count))
    table.add_row("valid now", str(valid))
    console.print(table)


@consent_group.command("revoke")
@state_dir_option
@click.option("--study", required=True)
@click.option("--org", "org_name", required=True, help="The hospital the consent was granted to.")
@click.option("--pseudonym", required=True, help="The patient's record pseudonym at that hospital.")
def revoke_cmd(state_dir: Path | None, study: str, org_name: str, pseudonym: str) -> None:
    """The patient revokes: their wallet signs, the hospital relays the revocation."""
    from agent.consent.credentials import Patient, PatientSide, relay_revocation

    net = open_network(state_dir)
    entry = _entry(load_index(net.state.root, study), org_name, pseudonym)
    side = PatientSide(net.aries("patients"), net.aries_connections())
    patient = Patient(entry["did"], {net.org(org_name).msp_id: entry["pairwise"]})
    with net.ledger(org_name, "User1") as ledger:
        record = relay_revocation(ledger, entry["consent_id"],
                                  side.revocation(patient, entry["consent_id"], entry["revocation_key"]))  # fmt: skip
    console.print(f"consent {entry['consent_id'][:16]}... is now {record['status']}")


@consent_group.command("erase")
@state_dir_option
@click.option("--study", required=True)
@click.option("--patient", "did", required=True, help="The patient's pairwise DID at the hospital.")
def erase_cmd(state_dir: Path | None, study: str, did: str) -> None:
    """GDPR art. 17: purge the patient's consent credential from private data and delete their
    rows (training data, link table) at the hospital; the ledger records the erasure by hash."""
    from agent.consent.erasure import erase_patient
    from agent.data.schema import Schema

    net = open_network(state_dir)
    index = load_index(net.state.root, study)
    for org_name, hospital in index["hospitals"].items():
        for pseudonym, entry in hospital["patients"].items():
            if entry["pairwise"] != did:
                continue
            if not entry.get("consent_id"):
                raise click.ClickException("this patient never granted consent: nothing on the ledger to erase")
            schema = Schema.load(Path(index["schema"]))
            with net.ledger(org_name, "Admin") as admin:
                erased = erase_patient(admin, entry["consent_id"], pseudonym, schema.pseudonym,
                                       [Path(hospital["train"])], Path(hospital["links"]))  # fmt: skip
            console.print(f"erased at {org_name}: credential purged (tx {erased.tx_id[:16]}...), rows deleted "
                          f"{erased.rows_removed}; no per-patient artifact exists to shred")  # fmt: skip
            return
    raise click.ClickException(f"no patient with pairwise DID {did} in study {study}")


@consent_group.command("grant")
@state_dir_option
@click.option("--study", required=True)
@click.option("--org", "org_name", required=True)
@click.option("--pseudonym", required=True, help="The patient's record pseudonym at that hospital.")
@click.option("--days", default=30, show_default=True, help="How long the consent holds.")
def grant_cmd(state_dir: Path | None, study: str, org_name: str, pseudonym: str, days: int) -> None:
    """A patient (e.g. one who declined) grants consent: issued through ACA-Py, registered by the
    hospital on the ledger."""
    from agent.consent.credentials import Patient, PatientSide, iso, register, stored_consents

    net = open_network(state_dir)
    index = load_index(net.state.root, study)
    entry = _entry(index, org_name, pseudonym)
    msp = net.org(org_name).msp_id
    side = PatientSide(net.aries("patients"), net.aries_connections())
    patient = Patient(entry["did"], {msp: entry["pairwise"]})
    now = int(time.time() * 1000)
    given = side.grant(patient, msp, study, now, now + days * DAY_MS)
    newest = [
        vc
        for vc in stored_consents(net.aries(org_name), [entry["pairwise"]])
        if vc["credentialSubject"]["purpose"] == study and vc["credentialSubject"]["consentFrom"] == iso(now)
    ]
    if len(newest) != 1:
        raise click.ClickException(f"expected the new credential in {org_name}'s wallet, found {len(newest)}")
    endorsers = [o.msp_id for o in net.topology.hospitals if o.has_peer]
    with net.ledger(org_name, "User1") as ledger:
        record = register(ledger, newest[0], endorsers)
    if record["consent_id"] != given.consent_id:
        raise click.ClickException("the ledger names another consent than the patient's wallet issued")
    entry["consent_id"] = record["consent_id"]
    entry["revocation_key"] = given.revocation_key
    cohort_index.save(net.state.root, study, index)
    console.print(f"consent {record['consent_id'][:16]}... registered for {org_name}, valid {days} days")
