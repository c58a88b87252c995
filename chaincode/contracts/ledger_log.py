"""Append-only logs for compliance: a study's timeline and an org's activity.

Every governance state change writes its record and, through :func:`record`, an entry in the
study timeline and in the acting org's activity log, and sets the transaction's event. Keys
embed the transaction timestamp and id, so entries never collide and read back in time order
without a counter (which would be a hot key).

Keys::

    timeline~<study_id>~<ts_ms:015d>~<tx_id>~<seq>   -> {"action", "org", "study", "round", "details", ...}
    activity~<msp_id>~<ts_ms:015d>~<tx_id>~<seq>     -> the same entry
"""

from __future__ import annotations

from typing import Any

from chaincode.runtime import canonical
from chaincode.runtime.stub import Stub

TIMELINE = "timeline"
ACTIVITY = "activity"


def record(
    stub: Stub,
    action: str,
    study_id: str | None,
    details: dict[str, Any],
    *,
    org: str | None = None,
    round_no: int | None = None,
    event: bool = True,
    timeline: bool = True,
) -> None:
    """Log ``action`` for compliance and make it the transaction's event (``event``); with
    ``timeline`` False it goes to the org's activity only (e.g. each hospital's reward)."""
    actor = org or stub.creator.msp_id
    entry = {
        "action": action,
        "org": actor,
        "study": study_id,
        "round": round_no,
        "details": details,
        "ts_ms": stub.timestamp_ms,
        "tx_id": stub.tx_id,
    }
    # one transaction may log several entries (e.g. a round transition that slashes two orgs)
    seq = getattr(stub, "_log_seq", 0)
    stub._log_seq = seq + 1  # type: ignore[attr-defined]
    stamp = f"{stub.timestamp_ms:015d}"
    suffix = [stamp, stub.tx_id, f"{seq:04d}"]
    if study_id is not None and timeline:
        stub.put_json(stub.create_composite_key(TIMELINE, [study_id, *suffix]), entry)
    stub.put_json(stub.create_composite_key(ACTIVITY, [actor, *suffix]), entry)
    if event:
        stub.set_event(action, canonical.dumps({k: v for k, v in entry.items() if k != "details"} | details))


def read_log(stub: Stub, kind: str, owner: str) -> list[dict[str, Any]]:
    return [canonical.loads(kv.value) for kv in stub.get_state_by_partial_composite_key(kind, [owner])]
