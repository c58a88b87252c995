"""The demo's data: scikit-learn's breast-cancer set, split non-IID across three hospitals.

569 real, de-identified records (30 features). Each hospital gets a different size and a
different share of malignant cases (label skew and size skew), a training file and a
held-out validation file, all standardised with statistics of the pooled *training* data only
(a consortium would agree on a published scaler; the demo stands in for that). A global test
set is kept apart to compare federated, centralised and local models. Pseudonyms are random
identifiers, one per record, standing for the patients' pairwise DIDs.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

from agent.data.schema import Schema

# (share of all training records, share of malignant among them) per hospital
PROFILE = {"HospitalA": (0.50, 0.25), "HospitalB": (0.30, 0.50), "HospitalC": (0.20, 0.70)}
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class DemoData:
    root: Path
    schema_path: Path
    test_path: Path
    train_paths: dict[str, Path]
    validation_paths: dict[str, Path]


def feature_names() -> list[str]:
    return [n.replace(" ", "_") for n in load_breast_cancer().feature_names]


def build(root: Path, seed: int = 7) -> DemoData:
    """Write the split to ``root`` and return its paths; a split already written there with the
    same seed is reused as is (running agents may be reading it)."""
    done = existing(root, seed, tuple(PROFILE))
    if done is not None:
        return done
    marker = root / "split.json"
    data = load_breast_cancer()
    names = feature_names()
    rng = np.random.default_rng(seed)
    x, y = data.data.astype(np.float64), data.target.astype(int)
    # sklearn: target 0 = malignant, 1 = benign; the model predicts malignancy
    y = 1 - y
    order = rng.permutation(len(y))
    n_test = int(len(y) * TEST_FRACTION)
    test_idx, pool_idx = order[:n_test], order[n_test:]
    mean, std = x[pool_idx].mean(axis=0), x[pool_idx].std(axis=0) + 1e-12
    xs = (x - mean) / std
    schema = Schema(tuple(names), "malignant", "patient_pseudonym")
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.json").write_text(json.dumps(schema.to_dict(), indent=2))

    def frame(idx: np.ndarray) -> pd.DataFrame:
        df = pd.DataFrame(xs[idx], columns=names)
        df["malignant"] = y[idx]
        df["patient_pseudonym"] = [f"pat-{secrets.token_hex(8)}" for _ in idx]
        return df

    frame(test_idx).to_csv(root / "global_test.csv", index=False)
    malignant = [i for i in pool_idx if y[i] == 1]
    benign = [i for i in pool_idx if y[i] == 0]
    train_paths, validation_paths = {}, {}
    for org, (share, pos_share) in PROFILE.items():
        n = int(len(pool_idx) * share)
        n_pos = min(int(n * pos_share), len(malignant))
        take = malignant[:n_pos] + benign[: n - n_pos]
        malignant, benign = malignant[n_pos:], benign[n - n_pos :]
        idx = rng.permutation(np.array(take))
        n_val = max(1, int(len(idx) * VALIDATION_FRACTION))
        validation_paths[org] = root / f"{org.lower()}_validation.csv"
        train_paths[org] = root / f"{org.lower()}_train.csv"
        frame(idx[:n_val]).to_csv(validation_paths[org], index=False)
        frame(idx[n_val:]).to_csv(train_paths[org], index=False)
    marker.write_text(json.dumps({"seed": seed}))
    return DemoData(root, root / "schema.json", root / "global_test.csv", train_paths, validation_paths)


def existing(root: Path, seed: int, hospitals: tuple[str, ...]) -> DemoData | None:
    """The split already written to ``root`` with ``seed`` (its ``split.json`` says), or None."""
    marker = root / "split.json"
    if marker.exists() and json.loads(marker.read_text()).get("seed") == seed:
        return split_paths(root, hospitals)
    return None


def split_paths(root: Path, hospitals: tuple[str, ...]) -> DemoData:
    """Where a split in ``root`` keeps its files: one schema, a global test set, and per hospital
    a training and a validation file."""
    return DemoData(root, root / "schema.json", root / "global_test.csv",
                    {o: root / f"{o.lower()}_train.csv" for o in hospitals},
                    {o: root / f"{o.lower()}_validation.csv" for o in hospitals})  # fmt: skip


def build_enlarged(base: DemoData, root: Path, factor: int, noise: float = 0.05, seed: int = 11) -> DemoData:
    """A heavier *timing* workload: each hospital's training records repeated ``factor`` times
    with Gaussian jitter (sd ``noise``, in standardised units) on the features; validation and
    test sets are the base split's. Not a new dataset, only more local computation per round."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    train_paths = {}
    for org, path in base.train_paths.items():
        df = pd.read_csv(path)
        copies = []
        for k in range(factor):
            c = df.copy()
            features = [col for col in df.columns if col not in ("malignant", "patient_pseudonym")]
            c[features] = c[features] + rng.normal(0, noise, size=(len(c), len(features)))
            c["patient_pseudonym"] = c["patient_pseudonym"] + f"-{k}"
            copies.append(c)
        train_paths[org] = root / f"{org.lower()}_train.csv"
        pd.concat(copies).to_csv(train_paths[org], index=False)
    return DemoData(root, base.schema_path, base.test_path, train_paths, dict(base.validation_paths))
