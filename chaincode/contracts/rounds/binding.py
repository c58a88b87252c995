"""Binding in a round (bound secure studies): ``Round:SubmitBinding`` in PROVE, what the PROVE
phase decides about bindings before the reveal, and what the committee's agreed check decides
after it. The rules themselves (point, public inputs, disputes, the check) are
chaincode/contracts/binding.py.
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts import binding, tokens, zk_audit, zk_keys
from chaincode.contracts.access import require_hospital
from chaincode.contracts.rounds.records import (
    deadline_passed,
    drop_cheater,
    fresh_key,
    get_round,
    log_round,
    part_key,
    parts,
    round_key,
    transition,
)
from chaincode.contracts.studies import get_study
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument
from chaincode.runtime.stub import Stub


def _ref(rnd: dict[str, Any], m: str) -> str:
    return f"binding:{rnd['study_id']}:{rnd['round']}:{m}"


def fail_binding(stub: Stub, study: dict[str, Any], rnd: dict[str, Any], m: str, reason: str) -> None:
    """``m``'s masked input is not bound to its committed update: excluded and slashed like a
    failed audit; its binding record says why."""
    key = part_key(stub, "rbind", rnd["study_id"], rnd["round"], m)
    record = stub.get_json(key) or {"msp_id": m}
    stub.put_json(key, {**record, "status": "failed", "reason": reason, "resolved_at_ms": stub.timestamp_ms})
    drop_cheater(stub, study, rnd, m, f"binding failed: {reason}", _ref(rnd, m))


def submit_binding(stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
    """``Round:SubmitBinding``: verify the participant's binding proof against the public inputs
    the ledger computes itself, and record its value and pair values. An invalid proof resolves
    the binding as failed in this transaction; a malformed submission changes nothing."""
    msp_id = require_hospital(stub)
    study = get_study(stub, args["study_id"])
    rnd = get_round(stub, args["study_id"], args["round"])
    if not rnd.get("bound"):
        raise Conflict(f"round {args['round']} of {args['study_id']} does not bind inputs; there is nothing to bind")
    if rnd["state"] != "PROVE":
        raise Conflict(f"round {args['round']} is {rnd['state']}; bindings are accepted in PROVE only")
    if msp_id not in rnd["committed"] or msp_id in rnd["dropped"]:
        raise Forbidden(f"{msp_id} has no committed input to bind in round {args['round']}")
    if deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
        raise Conflict("prove deadline passed; binding refused as stale")
    key = fresh_key(stub, "rbind", args, msp_id, "submitted its binding")
    peers = sorted(set(rnd["committed"]) - {msp_id})
    if sorted(args["pair_values"]) != peers:
        raise InvalidArgument(f"pair_values must name exactly the other committed participants {peers}")
    p = study["params"]
    commit = parts(stub, "rcommit", args["study_id"], args["round"])[msp_id]
    if not rnd["model_in"].get("commitment"):
        raise Conflict(f"round {args['round']}'s model has no commitment: there is nothing to bind its update to")
    point = int(rnd["bind_point"])
    public = binding.public_inputs(rnd["model_in"]["commitment"], commit, point, int(args["value"]),
                                   binding.norm_bound(p["update_norm_micro"]))  # fmt: skip
    vk = zk_keys.get_key(stub, p["bind_vk_hash"])["vk"]
    [verdict] = zk_audit.verify_proofs(binding.bind_circuit(p["zk_circuit"]), vk, [{"proof": args["proof"],
                                                                                    "public": public}])  # fmt: skip
    record = {"msp_id": msp_id, "value": args["value"], "pair_values": args["pair_values"],
              "submitted_at_ms": stub.timestamp_ms, "tx_id": stub.tx_id}  # fmt: skip
    if verdict["valid"]:  # the round record is left alone: bindings of several hospitals share a block
        stub.put_json(key, {**record, "status": "verified"})
    else:
        stub.put_json(key, record)
        fail_binding(stub, study, rnd, msp_id, f"the binding proof does not verify ({verdict.get('error', 'invalid')})")
        stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
    outcome = stub.get_json(key)
    log_round(stub, "round.binding_" + outcome["status"], args, {"msp_id": msp_id})
    return outcome


def settle_bindings(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    """At the end of PROVE: False while a committed participant may still bind (before the prove
    deadline). Then a participant without a binding fails it, and both ends of every pair whose
    two published values differ are excluded (not slashed: which one lied is decided after the
    reveal, :func:`resolve_disputes`)."""
    records = parts(stub, "rbind", rnd["study_id"], rnd["round"])
    waiting = [m for m in rnd["committed"] if m not in rnd["dropped"] and m not in records]
    if waiting and not deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
        return False
    for m in waiting:
        fail_binding(stub, study, rnd, m, "no binding by the prove deadline")
    bound = [m for m in rnd["committed"] if m not in rnd["dropped"] and records.get(m, {}).get("status") == "verified"]
    rnd["disputes"] = binding.disputes(records, bound)
    for d in rnd["disputes"]:
        a, b = d["pair"].split("|")
        for m, other in ((a, b), (b, a)):
            rnd["dropped"].setdefault(m, f"its value of the mask shared with {other} differs from {other}'s: one of "
                                         "the two lied (decided after the reveal)")  # fmt: skip
    return True


def resolve_disputes(stub: Stub, study: dict[str, Any], rnd: dict[str, Any], truths: dict[str, str]) -> None:
    """Slash whoever published a pair value other than the committee's agreed ``truths``."""
    for d in rnd.get("disputes", []):
        if "truth" in d:
            continue
        d["truth"] = truths[d["pair"]]
        d["liars"] = binding.liars(d, d["truth"])
        for m in d["liars"]:
            tokens.slash(stub, m, study["params"]["cheat_slash"], rnd["study_id"], rnd["round"],
                         f"published a false value of the mask shared in pair {d['pair']}",
                         f"dispute:{rnd['study_id']}:{rnd['round']}:{d['pair']}:{m}")  # fmt: skip


def check_evaluations(stub: Stub, study: dict[str, Any], rnd: dict[str, Any], evaluations: dict[str, str]) -> bool:
    """The agreed post-reveal check. True when every included input is its bound update. Else
    the failing senders are slashed and excluded, and either a second reveal of their round keys
    starts (the round stays in AGGREGATE, waiting for those shares) or, if this already was the
    second reveal or too few remain, the round aborts. Returns False in both cases."""
    records = parts(stub, "rbind", rnd["study_id"], rnd["round"])
    failed = binding.failures(evaluations, records, rnd["inclusion"])
    rnd.setdefault("binding_checks", []).append({"stage": rnd.get("reveal_stage", 1), "failed": failed,
                                                 "ts_ms": stub.timestamp_ms})  # fmt: skip
    if not failed:
        return True
    for m in failed:
        fail_binding(stub, study, rnd, m, "its unmasked input is not the update it bound (value at the round's point "
                                          "differs)")  # fmt: skip
    rnd["inclusion"] = [m for m in rnd["inclusion"] if m not in failed]
    ends = rnd.get("reveal_stage", 1) >= 2 or len(rnd["inclusion"]) < study["params"]["min_participants"]
    log_round(
        stub,
        "round.inputs_rejected",
        {"study_id": rnd["study_id"], "round": rnd["round"]},
        {"failed": failed, "stage": rnd.get("reveal_stage", 1), "next": "abort" if ends else "reveal"},
    )
    if ends:
        transition(stub, rnd, "ABORTED")
        rnd["abort_reason"] = (f"inputs of {', '.join(failed)} were not their bound updates"
                               + (" after the second reveal" if rnd.get("reveal_stage", 1) >= 2 else
                                  "; too few remain"))  # fmt: skip
        return False
    rnd["reveal_stage"] = 2
    rnd["reveal2"] = {"seed": [], "key": failed}
    rnd["deadlines"]["aggregate_ms"] = stub.timestamp_ms + study["params"]["aggregate_window_s"] * 1000
    return False
