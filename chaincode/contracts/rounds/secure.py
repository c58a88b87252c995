"""The secure-aggregation steps of a round: ``Round:PublishKeys`` in KEYS and ``Round:SubmitShares``
in AGGREGATE. The rules they apply (what a key record holds, which secret is revealed for whom,
how a share is checked against its dealer's hash, when the round is unmask-ready) are
chaincode/contracts/secure_aggregation.py; the phase changes around them (KEYS -> OPEN fixes the
masking set, PROVE -> AGGREGATE the reveal plan) are in chaincode/contracts/rounds/phases.py.
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts import secure_aggregation as secagg
from chaincode.contracts import tokens
from chaincode.contracts.access import require_hospital
from chaincode.contracts.rounds import phases
from chaincode.contracts.rounds.records import (
    deadline_passed,
    fresh_key,
    get_round,
    log_round,
    parts,
    update_reputation,
)
from chaincode.contracts.studies import get_study
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument
from chaincode.runtime.stub import Stub


def secure_step(stub: Stub, args: dict[str, Any], role: str, state: str, deadline: str,
                what: str) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """The caller and round of a secure-aggregation step, after the checks every step shares:
    a secure round, the caller in ``role`` (participants|committee), the round in ``state``,
    its ``deadline`` not passed."""
    msp_id = require_hospital(stub)
    rnd = get_round(stub, args["study_id"], args["round"])
    if rnd.get("aggregation") != "secure":
        raise Conflict(f"round {args['round']} uses trusted aggregation; there are no {what}")
    if msp_id not in rnd[role]:
        raise Forbidden(f"{msp_id} is not in the {role} of round {args['round']} of {args['study_id']}")
    if rnd["state"] != state:
        raise Conflict(f"round {args['round']} is {rnd['state']}; {what} are accepted in {state} only")
    if deadline_passed(stub, rnd["deadlines"][deadline]):
        raise Conflict(f"{deadline.removesuffix('_ms')} deadline passed ({rnd['deadlines'][deadline]} ms); "
                       f"{what} refused as stale")  # fmt: skip
    return msp_id, rnd


def publish_keys(stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
    """``Round:PublishKeys``: a participant's round key record, once per round."""
    msp_id, rnd = secure_step(stub, args, "participants", "KEYS", "keys_ms", "round keys")
    key = fresh_key(stub, "rkeys", args, msp_id, "published its round key")
    record = secagg.key_record(msp_id, args, rnd["committee"], stub.timestamp_ms, stub.tx_id)
    stub.put_json(key, record)
    log_round(stub, "round.keys_published", args, {"msp_id": msp_id, "bundle_cid": args["bundle_cid"]})
    return record


def submit_shares(stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
    """``Round:SubmitShares``: a committee member's shares, checked against their dealers'
    hashes (a wrong one slashes the member). Writes only the member's record: whether the round
    is unmask-ready is derived from the records (:func:`phases.unmask_ready_at`), so the members'
    shares do not conflict with each other."""
    msp_id, rnd = secure_step(stub, args, "committee", "AGGREGATE", "aggregate_ms", "shares")
    study = get_study(stub, args["study_id"])
    kind, plan = phases.share_kind(rnd), phases.stage_plan(rnd)
    key = fresh_key(stub, kind, args, msp_id, "published its shares" + (" of the second reveal" if kind != "rshares"
                                                                        else ""))  # fmt: skip
    if not args["shares"]:
        raise InvalidArgument("shares is empty: publish at least one share")
    unknown = sorted({c["msp_id"] for c in args["complaints"]} - set(rnd["masking_set"]))
    if unknown:
        raise InvalidArgument(f"complaints name {unknown}, who dealt no shares in round {args['round']}")
    keys = parts(stub, "rkeys", args["study_id"], args["round"])
    wrong = secagg.check_shares(msp_id, args["shares"], plan, keys)
    record: dict[str, Any] = {"msp_id": msp_id, "complaints": args["complaints"]}
    record["submitted_at_ms"] = stub.timestamp_ms
    if wrong:
        record.update(status="wrong", wrong=wrong, shares={})
        update_reputation(stub, msp_id, failed=1)
        tokens.slash(stub, msp_id, study["params"]["cheat_slash"], rnd["study_id"], rnd["round"],
                     f"published {len(wrong)} share(s) that do not match what was dealt",
                     f"shares:{rnd['study_id']}:{rnd['round']}:{msp_id}")  # fmt: skip
    else:
        record.update(status="valid", wrong=[], shares=args["shares"])
    stub.put_json(key, record)
    log_round(stub, "round.shares_submitted", args, {"msp_id": msp_id, "status": record["status"]})
    return {"record": record}
