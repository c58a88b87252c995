"""The demo's consent cohort on disk: each patient's DID and consent, each hospital's link
table, in ``<state>/consent/<study>.json`` (written by demo/consent_setup.py, read and updated
by `fedledger consent`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def path(state_root: Path, study_id: str) -> Path:
    return state_root / "consent" / f"{study_id}.json"


def load(state_root: Path, study_id: str) -> dict[str, Any]:
    where = path(state_root, study_id)
    if not where.exists():
        raise FileNotFoundError(f"no consent cohort for study {study_id} here ({where})")
    return json.loads(where.read_text())


def save(state_root: Path, study_id: str, index: dict[str, Any]) -> None:
    where = path(state_root, study_id)
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(json.dumps(index, indent=1, sort_keys=True))
