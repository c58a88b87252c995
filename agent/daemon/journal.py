"""The agent's local journal (sqlite): what it has signed, sent and produced.

Why it exists: a hospital agent can crash or be restarted at any moment. Two things must
survive that without a human:

* **Submissions.** Before an endorsed transaction goes to the orderer, its signed envelope and
  transaction id are written here. After a restart the agent first looks at the ledger; if the
  effect is not there, it re-sends *the same envelope*. A Fabric transaction id commits at most
  once, so the ledger can never hold the action twice, and the agent never signs a second,
  different version of a commitment it may already have sent.
* **Artifacts.** A trained update is kept (with its commitment) as soon as training ends, so a
  restart never retrains: retraining would spend the patients' privacy budget a second time.

The file uses WAL and ``synchronous=FULL``: a row the agent acted on is on disk first.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    action TEXT PRIMARY KEY,      -- e.g. "s1/r0/commit": one ledger action of this agent
    tx_id TEXT NOT NULL,
    envelope BLOB NOT NULL,       -- the signed, endorsed transaction
    state TEXT NOT NULL,          -- endorsed | sent | committed | failed
    code INTEGER,                 -- TxValidationCode once known
    block INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1,
    ledger_s REAL NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    name TEXT PRIMARY KEY,        -- e.g. "s1/r0/update"
    value TEXT NOT NULL,          -- JSON
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS timings (
    study TEXT NOT NULL, round INTEGER NOT NULL, phase TEXT NOT NULL, kind TEXT NOT NULL,
    seconds REAL NOT NULL, at_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Submission:
    action: str
    tx_id: str
    envelope: bytes
    state: str
    code: int | None
    block: int | None
    attempts: int
    ledger_s: float


class Journal:
    """One agent's journal; safe to use from the agent's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        path.touch(mode=0o600, exist_ok=True)  # it holds round secrets while a round needs them
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- submissions ------------------------------------------------------------------------
    def submission(self, action: str) -> Submission | None:
        with self._lock:
            row = self._db.execute(
                "SELECT action, tx_id, envelope, state, code, block, attempts, ledger_s FROM submissions "
                "WHERE action = ?",
                (action,),
            ).fetchone()
        return Submission(*row) if row else None

    def record_endorsed(self, action: str, tx_id: str, envelope: bytes) -> None:
        """Keep a freshly endorsed transaction before it is sent (replaces a failed one)."""
        with self._lock:
            previous = self._db.execute("SELECT attempts FROM submissions WHERE action = ?", (action,)).fetchone()
            self._db.execute(
                "INSERT OR REPLACE INTO submissions (action, tx_id, envelope, state, attempts, updated_ms) "
                "VALUES (?, ?, ?, 'endorsed', ?, ?)",
                (action, tx_id, envelope, (previous[0] + 1) if previous else 1, _now_ms()),
            )

    def mark(self, action: str, state: str, code: int | None = None, block: int | None = None,
             ledger_s: float = 0.0) -> None:  # fmt: skip
        with self._lock:
            self._db.execute(
                "UPDATE submissions SET state = ?, code = COALESCE(?, code), block = COALESCE(?, block), "
                "ledger_s = ledger_s + ?, updated_ms = ? WHERE action = ?",
                (state, code, block, ledger_s, _now_ms(), action),
            )

    def submissions(self, prefix: str = "") -> list[Submission]:
        with self._lock:
            rows = self._db.execute(
                "SELECT action, tx_id, envelope, state, code, block, attempts, ledger_s FROM submissions "
                "WHERE action LIKE ? ORDER BY updated_ms",
                (prefix + "%",),
            ).fetchall()
        return [Submission(*r) for r in rows]

    # --- artifacts ----------------------------------------------------------------------------
    def put_artifact(self, name: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO artifacts (name, value, updated_ms) VALUES (?, ?, ?)",
                (name, json.dumps(value, sort_keys=True), _now_ms()),
            )

    def forget_artifact(self, name: str) -> None:
        """Delete an artifact (round secrets, once nothing needs them)."""
        with self._lock:
            self._db.execute("DELETE FROM artifacts WHERE name = ?", (name,))

    def artifact_names(self, prefix: str) -> list[str]:
        """Names of the artifacts that start with ``prefix`` (literally), sorted."""
        with self._lock:
            rows = self._db.execute("SELECT name FROM artifacts WHERE substr(name, 1, ?) = ? ORDER BY name",
                                    (len(prefix), prefix)).fetchall()  # fmt: skip
        return [r[0] for r in rows]

    def artifact(self, name: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM artifacts WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    # --- timings (for the report and the round benchmark) --------------------------------------
    def add_timing(self, study: str, round_no: int, phase: str, kind: str, seconds: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO timings (study, round, phase, kind, seconds, at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (study, round_no, phase, kind, seconds, _now_ms()),
            )

    def timings(self, study: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT round, phase, kind, seconds, at_ms FROM timings WHERE study = ? ORDER BY at_ms", (study,)
            ).fetchall()
        return [{"round": r, "phase": p, "kind": k, "seconds": s, "at_ms": a} for r, p, k, s, a in rows]


def _now_ms() -> int:
    return int(time.time() * 1000)
