"""The training gate: only records whose patient holds a valid consent for this purpose.

The hospital reads its consents for the study from the ledger (``Consent:List``: hashes,
windows, and when a consent was revoked or erased) and keeps the records whose patient's
pairwise DID hashes to a consent that was valid **at the round's start** (its opening
transaction's timestamp): inside its window, not revoked and not erased by then. Validity is
thus a function of the ledger's own order, the same whenever the agent reads it. No consent at
all excludes the record; so does an erasure at any time, since the hospital deletes the
patient's rows from its files. A record's pseudonym is the patient's pairwise DID, or is mapped to it by the hospital's
own link table (``links``: pseudonym -> DID), which never leaves the hospital.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from agent.data.schema import Records
from agent.gateway import Contract


@dataclass(frozen=True)
class ConsentSnapshot:
    """The subject hashes with a consent valid at ``at_ms``, and how many were not."""

    at_ms: int
    valid: frozenset[str]
    invalid: int


def snapshot(consent: Contract, grantee: str, purpose: str, at_ms: int) -> ConsentSnapshot:
    """Read every page of the hospital's consents for ``purpose`` and keep the valid ones."""
    valid, invalid, bookmark = set(), 0, ""
    while True:
        page = consent.evaluate("List", {"grantee": grantee, "purpose": purpose, "bookmark": bookmark})
        for item in page["items"]:
            if valid_at(item, at_ms):
                valid.add(item["subject_hash"])
            else:
                invalid += 1
        bookmark = page["bookmark"]
        if not bookmark:
            return ConsentSnapshot(at_ms, frozenset(valid), invalid)


def valid_at(item: dict, at_ms: int) -> bool:
    """Was this consent (a ``Consent:List`` item) in force at ``at_ms``?"""
    ended = [t for t in (item.get("revoked_at_ms"), item.get("erased_at_ms")) if t is not None]
    return item["from_ms"] <= at_ms < item["until_ms"] and all(at_ms < t for t in ended)


def consented(records: Records, snap: ConsentSnapshot, links: Mapping[str, str] | None = None) -> Records:
    """The subset of ``records`` whose patient has a valid consent in ``snap``."""
    mask = np.fromiter(
        (
            hashlib.sha256((links.get(p, "") if links is not None else p).encode()).hexdigest() in snap.valid
            for p in records.pseudonyms
        ),
        dtype=bool,
        count=len(records),
    )
    return records.subset(mask)
