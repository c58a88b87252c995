"""Erasure (GDPR art. 17) of one patient, at one hospital, for real.

1. On the ledger: ``Consent:Erase`` by the hospital's admin purges the consent credential from
   the hospital's private data on every peer (PurgePrivateData) and records the erasure (hashes
   only, no identifier).
2. At the hospital: the patient's rows leave the training and validation files and the link
   table, rewritten atomically, so no later round can read them again.
3. Artifacts: fedledger stores no per-patient artifact (updates and models are aggregates over
   many records, encrypted with per-artifact keys); ``shred`` is handed the keys of any
   artifact that holds the patient's data alone, and there are none today. Said, not hidden.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from clients.ledger import Consent, LedgerClient


@dataclass(frozen=True)
class Erasure:
    consent_id: str
    rows_removed: dict[str, int]  # file -> rows deleted
    tx_id: str


def _drop_rows(path: Path, column: str, value: str) -> int:
    if path.suffix == ".parquet":
        table = pd.read_parquet(path)
    else:
        table = pd.read_csv(path, dtype={column: str})
    keep = table[column] != value
    removed = int((~keep).sum())
    if removed:
        tmp = path.with_suffix(path.suffix + ".tmp")
        if path.suffix == ".parquet":
            table[keep].to_parquet(tmp, index=False)
        else:
            table[keep].to_csv(tmp, index=False)
        os.replace(tmp, path)
    return removed


def erase_patient(admin: LedgerClient, consent_id: str, pseudonym: str, pseudonym_column: str,
                  data_files: list[Path], links: Path | None) -> Erasure:  # fmt: skip
    """Erase the patient behind ``pseudonym`` (holder of consent ``consent_id``) at this hospital;
    ``admin``: the chaincode as the hospital's admin sees it."""
    result = admin.submit(Consent.erase(consent_id))
    removed = {str(p): _drop_rows(p, pseudonym_column, pseudonym) for p in data_files}
    if links is not None and links.exists():
        removed[str(links)] = _drop_rows(links, "pseudonym", pseudonym)
    return Erasure(consent_id, removed, result.tx_id)
