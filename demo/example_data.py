"""Hospital data folders for trying a study on data the demo never uses (`fedledger data example`).

Two data sets shipped with scikit-learn, as three hospitals would export them (raw units, one
pseudonym per record, a different size and label mix per hospital) plus a held-out test set:

* ``diabetes``: 442 diabetes patients, 10 baseline variables (age, sex, BMI, blood pressure and
  six blood serum measurements); the label says whether the disease progressed more than the
  median one year after baseline (binary);
* ``wine``: 178 wines, 13 chemical analyses, 3 cultivars (multi-class).

Each hospital folder holds ``schema.json``, ``train.csv`` and ``validation.csv`` (what
``fedledger agent config --data-dir`` expects). ``--flaws`` makes HospitalC's training export
carry the mistakes real exports carry (a blank value, text in a numeric column), so the data
check's report can be seen before they are fixed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agent.data.schema import Schema

HOSPITALS = ("HospitalA", "HospitalB", "HospitalC")
SHARES = (0.45, 0.33, 0.22)  # of the training pool, per hospital
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Example:
    frame: pd.DataFrame  # features and label, raw units
    schema: Schema


def load(dataset: str) -> Example:
    """The named data set as a frame with its schema (no scaler: each study agrees on one)."""
    from sklearn.datasets import load_diabetes, load_wine

    if dataset == "diabetes":
        d = load_diabetes(scaled=False)
        names = ["age", "sex", "bmi", "blood_pressure", "total_cholesterol", "ldl", "hdl", "cholesterol_hdl_ratio",
                 "log_triglycerides", "glucose"]  # fmt: skip
        frame = pd.DataFrame(d.data, columns=names)
        frame["high_progression"] = (d.target > np.median(d.target)).astype(int)
        return Example(frame, Schema(tuple(names), "high_progression", "patient_pseudonym"))
    if dataset == "wine":
        d = load_wine()
        names = [n.replace("/", "_").replace(" ", "_") for n in d.feature_names]
        frame = pd.DataFrame(d.data, columns=names)
        frame["cultivar"] = d.target.astype(int)
        return Example(frame, Schema(tuple(names), "cultivar", "sample_pseudonym", classes=3))
    raise ValueError(f"unknown data set {dataset!r}; use diabetes or wine")


def write(dataset: str, out: Path, flaws: bool = False, seed: int = 5) -> dict[str, Path]:
    """Write one folder per hospital and ``test.csv`` under ``out``; returns the folders."""
    ex = load(dataset)
    rng = np.random.default_rng(seed)
    frame = ex.frame.copy()
    frame[ex.schema.pseudonym] = [f"p-{secrets.token_hex(6)}" for _ in range(len(frame))]
    order = rng.permutation(len(frame))
    n_test = int(len(frame) * TEST_FRACTION)
    out.mkdir(parents=True, exist_ok=True)
    columns = [ex.schema.pseudonym, *ex.schema.features, ex.schema.label]
    frame.iloc[order[:n_test]][columns].to_csv(out / "test.csv", index=False)
    # a different label mix per hospital: sort the pool by label with some noise, then cut it
    pool = order[n_test:]
    keys = frame[ex.schema.label].to_numpy()[pool] + rng.normal(0, 0.8, len(pool))
    pool = pool[np.argsort(keys, kind="stable")]
    cuts = np.cumsum([int(len(pool) * s) for s in SHARES[:-1]])
    folders = {}
    for name, part in zip(HOSPITALS, np.split(pool, cuts), strict=True):
        part = rng.permutation(part)
        n_val = max(1, int(len(part) * VALIDATION_FRACTION))
        folder = out / name.lower()
        folder.mkdir(exist_ok=True)
        ex.schema.write(folder / "schema.json")
        frame.iloc[part[:n_val]][columns].to_csv(folder / "validation.csv", index=False)
        train = frame.iloc[part[n_val:]][columns].astype(str)
        if flaws and name == HOSPITALS[-1]:
            train.iloc[3, columns.index(ex.schema.features[2])] = ""
            train.iloc[7, columns.index(ex.schema.features[-1])] = "n/a"
            train.iloc[11, columns.index(ex.schema.features[0])] = "4,5"
        train.to_csv(folder / "train.csv", index=False)
        folders[name] = folder
    (out / "README.txt").write_text(
        f"{dataset}: {len(frame)} records, {len(ex.schema.features)} features, {ex.schema.classes} label classes.\n"
        f"Held-out test set: test.csv ({n_test} records). One folder per hospital: schema.json, train.csv, "
        "validation.csv.\n"
    )
    return folders
