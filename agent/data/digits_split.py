"""The imaging demo's data: scikit-learn's handwritten digits, split non-IID across three hospitals.

1797 8x8 greyscale images (pixel values 0..16) of the digits 0-9, bundled with scikit-learn
(no download). A fifth is kept apart as the global test set. The rest is dealt to the three
hospitals by label skew: for each digit, the shares of its images going to each hospital are
drawn from a symmetric Dirichlet distribution with concentration ``ALPHA`` (0.5; Hsu et al.'s
common non-IID benchmark), so each hospital sees some digits often and others rarely or never,
and sizes differ too. No hospital alone can learn every digit well; together they can. Each
hospital keeps a fifth of its records as its validation file (for choosing settings; the
global test set is only for the final comparison). The schema declares the features an 8x8
image and carries the scaler: the mean and standard deviation of each pixel over the pooled
training records, the deviation floored at one grey level so that near-constant border pixels
are not blown up. ``split.json`` records the seed, ALPHA and every hospital's label counts.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from agent.data import demo_split
from agent.data.demo_split import DemoData
from agent.data.schema import Schema

HOSPITALS = ("HospitalA", "HospitalB", "HospitalC")
ALPHA = 0.5
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.2
STD_FLOOR = 1.0  # grey levels


def pixel_names() -> list[str]:
    return [f"px_{r}_{c}" for r in range(8) for c in range(8)]


def build(root: Path, seed: int = 7) -> DemoData:
    """Write the split to ``root`` and return its paths; a split already written there with the
    same seed is reused as is (running agents may be reading it)."""
    done = demo_split.existing(root, seed, HOSPITALS)
    if done is not None:
        return done
    data = load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(int)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = int(len(y) * TEST_FRACTION)
    test_idx, pool_idx = order[:n_test], order[n_test:]
    parts = label_skew(y, pool_idx, len(HOSPITALS), ALPHA, rng)
    names = pixel_names()
    mean = [float(f"{v:.6g}") for v in x[pool_idx].mean(axis=0)]
    std = [float(f"{max(v, STD_FLOOR):.6g}") for v in x[pool_idx].std(axis=0)]
    schema = Schema(tuple(names), "digit", "patient_pseudonym", classes=10, mean=tuple(mean), std=tuple(std),
                    image=(8, 8))  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    schema.write(root / "schema.json")

    def frame(idx: np.ndarray) -> pd.DataFrame:
        df = pd.DataFrame(x[idx].astype(int), columns=names)
        df["digit"] = y[idx]
        df["patient_pseudonym"] = [f"pat-{secrets.token_hex(8)}" for _ in idx]
        return df

    frame(test_idx).to_csv(root / "global_test.csv", index=False)
    counts = {}
    for org, idx in zip(HOSPITALS, parts, strict=True):
        idx = rng.permutation(idx)
        n_val = max(1, int(len(idx) * VALIDATION_FRACTION))
        frame(idx[:n_val]).to_csv(root / f"{org.lower()}_validation.csv", index=False)
        frame(idx[n_val:]).to_csv(root / f"{org.lower()}_train.csv", index=False)
        counts[org] = np.bincount(y[idx], minlength=10).tolist()
    (root / "split.json").write_text(json.dumps({"seed": seed, "alpha": ALPHA, "label_counts": counts}, indent=1))
    return demo_split.split_paths(root, HOSPITALS)


def label_skew(y: np.ndarray, pool: np.ndarray, parts: int, alpha: float, rng: np.random.Generator
               ) -> list[np.ndarray]:  # fmt: skip
    """``pool``'s indices dealt to ``parts`` hospitals: each label's indices split by shares
    drawn from Dirichlet(alpha, ..., alpha)."""
    out: list[list[int]] = [[] for _ in range(parts)]
    for label in np.unique(y[pool]):
        idx = pool[y[pool] == label]
        shares = rng.dirichlet([alpha] * parts)
        cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
        for k, chunk in enumerate(np.split(idx, cuts)):
            out[k] += chunk.tolist()
    return [np.array(sorted(p), dtype=int) for p in out]
