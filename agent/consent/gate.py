"""The training gate: only records whose patient holds a valid consent for this purpose.

The hospital reads its consents for the study from the ledger (``Consent:List``: ids, windows,
and when a consent was revoked or erased) and keeps the records whose patient holds a consent
that was valid **at the round's start** (its opening transaction's timestamp): inside its
window, not revoked and not erased by then. Validity is thus a function of the ledger's own
order, the same whenever the agent reads it. No consent at all excludes the record; so does an
erasure at any time, since the hospital deletes the patient's rows from its files.

The public ledger names no patient, not even by a hash: which patient a consent is about is
read from the hospital's own private data (``Consent:GetCredential``, its implicit collection)
by :class:`SubjectIndex`, kept in memory and forgotten once the consent is erased. A record's
pseudonym is the patient's pairwise DID, or is mapped to it by the hospital's own link table
(``links``: pseudonym -> DID), which never leaves the hospital.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agent.data.schema import Records
from clients.fabric import Contract, GatewayError
from clients.ledger import Consent


@dataclass(frozen=True)
class ConsentSnapshot:
    """The consents valid at ``at_ms``, the erased ones, and how many were not valid."""

    at_ms: int
    valid: frozenset[str]  # consent ids
    erased: frozenset[str]
    invalid: int


class SubjectIndex:
    """Consent id -> the patient's pairwise DID, for this hospital's own consents.

    Read once per consent from the hospital's private data; an erased consent is dropped from
    memory as soon as the ledger says so (its credential is gone from private data too).
    ``consent``: the hospital's handle of the Consent contract (``LedgerClient.contract``)."""

    def __init__(self, consent: Contract) -> None:
        self._consent = consent
        self._subjects: dict[str, str | None] = {}

    def subject(self, consent_id: str) -> str | None:
        if consent_id not in self._subjects:
            try:
                call = Consent.get_credential(consent_id)
                raw = self._consent.evaluate(call.function, call.args)["credential_json"]
                self._subjects[consent_id] = json.loads(raw)["credentialSubject"]["id"]
            except GatewayError as exc:
                if exc.chaincode_status != 404:
                    raise
                self._subjects[consent_id] = None  # erased: no credential left
        return self._subjects[consent_id]

    def forget(self, consent_ids: Iterable[str]) -> None:
        for consent_id in consent_ids:
            self._subjects.pop(consent_id, None)

    def subjects(self, consent_ids: Iterable[str]) -> frozenset[str]:
        found = (self.subject(c) for c in consent_ids)
        return frozenset(s for s in found if s is not None)


def snapshot(consent: Contract, grantee: str, purpose: str, at_ms: int) -> ConsentSnapshot:
    """Read every page of the hospital's consents for ``purpose`` and keep the valid ones
    (``consent``: the hospital's handle of the Consent contract, ``LedgerClient.contract``)."""
    valid, erased, invalid, bookmark = set(), set(), 0, ""
    while True:
        call = Consent.list(grantee, purpose, bookmark=bookmark)
        page = consent.evaluate(call.function, call.args)
        for item in page["items"]:
            if item.get("erased_at_ms") is not None:
                erased.add(item["consent_id"])
            if valid_at(item, at_ms):
                valid.add(item["consent_id"])
            else:
                invalid += 1
        bookmark = page["bookmark"]
        if not bookmark:
            return ConsentSnapshot(at_ms, frozenset(valid), frozenset(erased), invalid)


def valid_at(item: dict, at_ms: int) -> bool:
    """Was this consent (a ``Consent:List`` item) in force at ``at_ms``?"""
    ended = [t for t in (item.get("revoked_at_ms"), item.get("erased_at_ms")) if t is not None]
    return item["from_ms"] <= at_ms < item["until_ms"] and all(at_ms < t for t in ended)


def consented(
    records: Records, snap: ConsentSnapshot, index: SubjectIndex, links: Mapping[str, str] | None = None
) -> Records:
    """The subset of ``records`` whose patient has a valid consent in ``snap``."""
    index.forget(snap.erased)
    valid = index.subjects(snap.valid)
    mask = np.fromiter(
        ((links.get(p, "") if links is not None else p) in valid for p in records.pseudonyms),
        dtype=bool,
        count=len(records),
    )
    return records.subset(mask)


def cohort_digest(records: Records, snap: ConsentSnapshot, index: SubjectIndex,
                  links: Mapping[str, str] | None = None) -> str:  # fmt: skip
    """SHA-256 of the sorted ids of the consents the kept ``records`` rest on (canonical JSON
    list): a commitment to the round's consented cohort that names no patient. Consent ids are
    public on the ledger, so an auditor holding the claimed list recomputes the digest."""
    present = {links.get(p, "") if links is not None else p for p in records.pseudonyms}
    used = sorted(c for c in snap.valid if index.subject(c) in present)
    return hashlib.sha256(json.dumps(used, separators=(",", ":")).encode()).hexdigest()


class LinkTableError(ValueError):
    """The hospital's link table cannot be read."""


def read_links(path: Path) -> dict[str, str]:
    """The hospital's link table: record pseudonym -> the patient's pairwise DID."""
    try:
        table = pd.read_csv(path, dtype=str)
    except (OSError, ValueError) as exc:
        raise LinkTableError(f"{path}: cannot read the link table: {str(exc).splitlines()[0][:200]}") from None
    if list(table.columns[:2]) != ["pseudonym", "did"]:
        raise LinkTableError(f"{path}: a link table needs the columns pseudonym,did")
    return dict(zip(table["pseudonym"], table["did"], strict=True))
