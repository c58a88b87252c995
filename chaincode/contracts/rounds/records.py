"""A round's state on the ledger: its keys, reading and writing its records, and the rules every
phase shares (legal transitions, deadlines by transaction timestamp, reputation updates).

State::

    round~<study>~<r:06d>             -> round record
    rkeys~<study>~<r:06d>~<msp>       -> participant's round key record (secure aggregation)
    rcommit~<study>~<r:06d>~<msp>     -> commitment
    rproof~<study>~<r:06d>~<msp>      -> audit record (status pending_verification|verified|failed)
    rbind~<study>~<r:06d>~<msp>       -> binding record (status verified|failed; bound secure rounds)
    rshares~<study>~<r:06d>~<msp>     -> committee member's share record (secure aggregation)
    rshares2~<study>~<r:06d>~<msp>    -> its shares of the second reveal (bound rounds, after a failed check)
    ragg~<study>~<r:06d>~<msp>        -> committee member's aggregate record
    ragg2~<study>~<r:06d>~<msp>       -> its aggregate record after the second reveal
    rval~<study>~<r:06d>~<msp>        -> validation report
    rep~<msp>                         -> reputation record (chaincode/contracts/reputation.py)
"""

from __future__ import annotations

import hashlib
from typing import Any

from chaincode.contracts import ledger_log, reputation, tokens
from chaincode.contracts.studies import put_study
from chaincode.runtime import canonical
from chaincode.runtime.errors import Conflict, NotFound
from chaincode.runtime.stub import Stub

STATES = ("KEYS", "OPEN", "COMMIT", "CHALLENGE", "PROVE", "AGGREGATE", "FINALIZED", "ABORTED")
NEXT = {
    "KEYS": {"OPEN", "ABORTED"},
    "OPEN": {"COMMIT", "ABORTED"},
    "COMMIT": {"CHALLENGE", "ABORTED"},
    "CHALLENGE": {"PROVE", "ABORTED"},
    "PROVE": {"AGGREGATE", "ABORTED"},
    "AGGREGATE": {"FINALIZED", "ABORTED"},
    "FINALIZED": set(),
    "ABORTED": set(),
}


# --- keys and records ---------------------------------------------------------------------------
def _r(n: int) -> str:
    return f"{n:06d}"


def round_key(stub: Stub, study_id: str, n: int) -> str:
    return stub.create_composite_key("round", [study_id, _r(n)])


def part_key(stub: Stub, kind: str, study_id: str, n: int, msp_id: str) -> str:
    return stub.create_composite_key(kind, [study_id, _r(n), msp_id])


def parts(stub: Stub, kind: str, study_id: str, n: int) -> dict[str, dict[str, Any]]:
    out = {}
    for kv in stub.get_state_by_partial_composite_key(kind, [study_id, _r(n)]):
        out[stub.split_composite_key(kv.key)[1][2]] = canonical.loads(kv.value)
    return out


def get_round(stub: Stub, study_id: str, n: int) -> dict[str, Any]:
    record = stub.get_json(round_key(stub, study_id, n))
    if record is None:
        raise NotFound(f"study {study_id} has no round {n}")
    return record


def get_reputation(stub: Stub, msp_id: str) -> dict[str, Any]:
    return stub.get_json(stub.create_composite_key("rep", [msp_id])) or reputation.new_record()


def update_reputation(stub: Stub, msp_id: str, **events: int) -> dict[str, Any]:
    record = reputation.apply(get_reputation(stub, msp_id), **events)
    record["updated_at_ms"] = stub.timestamp_ms
    stub.put_json(stub.create_composite_key("rep", [msp_id]), record)
    return record


def round_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical.dumps({k: v for k, v in record.items() if k != "final_hash"})).hexdigest()


def fresh_key(stub: Stub, kind: str, args: dict[str, Any], msp_id: str, already: str) -> str:
    """Key of ``msp_id``'s record of ``kind`` in this round; refuses a second one (a replay)."""
    key = part_key(stub, kind, args["study_id"], args["round"], msp_id)
    if stub.get_state(key) is not None:
        raise Conflict(f"{msp_id} already {already} in round {args['round']}")
    return key


def log_round(stub: Stub, action: str, args: dict[str, Any], details: dict[str, Any]) -> None:
    """Journal ``action`` of the round ``args`` names (chaincode/contracts/ledger_log.py)."""
    ledger_log.record(stub, action, args["study_id"], details, round_no=args["round"])


# --- rules every phase shares -------------------------------------------------------------------
def transition(stub: Stub, rnd: dict[str, Any], state: str) -> None:
    if state not in NEXT[rnd["state"]]:
        raise AssertionError(f"illegal transition {rnd['state']} -> {state}")
    rnd["state"] = state
    rnd["transitions"].append({"state": state, "ts_ms": stub.timestamp_ms, "tx_id": stub.tx_id})


def deadline_passed(stub: Stub, deadline_ms: int | None) -> bool:
    return deadline_ms is not None and stub.timestamp_ms > deadline_ms


def save(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> None:
    """Write the round. A round that has just ended (FINALIZED or ABORTED) first releases the
    stake it locked, gets its final hash, and counts on its study (which completes after its
    last round)."""
    if rnd["state"] in ("FINALIZED", "ABORTED") and rnd["final_hash"] is None:
        for m, amount in rnd["locked"].items():
            tokens.unlock(stub, m, amount)
        rnd["final_hash"] = round_hash(rnd)
        if rnd["state"] == "FINALIZED":
            study["rounds_finalized"] += 1
        if rnd["round"] + 1 >= study["params"]["rounds"]:
            study["status"] = "COMPLETED"
        put_study(stub, study)
    stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)


def drop_cheater(stub: Stub, study: dict[str, Any], rnd: dict[str, Any], m: str, reason: str, ref: str) -> None:
    """``m`` broke a rule its own evidence shows (a failed audit, a binding that does not hold):
    its update is dropped from the round, its stake slashed ``cheat_slash`` and its honesty
    reputation drops."""
    update_reputation(stub, m, failed=1)
    rnd["dropped"][m] = reason
    tokens.slash(stub, m, study["params"]["cheat_slash"], rnd["study_id"], rnd["round"], reason, ref)
