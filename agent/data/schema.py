"""Dataset schemas and loading: a hospital's records become (features, labels, pseudonyms).

A schema names the numeric feature columns, the binary label column and the column holding
the patient's pseudonym (used only locally, to keep records whose consent is valid; it never
leaves the hospital). Its SHA-256 over canonical JSON is the ``data_schema_hash`` a study
fixes on the ledger, so every hospital trains on the same columns in the same order.
Bad data is refused with a message that names the column and the rows.
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


def read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataError(f"{path}: only .csv and .parquet are supported")


def load_records(path: Path, schema: Schema) -> Records:
    """Read and validate a hospital's records."""
    frame = read_table(path)
    missing = [c for c in (*schema.features, schema.label, schema.pseudonym) if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise DataError(f"{path.name}: no records")
    for column in (*schema.features, schema.label):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = frame[column][values.isna() & frame[column].notna()]
        if len(bad):
            raise DataError(
                f"{path.name}: column {column} is not numeric at row(s) {', '.join(map(str, bad.index[:5]))}"
            )
        if values.isna().any():
            rows = frame.index[values.isna()][:5]
            raise DataError(f"{path.name}: column {column} has {int(values.isna().sum())} empty/NaN value(s), "
                            f"e.g. row(s) {', '.join(map(str, rows))}")  # fmt: skip
        if not np.isfinite(values.to_numpy(dtype=float)).all():
            raise DataError(f"{path.name}: column {column} has infinite values")
    labels = frame[schema.label].to_numpy(dtype=float)
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(f"{path.name}: label column {schema.label} must hold only 0 and 1")
    pseudonyms = frame[schema.pseudonym].astype(str)
    if pseudonyms.duplicated().any():
        raise DataError(f"{path.name}: pseudonym column {schema.pseudonym} has duplicates")
    return Records(
        frame[list(schema.features)].to_numpy(dtype=np.float32),
        labels.astype(np.float32),
        pseudonyms.to_numpy(),
    )
