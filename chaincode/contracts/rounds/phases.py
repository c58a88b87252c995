"""How ``Round:Advance`` moves a round on: one handler per state, in the table :data:`ADVANCES`.

A handler looks at the round in its state and either leaves it (returns False: waiting for
commitments, proofs, shares or a deadline) or moves it on and returns True, so that ``Advance``
looks again from the new state; a handler that ends the round (ABORTED, FINALIZED) returns
False. FINALIZED and ABORTED have no handler: they are final, and a finalized round is settled by
``Round:Settle``. :func:`waiting_for` words why a round cannot move, for ``Advance``'s refusal.

The committee's agreement (:func:`agreed`, :func:`finalize`) is here too: a round finalizes from
AGGREGATE either in ``Round:SubmitAggregate`` or in ``Advance``, by the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaincode.contracts import binding, selection, tokens
from chaincode.contracts import secure_aggregation as secagg
from chaincode.contracts.rounds.audit import fail_audit
from chaincode.contracts.rounds.binding import check_evaluations, resolve_disputes, settle_bindings
from chaincode.contracts.rounds.records import deadline_passed, parts, transition, update_reputation
from chaincode.runtime import canonical
from chaincode.runtime.stub import Stub

Handler = Callable[[Stub, dict[str, Any], dict[str, Any]], bool]


def waiting_for(stub: Stub, rnd: dict[str, Any]) -> str:
    state, d = rnd["state"], rnd["deadlines"]
    if state == "KEYS":
        have = len(parts(stub, "rkeys", rnd["study_id"], rnd["round"]))
        return (
            f"round {rnd['round']} is KEYS: {have}/{len(rnd['participants'])} round keys; key deadline {d['keys_ms']}"
        )
    if state == "OPEN":
        have = len(parts(stub, "rcommit", rnd["study_id"], rnd["round"]))
        total = len(rnd["masking_set"] if rnd.get("aggregation") == "secure" else rnd["participants"])
        return f"round {rnd['round']} is OPEN: {have}/{total} committed; commit deadline {d['commit_ms']}"
    if state == "PROVE":
        pending = [
            m
            for m, a in parts(stub, "rproof", rnd["study_id"], rnd["round"]).items()
            if a["status"] == "pending_verification"
        ]
        bindings = parts(stub, "rbind", rnd["study_id"], rnd["round"]) if rnd.get("bound") else {}
        unbound = [m for m in rnd["committed"] if rnd.get("bound") and m not in rnd["dropped"] and m not in bindings]
        return (
            f"round {rnd['round']} is PROVE: audits or bindings unresolved (awaiting proofs and bindings until "
            f"{d['prove_ms']}; {len(pending)} submitted proofs await verification; "
            f"{len(unbound)} participants have not bound their input)"
        )
    if state == "AGGREGATE" and rnd.get("aggregation") == "secure" and unmask_ready_at(stub, rnd) is None:
        counts = secagg.share_counts(stage_plan(rnd), parts(stub, share_kind(rnd), rnd["study_id"], rnd["round"]))
        short = sorted(p for p, c in counts.items() if c < rnd["threshold"])
        return (
            f"round {rnd['round']} is AGGREGATE: {len(short)} secrets lack {rnd['threshold']} valid shares "
            f"({', '.join(short)}); deadline {d['aggregate_ms']}"
        )
    if state == "AGGREGATE":
        return (
            f"round {rnd['round']} is AGGREGATE: fewer than {rnd['threshold']} matching committee records; "
            f"deadline {d['aggregate_ms']}"
        )
    return f"round {rnd['round']} is {state}: nothing to advance"


# --- one handler per state ----------------------------------------------------------------------
def from_keys(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    keys = parts(stub, "rkeys", rnd["study_id"], rnd["round"])
    if not set(keys) >= set(rnd["participants"]) and not deadline_passed(stub, rnd["deadlines"]["keys_ms"]):
        return False
    rnd["masking_set"] = sorted(m for m in keys if m in rnd["participants"])
    for m in sorted(set(rnd["participants"]) - set(keys)):
        update_reputation(stub, m, missed=1)
        rnd["dropped"][m] = "published no round key by the key deadline"
        tokens.slash(stub, m, study["params"]["missing_slash"], rnd["study_id"], rnd["round"],
                     "missed the key deadline", f"round:{rnd['study_id']}:{rnd['round']}")  # fmt: skip
    if len(rnd["masking_set"]) < study["params"]["min_participants"]:
        transition(stub, rnd, "ABORTED")
        rnd["abort_reason"] = f"{len(rnd['masking_set'])} round keys, fewer than min_participants"
        return False
    rnd["deadlines"]["commit_ms"] = stub.timestamp_ms + study["params"]["commit_window_s"] * 1000
    transition(stub, rnd, "OPEN")
    return True


def from_open(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    commits = parts(stub, "rcommit", rnd["study_id"], rnd["round"])
    expected = rnd["masking_set"] if rnd.get("aggregation") == "secure" else rnd["participants"]
    all_in = set(commits) >= set(expected)
    if not all_in and not deadline_passed(stub, rnd["deadlines"]["commit_ms"]):
        return False
    rnd["committed"] = sorted(m for m in commits if m in expected)
    rnd["missing"] = sorted(set(expected) - set(commits))
    for m in rnd["committed"]:
        update_reputation(stub, m, on_time=1)
    for m in rnd["missing"]:
        update_reputation(stub, m, missed=1)
        rnd["dropped"][m] = "missed the commit deadline"
        tokens.slash(
            stub,
            m,
            study["params"]["missing_slash"],
            rnd["study_id"],
            rnd["round"],
            "missed the commit deadline",
            f"round:{rnd['study_id']}:{rnd['round']}",
        )
    if len(rnd["committed"]) < study["params"]["min_participants"]:
        transition(stub, rnd, "ABORTED")
        rnd["abort_reason"] = f"{len(rnd['committed'])} commitments, fewer than min_participants"
        return False
    transition(stub, rnd, "COMMIT")
    return True


def draw_challenge(study: dict[str, Any], rnd: dict[str, Any], committed: list[str],
                   commits: dict[str, dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The round's challenge from the commitments of ``committed``: its seed, in a bound round
    the point inputs are evaluated at (drawn after every masked input is fixed:
    chaincode/contracts/binding.py), in an audited round each participant's audited steps."""
    seed = selection.challenge_seed([(m, commits[m]["commitment_hash"]) for m in committed])
    out: dict[str, Any] = {"challenge_seed": seed.hex()}
    if rnd.get("bound"):
        out["bind_point"] = str(binding.bind_point(seed.hex()))
    if rnd["audited"]:
        steps = study["params"]["local_steps"]
        out["audits"] = {m: selection.audit_indices(seed, m, steps, rnd["audited_steps"]) for m in committed}
    return out


def from_commit(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    rnd.update(draw_challenge(study, rnd, rnd["committed"], parts(stub, "rcommit", rnd["study_id"], rnd["round"])))
    transition(stub, rnd, "CHALLENGE")
    return True


def early_view(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> dict[str, Any]:
    """What the next ``Advance`` will record, known before it runs (for ``Round:Get``): in KEYS
    once every participant published its round key, the masking set; in KEYS or OPEN once every
    expected commitment is in, the ``challenge`` :func:`from_commit` will draw from them. Agents
    start masking, proving and binding from it instead of waiting a block for the Advance."""
    if rnd["state"] not in ("KEYS", "OPEN"):
        return {}
    out: dict[str, Any] = {}
    expected = rnd["masking_set"] if rnd.get("aggregation") == "secure" else rnd["participants"]
    if rnd["state"] == "KEYS":
        if not set(parts(stub, "rkeys", rnd["study_id"], rnd["round"])) >= set(rnd["participants"]):
            return {}
        expected = out["masking_set"] = sorted(rnd["participants"])
    commits = parts(stub, "rcommit", rnd["study_id"], rnd["round"])
    if set(commits) >= set(expected):
        out["challenge"] = draw_challenge(study, rnd, sorted(expected), commits)
    return out


def from_challenge(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    rnd["deadlines"]["prove_ms"] = stub.timestamp_ms + study["params"]["prove_window_s"] * 1000
    transition(stub, rnd, "PROVE")
    return True


def from_prove(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    if rnd["audited"]:
        proofs = parts(stub, "rproof", rnd["study_id"], rnd["round"])
        unresolved = [m for m in rnd["committed"] if proofs.get(m, {}).get("status") in (None, "pending_verification")]
        if unresolved:
            if not deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
                return False
            if any(proofs.get(m, {}).get("status") == "pending_verification" for m in unresolved):
                return False  # a submitted proof is never skipped: it waits for verification
            for m in unresolved:  # no proof at all by the deadline: a failed audit
                fail_audit(stub, study, rnd, m, "no proof by the prove deadline")
        for m in rnd["committed"]:
            status = parts(stub, "rproof", rnd["study_id"], rnd["round"]).get(m, {}).get("status")
            if status == "verified":
                update_reputation(stub, m, verified=1)
    if rnd.get("bound") and not settle_bindings(stub, study, rnd):
        return False
    rnd["inclusion"] = sorted(m for m in rnd["committed"] if m not in rnd["dropped"])
    if len(rnd["inclusion"]) < study["params"]["min_participants"]:
        transition(stub, rnd, "ABORTED")
        rnd["abort_reason"] = "too few updates passed their audits"
        return False
    if rnd.get("aggregation") == "secure":
        rnd["reveal"] = secagg.reveal_plan(rnd["masking_set"], rnd["inclusion"])
    rnd["deadlines"]["aggregate_ms"] = stub.timestamp_ms + study["params"]["aggregate_window_s"] * 1000
    transition(stub, rnd, "AGGREGATE")
    return True


def from_aggregate(stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
    records = parts(stub, aggregate_kind(rnd), rnd["study_id"], rnd["round"])
    agreement = agreed(records, rnd["threshold"])
    if agreement is not None:
        conclude(stub, study, rnd, agreement, records)
        return False
    if deadline_passed(stub, rnd["deadlines"]["aggregate_ms"]):
        for m in rnd["committee"]:
            if m not in records:
                update_reputation(stub, m, missed=1)
        transition(stub, rnd, "ABORTED")
        rnd["abort_reason"] = (
            f"fewer than {rnd['threshold']} valid shares of every revealed secret by the deadline (nothing was "
            "unmasked)"
            if rnd.get("aggregation") == "secure" and unmask_ready_at(stub, rnd) is None
            else f"fewer than {rnd['threshold']} matching committee records by the deadline"
        )
    return False


ADVANCES: dict[str, Handler] = {
    "KEYS": from_keys,  # secure mode: every participant published a round key, or the deadline
    "OPEN": from_open,  # every expected commitment, or the commit deadline
    "COMMIT": from_commit,  # the challenge seed from the commitments; audited: the steps to prove
    "CHALLENGE": from_challenge,  # the prove window opens
    "PROVE": from_prove,  # every audit resolved, or the prove deadline
    "AGGREGATE": from_aggregate,  # t matching aggregates, or the aggregate deadline passed without them
}


# --- reveal stages (bound rounds may reveal twice: chaincode/contracts/rounds/binding.py) -----------
def stage_plan(rnd: dict[str, Any]) -> dict[str, list[str]]:
    """The secrets the current reveal stage asks the committee for."""
    return rnd["reveal2"] if rnd.get("reveal_stage", 1) == 2 else rnd["reveal"]


def share_kind(rnd: dict[str, Any]) -> str:
    return "rshares2" if rnd.get("reveal_stage", 1) == 2 else "rshares"


def aggregate_kind(rnd: dict[str, Any]) -> str:
    return "ragg2" if rnd.get("reveal_stage", 1) == 2 else "ragg"


def unmask_ready_at(stub: Stub, rnd: dict[str, Any]) -> int | None:
    """When the current reveal stage became unmask-ready (every secret it reveals has ``t``
    valid shares): the timestamp of the share record that completed it, or None. Derived from
    the share records rather than stored, so that ``Round:SubmitShares`` writes only its own
    record and the committee's shares of one stage commit in the same block."""
    plan = stage_plan(rnd)
    records = sorted(parts(stub, share_kind(rnd), rnd["study_id"], rnd["round"]).items(),
                     key=lambda item: (item[1]["submitted_at_ms"], item[0]))  # fmt: skip
    seen: dict[str, dict[str, Any]] = {}
    for m, record in records:
        seen[m] = record
        if secagg.ready(plan, seen, rnd["threshold"]):
            return int(record["submitted_at_ms"])
    return None


# --- the committee's agreement ------------------------------------------------------------------
Vote = tuple[str, str, tuple[str, ...], str, str]


def vote(record: dict[str, Any]) -> Vote:
    """What a committee record votes for: the weights (hash, zk commitment), the set of
    participants it left out, and in a bound round the values it computed at the round's point
    (every honest member computes the same). Members that produced the same weights left out
    the same updates, so the exclusions are part of the agreement: one member cannot exclude a
    participant alone, nor keep an excluded one in by leaving its exclusion out."""
    left_out = tuple(sorted({e["msp_id"] for e in record.get("excluded", [])}))
    values = canonical.dumps(record.get("evaluations") or {}).decode()
    truths = canonical.dumps(record.get("pair_truths") or {}).decode()
    return record["model_hash"] or "", record.get("model_commitment") or "", left_out, values, truths


def agreed(records: dict[str, dict[str, Any]], threshold: int) -> tuple[str | None, Vote] | None:
    """(model CID, the vote) once ``threshold`` members published the same vote. Votes count
    the weights' hash: every member encrypts its copy itself, so CIDs differ; the CID kept is
    that of the first agreeing member by MSP ID."""
    votes: dict[Vote, list[str]] = {}
    for m, r in sorted(records.items()):
        votes.setdefault(vote(r), []).append(m)
    winners = sorted(v for v, members in votes.items() if len(members) >= threshold)
    if not winners:
        return None
    return records[votes[winners[0]][0]]["model_cid"], winners[0]


def conclude(
    stub: Stub,
    study: dict[str, Any],
    rnd: dict[str, Any],
    agreement: tuple[str | None, Vote],
    records: dict[str, dict[str, Any]],
) -> None:
    """Act on the committee's agreement: in a bound round first the check of every included
    input (which may start a second reveal or abort), then finalize."""
    _, (digest, _, _, values, truths) = agreement
    if rnd.get("bound"):
        if rnd.get("reveal_stage", 1) == 1 and rnd.get("disputes"):
            resolve_disputes(stub, study, rnd, canonical.loads(truths.encode()))
        if not check_evaluations(stub, study, rnd, canonical.loads(values.encode())):
            return
        if not digest:  # t members agreed on no model although every input holds: nothing to adopt
            transition(stub, rnd, "ABORTED")
            rnd["abort_reason"] = "the committee agreed on every input's value but published no model"
            return
    finalize(stub, study, rnd, agreement, records)


def finalize(
    stub: Stub,
    study: dict[str, Any],
    rnd: dict[str, Any],
    agreement: tuple[str | None, Vote],
    records: dict[str, dict[str, Any]],
) -> None:
    """AGGREGATE -> FINALIZED on the ``agreement`` of the committee ``records``: the round's
    aggregate, the committee's reputation, the validation window."""
    cid, winner = agreement
    digest, commitment, left_out = winner[0], winner[1], winner[2]
    members = sorted(m for m, r in records.items() if vote(r) == winner)
    # the agreed exclusions, each with the reason of the first agreeing member by MSP ID; what
    # other members listed beyond that is kept as unconfirmed and changes nothing
    reasons = {e["msp_id"]: e["reason"] for m in reversed(members) for e in records[m].get("excluded", [])}
    excluded = {p: reasons[p] for p in left_out}
    others: dict[str, list[str]] = {}
    for m, r in sorted(records.items()):
        for e in r.get("excluded", []):
            if e["msp_id"] not in excluded:
                others.setdefault(e["msp_id"], []).append(m)
    unconfirmed = {p: sorted(by) for p, by in sorted(others.items())}
    rnd["aggregate"] = {"cid": cid, "hash": digest, "commitment": commitment or None, "members": members,
                        "excluded": excluded, "unconfirmed_exclusions": unconfirmed}  # fmt: skip
    for m in rnd["committee"]:
        update_reputation(stub, m, **({"on_time": 1} if m in members else {"missed": 1}))
    rnd["deadlines"]["validation_ms"] = stub.timestamp_ms + study["params"]["validation_window_s"] * 1000
    transition(stub, rnd, "FINALIZED")
