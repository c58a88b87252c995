"""Dataset schemas and loading: a hospital's records become (features, labels, pseudonyms).

A schema names the numeric feature columns, the binary label column and the column holding
the patient's pseudonym (used only locally, to keep records whose consent is valid; it never
leaves the hospital). Its SHA-256 over canonical JSON is the ``data_schema_hash`` a study
fixes on the ledger, so every hospital trains on the same columns in the same order.
Bad data is refused with every problem listed, naming columns and file lines
(agent/data/check.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class DataError(ValueError):
    """The data does not match its schema."""


@dataclass(frozen=True)
class Schema:
    features: tuple[str, ...]
    label: str
    pseudonym: str

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        try:
            features = tuple(raw["features"])
            label, pseudonym = raw["label"], raw["pseudonym"]
        except (KeyError, TypeError) as exc:
            raise DataError(f"schema needs 'features' (list), 'label' and 'pseudonym': missing {exc}") from None
        if not features or len(set(features)) != len(features):
            raise DataError("schema 'features' must be a non-empty list without duplicates")
        if label in features or pseudonym in features or label == pseudonym:
            raise DataError("label, pseudonym and feature columns must all differ")
        return cls(features, label, pseudonym)

    @classmethod
    def load(cls, path: Path) -> Schema:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "label": self.label, "pseudonym": self.pseudonym}

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Records:
    x: np.ndarray  # float32 [n, d]
    y: np.ndarray  # float32 [n], 0 or 1
    pseudonyms: np.ndarray  # str [n]

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray) -> Records:
        return Records(self.x[mask], self.y[mask], self.pseudonyms[mask])


def load_records(path: Path, schema: Schema) -> Records:
    """Read a hospital's records; refuse them with every problem listed (agent/data/check.py)."""
    from agent.data.check import check_frame, read_frame

    frame = read_frame(path)
    problems = check_frame(path, frame, schema)
    if problems:
        listed = "\n".join(f"  - {p.message}" for p in problems)
        raise DataError(f"{path.name} does not match its schema ({len(problems)} problem(s)):\n{listed}")
    numeric = frame[[*schema.features, schema.label]].apply(lambda c: pd.to_numeric(c.str.strip()))
    return Records(
        numeric[list(schema.features)].to_numpy(dtype=np.float32),
        numeric[schema.label].to_numpy(dtype=np.float32),
        frame[schema.pseudonym].str.strip().to_numpy(),
    )
