"""Where a round's time goes: training, IPFS, aggregation, evaluation, and the ledger.

Every agent journals how long each kind of work took in each phase of a round
(agent/daemon/journal.py, ``timings``). A round's phases run one after another (open, commit,
advance, aggregate, validate, settle); inside a phase the hospitals work in parallel, so the
phase lasts as long as its slowest hospital. The *critical path* of a round is therefore, per
phase, the slowest hospital's work, and its ledger share is the ledger time of that hospital
in that phase (submit until its own peer committed). The round's wall time comes from the
ledger itself: the transaction timestamps of ``round.opened`` and ``round.settled``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# a round's phases in order; a hospital's duties within one phase (proving its audited steps and
# binding its input, both in PROVE) count together
PHASES = (("open",), ("keys",), ("commit",), ("advance",), ("prove", "bind"), ("shares",), ("aggregate",),
          ("shares2",), ("aggregate2",), ("validate",), ("settle",))  # fmt: skip
KINDS = ("training", "ipfs", "proving", "pair values", "shares", "aggregation", "evaluation", "ledger")


def critical_path(timings: dict[str, list[dict[str, Any]]], round_no: int) -> dict[str, float]:
    """Seconds per kind of work on round ``round_no``'s critical path; ``timings`` maps each
    hospital to its journal's timing rows for the study."""
    out = dict.fromkeys(KINDS, 0.0)
    for phase in PHASES:
        per_org: dict[str, dict[str, float]] = {}
        for org, rows in timings.items():
            for row in rows:
                if row["round"] == round_no and row["phase"] in phase:
                    per_org.setdefault(org, defaultdict(float))[row["kind"]] += row["seconds"]
        if not per_org:
            continue
        slowest = max(per_org.values(), key=lambda kinds: sum(kinds.values()))
        for kind, seconds in slowest.items():
            out[kind] = out.get(kind, 0.0) + seconds
    out["total"] = sum(out[k] for k in KINDS)
    return out


def round_walls(timeline: list[dict[str, Any]]) -> dict[int, float]:
    """Seconds from ``round.opened`` to ``round.settled`` (or its abort) per round, from the
    ledger's own transaction timestamps (Compliance:StudyTimeline)."""
    opened: dict[int, int] = {}
    ended: dict[int, int] = {}
    for entry in timeline:
        r = entry.get("round")
        if r is None:
            continue
        if entry["action"] == "round.opened":
            opened[r] = entry["ts_ms"]
        elif entry["action"] == "round.settled" or (
            entry["action"] == "round.advanced" and entry.get("details", {}).get("to") == "ABORTED"
        ):
            ended[r] = entry["ts_ms"]
    return {r: (ended[r] - opened[r]) / 1000 for r in sorted(opened) if r in ended}
