"""What a certificate states, derived from ledger records by one function that the issuer and
the verifier share.

``derive`` reads the records it needs through ``read(key)`` (the study, each round's record up
to the model's round, each contributor's commitment and, for audited studies, audit record, for
studies with bound inputs, binding record) and builds the statement: the model, the study's
parameters, and per round who trained, who aggregated, the audits, the bindings and the
committee's checks of them, the epsilon spent and the consented record counts. It also checks the
lineage: each round starts from the previous round's aggregate and round 0 from the study's
initial model, so the statement reaches back to the initial model without a gap. The issuer
calls it with a reader that gathers evidence; the verifier with one that reads only the
verified write sets, and compares the result with what the certificate states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaincode.runtime.keys import create_composite_key
from provenance.errors import Refused

Reader = Callable[[str], dict[str, Any]]
MAX_ROUNDS = 1000
LEARNING = ("server_optimizer", "server_lr_ppm", "server_momentum_ppm", "prox_mu_ppm")


def study_key(study_id: str) -> str:
    return create_composite_key("study", [study_id])


def round_key(study_id: str, n: int) -> str:
    return create_composite_key("round", [study_id, f"{n:06d}"])


def part_key(kind: str, study_id: str, n: int, msp_id: str) -> str:
    return create_composite_key(kind, [study_id, f"{n:06d}", msp_id])


def printable(key: str) -> str:
    """A composite key as people read it: ``round~s1~000002``."""
    return "~".join(p for p in key.split("\x00") if p)


def derive(study_id: str, round_no: int | None, model_hash: str, read: Reader) -> dict[str, Any]:
    """The statement about the model ``model_hash``: the aggregate of ``round_no`` of
    ``study_id``, or (``round_no`` None) the study's initial model."""
    study = read(study_key(study_id))
    params = study["params"]
    statement: dict[str, Any] = {
        "model": {"hash": model_hash, "study": study_id, "round": round_no},
        "study": {
            "study_id": study_id,
            "proposer": study["proposer"],
            "approvals": study["approvals"],
            "audited": study["audited"],
            "aggregation": params.get("aggregation", "trusted"),
            "rounds_planned": params["rounds"],
            "epsilon_budget_micro": params["epsilon_budget_micro"],
            "initial_model": {"hash": params["model_hash"], "cid": params["model_cid"]},
            # in a study with bound inputs: every masked input bound to its committed update
            **({"bound": True, "update_norm_micro": params["update_norm_micro"]} if study.get("bound") else {}),
            # how the model learns: the committee's server step and the hospitals' FedProx term
            **({"learning": {k: params.get(k, 0) for k in LEARNING}} if "server_optimizer" in params else {}),
        },
        "rounds": [],
    }
    if round_no is None:
        if params["model_hash"] != model_hash:
            raise Refused(f"{model_hash} is not the initial model of {study_id} ({params['model_hash']})")
        statement["model"]["cid"] = params["model_cid"]
        return statement
    if not 0 <= round_no < min(params["rounds"], MAX_ROUNDS):
        raise Refused(f"study {study_id} has no round {round_no}")
    previous = params["model_hash"]
    spent: dict[str, int] = {}
    for n in range(round_no + 1):
        rnd = read(round_key(study_id, n))
        if rnd["state"] != "FINALIZED":
            raise Refused(f"round {n} of {study_id} is {rnd['state']}, not FINALIZED: it made no model")
        if rnd["model_in"]["hash"] != previous:
            raise Refused(f"lineage broken: round {n} starts from {rnd['model_in']['hash']}, not {previous}")
        entry = _round_entry(study_id, n, rnd, read)
        for m, h in entry["hospitals"].items():
            spent[m] = max(spent.get(m, 0), h["epsilon_spent_total_micro"])
        statement["rounds"].append(entry)
        previous = rnd["aggregate"]["hash"]
    if previous != model_hash:
        raise Refused(f"round {round_no} of {study_id} made {previous}, not {model_hash}")
    statement["model"]["cid"] = statement["rounds"][-1]["model_out"]["cid"]
    statement["epsilon_spent_micro"] = dict(sorted(spent.items()))
    statement["trained_by"] = sorted({m for r in statement["rounds"] for m in r["contributors"]})
    return statement


def _round_entry(study_id: str, n: int, rnd: dict[str, Any], read: Reader) -> dict[str, Any]:
    agg = rnd["aggregate"]
    excluded = agg.get("excluded", {})
    contributors = sorted(m for m in rnd["inclusion"] if m not in excluded)
    hospitals = {}
    for m in sorted(rnd["inclusion"]):
        c = read(part_key("rcommit", study_id, n, m))
        hospitals[m] = {
            "commitment_hash": c["commitment_hash"],
            "update_hash": c["update_hash"],
            "epsilon_micro": c["epsilon_micro"],
            "epsilon_spent_total_micro": c["epsilon_spent_total_micro"],
            "consented_records": c.get("consented_records"),
            "consent_digest": c.get("consent_digest"),
        }
    audits = {}
    if rnd["audited"]:
        for m in sorted(rnd["committed"]):
            audits[m] = read(part_key("rproof", study_id, n, m)).get("status", "none")
    bound = {}
    if rnd.get("bound"):  # each contributor's binding, and the committee's checks after each reveal
        checks = rnd.get("binding_checks", [])
        bound = {"bindings": {m: read(part_key("rbind", study_id, n, m))["status"] for m in sorted(rnd["inclusion"])},
                 "input_checks": [{"stage": c["stage"], "failed": c["failed"]} for c in checks]}  # fmt: skip
    # the server step that made model_out from the mean update (with momentum, also from model_prev)
    server = (
        {"server": rnd["server"], "model_prev": (rnd.get("model_prev") or {}).get("hash")} if "server" in rnd else {}
    )
    return {
        "round": n,
        "model_in": rnd["model_in"]["hash"],
        "model_out": {"hash": agg["hash"], "cid": agg["cid"]},
        "aggregation": rnd.get("aggregation", "trusted"),
        **server,
        "committee": rnd["committee"],
        "threshold": rnd.get("threshold"),
        "aggregated_by": agg.get("members", []),
        "participants": rnd["participants"],
        "contributors": contributors,
        "excluded": excluded,
        "dropped": rnd["dropped"],
        "audited": rnd["audited"],
        "audits": audits,
        **bound,
        "hospitals": hospitals,
        "rewards": rnd.get("rewards") or {},
        "opened_at_ms": rnd["transitions"][0]["ts_ms"] if rnd.get("transitions") else None,
        "finalized_at_ms": next(
            (t["ts_ms"] for t in rnd.get("transitions", []) if t.get("state") == "FINALIZED"), None
        ),
    }
