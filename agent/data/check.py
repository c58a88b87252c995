"""Checking a hospital's data files against their schema, every problem at once.

A hospital fixing its export wants the whole list, not the first error, and it wants the
lines its spreadsheet shows: for a CSV file, line 1 is the header and the first record is
line 2. Each problem names the file, the column and up to a few example lines with the
offending value, so that the file can be fixed in one pass before the hospital enrolls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agent.data.schema import DataError, Schema

EXAMPLES = 5  # example lines shown per problem


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a data file, in words a data manager can act on."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.message}"


def first_line(path: Path) -> int:
    """The file line of the first record: 2 for a CSV (after its header), 1 for a row index."""
    return 2 if path.suffix.lower() == ".csv" else 1


def _lines(path: Path, positions: np.ndarray, values: pd.Series | None = None) -> str:
    offset = first_line(path)
    word = "line" if path.suffix.lower() == ".csv" else "row"
    shown = [
        f"{word} {int(p) + offset}" + ("" if values is None else f" ({str(values.iloc[i])[:20]!r})")
        for i, p in enumerate(positions[:EXAMPLES])
    ]
    more = f" and {len(positions) - EXAMPLES} more" if len(positions) > EXAMPLES else ""
    return ", ".join(shown) + more


def read_frame(path: Path) -> pd.DataFrame:
    """The file as text columns (so a value that is not a number is reported, not guessed)."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path).astype(str)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{path.name}: cannot be read as {suffix[1:]}: {str(exc).splitlines()[0][:200]}") from None
    raise DataError(f"{path}: only .csv and .parquet are supported")


def check_frame(path: Path, frame: pd.DataFrame, schema: Schema) -> list[Problem]:
    """Every way ``frame`` (read by :func:`read_frame`) breaks ``schema``."""
    problems = []
    missing = [c for c in (*schema.features, schema.label, schema.pseudonym) if c not in frame.columns]
    if missing:
        problems.append(Problem(path, f"missing column(s) {', '.join(missing)} (the schema names them)"))
    if frame.empty:
        problems.append(Problem(path, "no records"))
    positions = np.arange(len(frame))
    for column in (c for c in (*schema.features, schema.label) if c in frame.columns):
        text = frame[column].str.strip()
        empty = text.isin(("", "nan", "NaN", "NA", "None"))
        if empty.any():
            problems.append(Problem(path, f"column {column} has {int(empty.sum())} missing value(s) at "
                                          f"{_lines(path, positions[empty.to_numpy()])}"))  # fmt: skip
        numbers = pd.to_numeric(text.where(~empty), errors="coerce")
        not_numeric = numbers.isna() & ~empty
        if not_numeric.any():
            where = _lines(path, positions[not_numeric.to_numpy()], text[not_numeric])
            problems.append(Problem(path, f"column {column} is not numeric at {where}"))
        infinite = numbers.notna() & ~np.isfinite(numbers.to_numpy(dtype=float, na_value=0.0))
        if infinite.any():
            problems.append(Problem(path, f"column {column} has infinite values at "
                                          f"{_lines(path, positions[infinite.to_numpy()])}"))  # fmt: skip
        if column == schema.label:
            bad = numbers.notna() & ~numbers.isin([float(c) for c in range(schema.classes)])
            if bad.any():
                allowed = "0 and 1" if schema.classes == 2 else f"the classes 0 to {schema.classes - 1}"
                problems.append(Problem(path, f"label column {column} must hold only {allowed}; other values at "
                                              f"{_lines(path, positions[bad.to_numpy()], text[bad])}"))  # fmt: skip
    if schema.pseudonym in frame.columns:
        pseudonyms = frame[schema.pseudonym].str.strip()
        blank = pseudonyms == ""
        if blank.any():
            problems.append(Problem(path, f"pseudonym column {schema.pseudonym} is empty at "
                                          f"{_lines(path, positions[blank.to_numpy()])}"))  # fmt: skip
        repeated = pseudonyms.duplicated(keep=False) & ~blank
        if repeated.any():
            where = _lines(path, positions[repeated.to_numpy()], pseudonyms[repeated])
            problems.append(Problem(path, f"pseudonym column {schema.pseudonym} repeats values at {where}"))
    return problems


@dataclass(frozen=True)
class FileCheck:
    """One data file's check: how many records it holds and everything wrong with it."""

    path: Path
    records: int
    problems: list[Problem]


def without_path(path: Path, message: str) -> str:
    """``message`` without a leading mention of ``path`` (a Problem names its file itself)."""
    for prefix in (f"{path}: ", f"{path} ", f"{path.name}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def check_file(path: Path, schema: Schema) -> FileCheck:
    """Check one data file (a file that cannot be read at all is one problem)."""
    try:
        frame = read_frame(path)
    except DataError as exc:
        return FileCheck(path, 0, [Problem(path, without_path(path, str(exc)))])
    return FileCheck(path, len(frame), check_frame(path, frame, schema))


def check_files(schema: Schema, paths: tuple[Path, ...]) -> tuple[list[Problem], dict[str, int]]:
    """Every problem of ``paths`` against ``schema``, and the records each file holds."""
    checks = [check_file(path, schema) for path in paths]
    return [p for c in checks for p in c.problems], {c.path.name: c.records for c in checks}
