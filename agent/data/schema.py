"""Dataset schemas and loading: a hospital's records become (features, labels, pseudonyms).

A schema (``schema.json``) names:

* ``features``: the numeric feature columns, in the order the model takes them;
* ``label``: the label column, holding integers ``0 .. classes-1``;
* ``classes``: how many label classes there are (optional, default 2: a binary label);
* ``pseudonym``: the column holding the patient's pseudonym (used only locally, to keep
  records whose consent is valid; it never leaves the hospital);
* ``standardize`` (optional): ``{"mean": [...], "std": [...]}``, one number per feature, the
  scaler the consortium agreed on; every hospital applies ``(x - mean) / std`` when it loads
  its records, so that features on very different scales (a count in the thousands next to a
  ratio) train together under the same clipping;
* ``image`` (optional): ``[height, width]`` when the features are the pixels of a
  single-channel image, row by row (height * width of them): what a CNN study needs.

Its SHA-256 over canonical JSON (sorted keys, no spaces, defaults left out) is the
``data_schema_hash`` a study fixes on the ledger, so every hospital trains on the same
columns in the same order with the same scaler (``fedledger data schema-hash`` prints it).
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


MAX_FEATURES = 4096
MAX_CLASSES = 1000
KEYS = ("features", "label", "pseudonym", "classes", "standardize", "image")


@dataclass(frozen=True)
class Schema:
    features: tuple[str, ...]
    label: str
    pseudonym: str
    classes: int = 2
    mean: tuple[float, ...] | None = None  # the agreed scaler, one value per feature (or none)
    std: tuple[float, ...] | None = None
    image: tuple[int, int] | None = None  # the features are an image of (height, width) pixels

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        """The schema of a parsed ``schema.json``; DataError naming every key that is wrong."""
        if not isinstance(raw, dict):
            raise DataError("schema must be a JSON object")
        unknown = sorted(set(raw) - set(KEYS))
        if unknown:
            raise DataError(f"schema has unknown key(s) {', '.join(unknown)}; it takes {', '.join(KEYS)}")
        missing = [k for k in ("features", "label", "pseudonym") if k not in raw]
        if missing:
            raise DataError(f"schema needs 'features' (list), 'label' and 'pseudonym': missing {', '.join(missing)}")
        features, label, pseudonym = raw["features"], raw["label"], raw["pseudonym"]
        if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
            raise DataError("schema 'features' must be a list of column names")
        if not features or len(set(features)) != len(features) or len(features) > MAX_FEATURES:
            raise DataError(f"schema 'features' must be a non-empty list of at most {MAX_FEATURES} names without "
                            "duplicates")  # fmt: skip
        if not (isinstance(label, str) and label and isinstance(pseudonym, str) and pseudonym):
            raise DataError("schema 'label' and 'pseudonym' must be column names")
        if label in features or pseudonym in features or label == pseudonym:
            raise DataError("label, pseudonym and feature columns must all differ")
        classes = raw.get("classes", 2)
        if isinstance(classes, bool) or not isinstance(classes, int) or not 2 <= classes <= MAX_CLASSES:
            raise DataError(f"schema 'classes' must be an integer from 2 to {MAX_CLASSES} (labels 0..classes-1)")
        mean = std = None
        if "standardize" in raw:
            mean, std = _scaler(raw["standardize"], len(features))
        image = None
        if "image" in raw:
            shape = raw["image"]
            if not (
                isinstance(shape, list)
                and len(shape) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_FEATURES for v in shape)
            ):
                raise DataError("schema 'image' must be [height, width], two positive integers")  # fmt: skip
            if shape[0] * shape[1] != len(features):
                raise DataError(f"schema 'image' {shape[0]}x{shape[1]} has {shape[0] * shape[1]} pixels, but there "
                                f"are {len(features)} features")  # fmt: skip
            image = (shape[0], shape[1])
        return cls(tuple(features), label, pseudonym, classes, mean, std, image)

    @classmethod
    def load(cls, path: Path) -> Schema:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON: {exc}") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot read the schema: {exc.strerror or exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"features": list(self.features), "label": self.label, "pseudonym": self.pseudonym}
        if self.classes != 2:
            out["classes"] = self.classes
        if self.mean is not None and self.std is not None:
            out["standardize"] = {"mean": list(self.mean), "std": list(self.std)}
        if self.image is not None:
            out["image"] = list(self.image)
        return out

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def scale(self, x: np.ndarray) -> np.ndarray:
        """The features as the model sees them: standardised with the agreed scaler, if any."""
        if self.mean is None or self.std is None:
            return x
        return ((x - np.asarray(self.mean, dtype=np.float64)) / np.asarray(self.std, dtype=np.float64)).astype(
            np.float32
        )

    @property
    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Records:
    x: np.ndarray  # float32 [n, d]
    y: np.ndarray  # float32 [n], the class 0 .. classes-1
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
        schema.scale(numeric[list(schema.features)].to_numpy(dtype=np.float64)).astype(np.float32),
        numeric[schema.label].to_numpy(dtype=np.float32),
        frame[schema.pseudonym].str.strip().to_numpy(),
    )


def _scaler(raw: Any, width: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if not isinstance(raw, dict) or set(raw) != {"mean", "std"}:
        raise DataError('schema \'standardize\' must be {"mean": [...], "std": [...]}')
    out = []
    for key in ("mean", "std"):
        values = raw[key]
        if not isinstance(values, list) or len(values) != width:
            raise DataError(f"schema 'standardize.{key}' must list one number per feature ({width})")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in values):
            raise DataError(f"schema 'standardize.{key}' must hold finite numbers")
        out.append(tuple(float(v) for v in values))
    if not all(s > 0 for s in out[1]):
        raise DataError("schema 'standardize.std' must be positive for every feature")
    return out[0], out[1]


def fit_scaler(schema: Schema, records: Records) -> Schema:
    """``schema`` with a scaler fitted on ``records`` (raw, unscaled values): the mean and
    standard deviation of each feature, rounded to 6 significant digits so the file stays
    readable. A constant feature gets std 1. Publishing a scaler tells every member these
    statistics of the records it was fitted on."""
    mean = [float(f"{v:.6g}") for v in records.x.astype(np.float64).mean(axis=0)]
    std = [float(f"{v:.6g}") if v > 1e-12 else 1.0 for v in records.x.astype(np.float64).std(axis=0)]
    return Schema(schema.features, schema.label, schema.pseudonym, schema.classes, tuple(mean), tuple(std),
                  schema.image)  # fmt: skip
