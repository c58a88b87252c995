"""The audit of an audited round's participants: ``Round:SubmitProof`` in PROVE, and how an audit
fails. What a proof must show, and how the ledger checks it, is chaincode/contracts/zk_audit.py;
this module applies it to a round: who may submit, what the round's commitment pins, and what a
failed audit costs (``cheat_slash``, the update dropped, honesty reputation).
"""

from __future__ import annotations

import json
from typing import Any

from chaincode.contracts import zk_audit, zk_circuits, zk_keys
from chaincode.contracts.access import require_hospital
from chaincode.contracts.micro_units import ceil_div
from chaincode.contracts.rounds.args import MAX_AUDITED, PROOF
from chaincode.contracts.rounds.records import (
    deadline_passed,
    drop_cheater,
    fresh_key,
    get_round,
    log_round,
    part_key,
    parts,
    round_key,
)
from chaincode.contracts.studies import get_study
from chaincode.runtime.contract import MAX_ARG_BYTES
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument
from chaincode.runtime.stub import Stub


def proof_capacity_problem(local_steps: int, audited: int) -> str | None:
    """Why ``SubmitProof`` could not take an honest submission for ``audited`` steps of a
    ``local_steps``-step round (None when it can). Sized at its largest: every opened leaf with
    a full-depth Merkle path and the longest index, proofs of ``zk_audit.PROOF_BYTES`` in
    base64, encoded with spaces as the agent's gateway sends it (clients/fabric/gateway.py),
    checked against PROOF's per-field limits and the router's argument limit."""
    if audited > MAX_AUDITED:
        return f"Round:SubmitProof takes at most {MAX_AUDITED} proofs"
    last = local_steps - 1
    opening = {"index": last, **dict.fromkeys(("w_before", "batch", "w_after"), "0" * 64),
               "path": [["right", "0" * 64]] * last.bit_length()}  # fmt: skip
    proof = {"index": last, "proof": "A" * (4 * ceil_div(zk_audit.PROOF_BYTES, 3))}
    args = {"study_id": "s" * 40, "round": 999, "openings": [opening] * min(2 * audited, local_steps),
            "proofs": [proof] * audited}  # fmt: skip
    try:
        PROOF.parse(args)
    except InvalidArgument as exc:
        return f"Round:SubmitProof would refuse it ({exc.message})"
    size = len(json.dumps(args, sort_keys=True).encode())
    if size > MAX_ARG_BYTES:
        return f"the submission would be {size} bytes, over the {MAX_ARG_BYTES}-byte argument limit"
    return None


def submit_proof(stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
    """``Round:SubmitProof``: check a participant's openings and proofs and resolve its audit
    in this transaction (the contract method's docstring says what a caller sees)."""
    msp_id = require_hospital(stub)
    study = get_study(stub, args["study_id"])
    rnd = get_round(stub, args["study_id"], args["round"])
    if not rnd["audited"]:
        raise Conflict(f"study {args['study_id']} is unaudited; there is nothing to prove")
    if rnd["state"] != "PROVE":
        raise Conflict(f"round {args['round']} is {rnd['state']}; proofs are accepted in PROVE only")
    if msp_id not in rnd["audits"] or msp_id in rnd["dropped"]:
        raise Forbidden(f"{msp_id} has no open audit in round {args['round']}")
    if deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
        raise Conflict("prove deadline passed; proof refused as stale")
    key = fresh_key(stub, "rproof", args, msp_id, "submitted its proof")
    audits = rnd["audits"][msp_id]
    commit = parts(stub, "rcommit", args["study_id"], args["round"])[msp_id]
    steps = commit["step_count"]
    opened = {o["index"]: o for o in args["openings"]}
    proofs = {p["index"]: p["proof"] for p in args["proofs"]}
    need_leaves = zk_audit.required_leaves(audits, steps)
    if len(opened) != len(args["openings"]) or len(proofs) != len(args["proofs"]):
        raise InvalidArgument("a step is opened or proven twice")
    if not need_leaves <= set(opened) or set(proofs) != set(audits):
        raise InvalidArgument(
            f"audited steps {audits} need proofs of exactly those steps and openings of steps "
            f"{sorted(need_leaves)}; missing openings {sorted(need_leaves - set(opened))}, proofs of "
            f"{sorted(set(proofs) ^ set(audits))}"
        )
    p = study["params"]
    needed = {i: opened[i] for i in sorted(need_leaves)}
    start = rnd["model_in"].get("commitment") or ""
    problems = zk_audit.check_openings(audits, steps, commit["step_root"], needed, start,
                                       commit["final_commitment"])  # fmt: skip
    tag = zk_audit.round_tag(args["study_id"], args["round"], msp_id)
    dim = zk_circuits.parse(p["zk_circuit"]).weights
    sigma = commit["noise_multiplier_micro"]
    items = [{"proof": proofs[i], "public": zk_audit.public_inputs(i, opened[i], tag, p, sigma, dim)}
             for i in audits]  # fmt: skip
    vk = zk_keys.get_key(stub, p["zk_vk_hash"])["vk"]
    for i, verdict in zip(audits, zk_audit.verify_proofs(p["zk_circuit"], vk, items), strict=True):
        if not verdict["valid"]:
            problems.append(f"the proof of step {i} does not verify ({verdict.get('error', 'invalid')})")
    record = {"msp_id": msp_id, "steps": audits, "openings": sorted(opened), "submitted_at_ms": stub.timestamp_ms,
              "tx_id": stub.tx_id}  # fmt: skip
    if problems:
        stub.put_json(key, {**record, "status": "submitted"})
        fail_audit(stub, study, rnd, msp_id, "; ".join(problems)[:500])
        stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
    else:  # a verified proof leaves the round record alone: the proofs of a round share a block
        stub.put_json(key, {**record, "status": "verified", "resolved_at_ms": stub.timestamp_ms})
    outcome = stub.get_json(key)
    log_round(stub, "round.proof_" + outcome["status"], args, {"msp_id": msp_id, "steps": audits})
    return outcome


def fail_audit(stub: Stub, study: dict[str, Any], rnd: dict[str, Any], m: str, reason: str) -> None:
    """Resolve ``m``'s audit as failed: its proof record says why, its update is dropped from the
    round, its stake is slashed ``cheat_slash`` and its honesty reputation drops. Called by
    :func:`submit_proof` on a proof that does not hold, and by the PROVE phase
    (chaincode/contracts/rounds/phases.py) for a participant with no proof at the deadline."""
    key = part_key(stub, "rproof", rnd["study_id"], rnd["round"], m)
    record = stub.get_json(key) or {"msp_id": m}
    stub.put_json(key, {**record, "status": "failed", "reason": reason, "resolved_at_ms": stub.timestamp_ms})
    drop_cheater(stub, study, rnd, m, f"audit failed: {reason}", f"audit:{rnd['study_id']}:{rnd['round']}:{m}")
