"""Training rounds: the state machine that runs a study, one round at a time.

::

    OPEN ──► COMMIT ──► CHALLENGE ──► PROVE ──► AGGREGATE ──► FINALIZED
      └──────────┴──────────┴────────────┴───────────┴──────► ABORTED

* ``Open`` selects participants and the aggregation committee (chaincode/contracts/selection.py),
  locks their stake, fixes the round's reward budget, and starts the commit window. Agents
  train and call ``Commit`` (update hash, step Merkle root, sample-count bucket, epsilon spent,
  share CIDs); the privacy budget is charged there.
* ``Advance`` (anyone in the consortium may call it; agents call it on events and deadlines)
  moves the round as far as completion or deadlines allow, in one transaction:
  OPEN->COMMIT when every participant committed or the commit deadline passed (missing
  participants lose availability and ``missing_slash``); COMMIT->CHALLENGE derives the challenge
  seed from all commitments and each participant's audited steps; CHALLENGE->PROVE opens the
  proof window; PROVE->AGGREGATE once every audit is resolved, where a proof missing at the
  deadline counts as failed (``cheat_slash``, update dropped) and a proof submitted but not yet
  verified blocks the round: audits are never skipped. The inclusion set is fixed here.
  ``SubmitAggregate`` by committee members finalizes the round as soon as ``t`` of them
  published the same model CID and hash; at the aggregate deadline without ``t`` the round aborts.
  A committee record may list ``excluded`` participants with a reason (an update that could not
  be fetched, did not match its committed hash, or was malformed). The set of excluded
  participants is part of what members agree on, with the weights: members that produced the
  same weights left out the same updates (each words the reason itself). So an exclusion needs
  the model's quorum, and no member can exclude a participant alone or keep an excluded one in
  by leaving its exclusion out. An agreed exclusion is on the ledger for everyone to see and the
  participant earns nothing; what other members listed is kept as ``unconfirmed_exclusions``
  and changes nothing.
* After finalization hospitals ``ReportValidation`` of the new model on their own held-out
  data and ``Settle`` pays rewards (chaincode/contracts/incentives.py) and updates quality
  reputation.

A study with audit rate 0 has no audits; its rounds and lineage say ``audited: false``.
Deadlines are measured in transaction timestamps, which clients set and peers only accept
within their time window (Fabric's TimeWindowCheck, 15 minutes by default).

State::

    round~<study>~<r:06d>             -> round record
    rcommit~<study>~<r:06d>~<msp>     -> commitment
    rproof~<study>~<r:06d>~<msp>      -> audit record (status pending_verification|verified|failed)
    ragg~<study>~<r:06d>~<msp>        -> committee member's aggregate record
    rval~<study>~<r:06d>~<msp>        -> validation report
    rep~<msp>                         -> reputation record (chaincode/contracts/reputation.py)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from chaincode.contracts import (
    incentives,
    ledger_log,
    privacy_budget,
    reputation,
    selection,
    tokens,
    zk_audit,
    zk_circuits,
    zk_keys,
)
from chaincode.contracts import secure_aggregation as secagg
from chaincode.contracts.access import require_hospital
from chaincode.contracts.fixedpoint import ceil_div, median
from chaincode.contracts.registry import MSP_ID, require_registered
from chaincode.contracts.studies import CID, HEX64, STUDY_ID, enrolled, get_study, put_study, require_active
from chaincode.runtime import canonical
from chaincode.runtime.contract import MAX_ARG_BYTES, Contract, query, transaction
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument, NotFound
from chaincode.runtime.schema import Field, Int, Schema, Str
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
MAX_SHARES = 64
MAX_EXCLUSIONS = 64
MAX_AUDITED = 64


class CidList(Field):
    """A list of IPFS CIDs (the encrypted update shares)."""

    def check(self, name: str, value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > MAX_SHARES:
            raise InvalidArgument(f"{name} must be a list of at most {MAX_SHARES} CIDs")
        cid = Str(max_len=130, pattern=CID)
        return [cid.check(f"{name}[{i}]", v) for i, v in enumerate(value)]


class ExclusionList(Field):
    """Participants whose update the aggregator left out, each with its reason."""

    def check(self, name: str, value: Any) -> list[dict[str, str]]:
        if not isinstance(value, list) or len(value) > MAX_EXCLUSIONS:
            raise InvalidArgument(f"{name} must be a list of at most {MAX_EXCLUSIONS} exclusions")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"msp_id", "reason"}:
                raise InvalidArgument(f"{name}[{i}] must be {{'msp_id': ..., 'reason': ...}}")
            out.append({"msp_id": Str(max_len=64, pattern=MSP_ID).check(f"{name}[{i}].msp_id", item["msp_id"]),
                        "reason": Str(max_len=300).check(f"{name}[{i}].reason", item["reason"])})  # fmt: skip
        return out


REF = {"study_id": Str(pattern=STUDY_ID), "round": Int(0, 999)}
COMMIT = Schema(
    {
        **REF,
        "update_hash": Str(pattern=HEX64),
        "step_root": Str(pattern=HEX64),
        "sample_bucket": Int(0, selection.MAX_BUCKET),
        "epsilon_micro": Int(1, 100_000_000),
        "share_cids": CidList(required=False, default=[]),
        "consented_records": Int(0, 10**9, required=False, default=None),
        # audited studies: the number of steps (= the study's local_steps), the commitment of
        # the final weights (the last leaf's w_after) and the noise multiplier in millionths
        "step_count": Int(1, 100_000, required=False, default=None),
        "final_commitment": Str(pattern=HEX64, required=False, default=None),
        "noise_multiplier_micro": Int(1, 10**9, required=False, default=None),
    }
)


class Openings(Field):
    """Opened step leaves: [{index, w_before, batch, w_after, path: [[side, hex64], ...]}]."""

    def check(self, name: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not 1 <= len(value) <= 2 * MAX_AUDITED:
            raise InvalidArgument(f"{name} must list 1..{2 * MAX_AUDITED} opened leaves")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"index", "w_before", "batch", "w_after", "path"}:
                raise InvalidArgument(f"{name}[{i}] must have index, w_before, batch, w_after and path")
            path = item["path"]
            if not isinstance(path, list) or len(path) > 40:
                raise InvalidArgument(f"{name}[{i}].path must be a list of at most 40 [side, hash] pairs")
            for j, step in enumerate(path):
                if not (isinstance(step, list) and len(step) == 2 and step[0] in ("left", "right")):
                    raise InvalidArgument(f"{name}[{i}].path[{j}] must be ['left'|'right', sha256 hex]")
                Str(pattern=HEX64).check(f"{name}[{i}].path[{j}]", step[1])
            out.append({"index": Int(0, 99_999).check(f"{name}[{i}].index", item["index"]),
                        **{k: Str(pattern=HEX64).check(f"{name}[{i}].{k}", item[k]) for k in ("w_before", "batch",
                                                                                            "w_after")},
                        "path": path})  # fmt: skip
        return out


class Proofs(Field):
    """Groth16 proofs of audited steps: [{index, proof (base64)}]."""

    def check(self, name: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_AUDITED:
            raise InvalidArgument(f"{name} must list 1..{MAX_AUDITED} proofs")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"index", "proof"}:
                raise InvalidArgument(f"{name}[{i}] must be {{'index': ..., 'proof': ...}}")
            out.append({"index": Int(0, 99_999).check(f"{name}[{i}].index", item["index"]),
                        "proof": Str(max_len=1024, pattern=r"[A-Za-z0-9+/=]+").check(f"{name}[{i}].proof",
                                                                                    item["proof"])})  # fmt: skip
        return out


PROOF = Schema({**REF, "openings": Openings(), "proofs": Proofs()})


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


AGGREGATE = Schema(
    {
        **REF,
        "model_cid": Str(max_len=130, pattern=CID),
        "model_hash": Str(pattern=HEX64),
        "excluded": ExclusionList(required=False, default=[]),
        # audited studies: the Poseidon2 commitment of the new weights (next round's step 0 starts there)
        "model_commitment": Str(pattern=HEX64, required=False, default=None),
    }
)
VALIDATION = Schema({**REF, "metric_ppm": Int(0, 1_000_000), "previous_metric_ppm": Int(0, 1_000_000)})
ROUND_REF = Schema(REF)
KEYS = Schema({**REF, **secagg.KEYS_FIELDS})
SHARES = Schema({**REF, "shares": secagg.ShareMap(), "complaints": ExclusionList(required=False, default=[])})


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


def _fresh_key(stub: Stub, kind: str, args: dict[str, Any], msp_id: str, already: str) -> str:
    """Key of ``msp_id``'s record of ``kind`` in this round; refuses a second one (a replay)."""
    key = part_key(stub, kind, args["study_id"], args["round"], msp_id)
    if stub.get_state(key) is not None:
        raise Conflict(f"{msp_id} already {already} in round {args['round']}")
    return key


def _log(stub: Stub, action: str, args: dict[str, Any], details: dict[str, Any]) -> None:
    ledger_log.record(stub, action, args["study_id"], details, round_no=args["round"])


def _transition(stub: Stub, rnd: dict[str, Any], state: str) -> None:
    if state not in NEXT[rnd["state"]]:
        raise AssertionError(f"illegal transition {rnd['state']} -> {state}")
    rnd["state"] = state
    rnd["transitions"].append({"state": state, "ts_ms": stub.timestamp_ms, "tx_id": stub.tx_id})


def _deadline_passed(stub: Stub, deadline_ms: int | None) -> bool:
    return deadline_ms is not None and stub.timestamp_ms > deadline_ms


class RoundContract(Contract):
    name = "Round"

    # --- open ---------------------------------------------------------------------------------
    @transaction(Schema({"study_id": Str(pattern=STUDY_ID)}))
    def Open(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Open the study's next round: select participants and committee, lock their stake."""
        caller = require_hospital(stub)
        require_registered(stub, caller)
        study = get_study(stub, args["study_id"])
        require_active(study)
        p = study["params"]
        n = study["current_round"] + 1
        if n > 0:
            previous = get_round(stub, study["study_id"], n - 1)
            if previous["state"] not in ("FINALIZED", "ABORTED"):
                raise Conflict(f"round {n - 1} of {study['study_id']} is still {previous['state']}")
            seed_hex = previous["final_hash"]
            model_in = previous.get("aggregate") or previous["model_in"]
            model_in = {"cid": model_in["cid"], "hash": model_in["hash"], "commitment": model_in.get("commitment")}
        else:
            seed_hex = study["genesis_hash"]
            model_in = {"cid": p["model_cid"], "hash": p["model_hash"], "commitment": p.get("model_commitment") or None}
        if n >= p["rounds"]:
            raise Conflict(f"study {study['study_id']} has run all {p['rounds']} rounds")
        candidates = {
            m: tokens.free_stake(stub, m)
            for m in enrolled(stub, study["study_id"])
            if tokens.free_stake(stub, m) >= p["min_stake"]
        }
        if len(candidates) < p["min_participants"] or len(candidates) < p["committee_size"]:
            raise Conflict(
                f"only {len(candidates)} enrolled hospitals have {p['min_stake']} unlocked stake; the round needs "
                f"{max(p['min_participants'], p['committee_size'])}"
            )
        seed = bytes.fromhex(seed_hex)
        reps = {m: get_reputation(stub, m)["score_ppm"] for m in candidates}
        buckets = {m: self._last_bucket(stub, study["study_id"], n, m) for m in candidates}
        p_weights = {
            m: selection.participant_weight(reps[m], s, p["min_stake"], buckets[m]) for m, s in candidates.items()
        }
        c_weights = {m: selection.committee_weight(reps[m], s, p["min_stake"]) for m, s in candidates.items()}
        participants = sorted(selection.weighted_sample(p_weights, p["participants_per_round"], seed, "participants"))
        committee = sorted(selection.weighted_sample(c_weights, p["committee_size"], seed, "committee"))
        locked = sorted(set(participants) | set(committee))
        for m in locked:
            tokens.lock(stub, m, p["min_stake"])
        budget = min(p["reward_per_round"], tokens.pool_balance(stub, study["study_id"]))
        now = stub.timestamp_ms
        secure = p.get("aggregation", "trusted") == "secure"
        first = "KEYS" if secure else "OPEN"
        rnd = {
            "study_id": study["study_id"],
            "round": n,
            "state": first,
            "aggregation": "secure" if secure else "trusted",
            "audited": study["audited"],
            "audited_steps": study["audited_steps_per_round"],
            "seed": seed_hex,
            "model_in": model_in,
            "participants": participants,
            "committee": committee,
            "threshold": p["committee_threshold"],
            "weights": {"participants": {m: p_weights[m] for m in participants}},
            "locked": {m: p["min_stake"] for m in locked},
            "reward_rule": {"rule": incentives.RULE_NAME, "budget": budget},
            "deadlines": {
                "keys_ms": now + p["keys_window_s"] * 1000 if secure else None,
                "commit_ms": None if secure else now + p["commit_window_s"] * 1000,
                "prove_ms": None,
                "aggregate_ms": None,
                "validation_ms": None,
            },
            "masking_set": [],
            "committed": [],
            "missing": [],
            "audits": {},
            "challenge_seed": None,
            "inclusion": [],
            "dropped": {},
            "reveal": None,
            "unmask_ready": False,
            "aggregate": None,
            "final_hash": None,
            "settled": False,
            "opened_by": caller,
            "transitions": [{"state": first, "ts_ms": now, "tx_id": stub.tx_id}],
        }
        stub.put_json(round_key(stub, study["study_id"], n), rnd)
        study["current_round"] = n
        put_study(stub, study)
        ledger_log.record(
            stub,
            "round.opened",
            study["study_id"],
            {"participants": participants, "committee": committee, "budget": budget},
            round_no=n,
        )
        return rnd

    @staticmethod
    def _last_bucket(stub: Stub, study_id: str, n: int, msp_id: str) -> int:
        for back in range(n - 1, max(-1, n - 6), -1):
            commit = stub.get_json(part_key(stub, "rcommit", study_id, back, msp_id))
            if commit is not None:
                return commit["sample_bucket"]
        return 0

    # --- commit -------------------------------------------------------------------------------
    @transaction(COMMIT)
    def Commit(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A selected participant commits to its trained update (hashes only, never data)."""
        msp_id = require_hospital(stub)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        if msp_id not in rnd["participants"]:
            raise Forbidden(f"{msp_id} is not a participant of round {args['round']} of {args['study_id']}")
        if rnd.get("aggregation") == "secure" and rnd["state"] == "OPEN" and msp_id not in rnd["masking_set"]:
            raise Forbidden(f"{msp_id} published no round key in time: nobody masked against it, it cannot commit")
        if rnd["state"] != "OPEN":
            raise Conflict(f"round {args['round']} is {rnd['state']}; commitments closed")
        if _deadline_passed(stub, rnd["deadlines"]["commit_ms"]):
            raise Conflict(f"commit deadline passed ({rnd['deadlines']['commit_ms']} ms); commitment refused as stale")
        key = _fresh_key(stub, "rcommit", args, msp_id, "committed")
        if rnd["audited"]:
            missing = [k for k in ("step_count", "final_commitment", "noise_multiplier_micro") if args[k] is None]
            if missing:
                raise InvalidArgument(f"an audited study's commitment needs {', '.join(missing)}")
            if args["step_count"] != study["params"]["local_steps"]:
                raise InvalidArgument(f"step_count {args['step_count']} is not the study's local_steps "
                                      f"{study['params']['local_steps']}")  # fmt: skip
        budget = privacy_budget.charge(
            stub, args["study_id"], msp_id, args["epsilon_micro"], study["params"]["epsilon_budget_micro"]
        )
        commitment = {
            "msp_id": msp_id,
            "update_hash": args["update_hash"],
            "step_root": args["step_root"],
            "sample_bucket": args["sample_bucket"],
            "epsilon_micro": args["epsilon_micro"],
            "epsilon_spent_total_micro": budget["spent_micro"],
            "share_cids": args["share_cids"],
            "consented_records": args["consented_records"],
            "step_count": args["step_count"],
            "final_commitment": args["final_commitment"],
            "noise_multiplier_micro": args["noise_multiplier_micro"],
            "committed_at_ms": stub.timestamp_ms,
            "tx_id": stub.tx_id,
        }
        commitment["commitment_hash"] = hashlib.sha256(canonical.dumps(commitment)).hexdigest()
        stub.put_json(key, commitment)
        _log(stub, "round.committed", args, {"msp_id": msp_id, "commitment_hash": commitment["commitment_hash"]})
        return commitment

    # --- the state machine ----------------------------------------------------------------------
    @transaction(ROUND_REF)
    def Advance(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Move the round forward as far as completion and deadlines allow."""
        caller = require_hospital(stub)
        require_registered(stub, caller)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        start = rnd["state"]
        steps = self._advances()
        while True:
            step = steps.get(rnd["state"])
            if step is None or not step(stub, study, rnd):
                break
        if rnd["state"] == start:
            raise Conflict(self._waiting_for(stub, rnd))
        self._save(stub, study, rnd)
        ledger_log.record(
            stub, "round.advanced", study["study_id"], {"from": start, "to": rnd["state"]}, round_no=rnd["round"]
        )
        return rnd

    def _advances(self) -> dict[str, Callable[[Stub, dict[str, Any], dict[str, Any]], bool]]:
        """How ``Advance`` moves a round on from each state (True: it moved; look again).
        FINALIZED and ABORTED are final; a finalized round is settled by ``Settle``."""
        return {
            "KEYS": self._from_keys,  # secure mode: every participant published a round key, or the deadline
            "OPEN": self._from_open,  # every expected commitment, or the commit deadline
            "COMMIT": self._from_commit,  # the challenge seed from the commitments; audited: the steps to prove
            "CHALLENGE": self._from_challenge,  # the prove window opens
            "PROVE": self._from_prove,  # every audit resolved, or the prove deadline
            "AGGREGATE": self._from_aggregate,  # the aggregate deadline passed without t matching aggregates
        }

    def _save(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> None:
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

    def _waiting_for(self, stub: Stub, rnd: dict[str, Any]) -> str:
        state, d = rnd["state"], rnd["deadlines"]
        if state == "KEYS":
            have = len(parts(stub, "rkeys", rnd["study_id"], rnd["round"]))
            return (
                f"round {rnd['round']} is KEYS: {have}/{len(rnd['participants'])} round keys; "
                f"key deadline {d['keys_ms']}"
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
            return (
                f"round {rnd['round']} is PROVE: audits unresolved (awaiting proofs until {d['prove_ms']}, "
                f"{len(pending)} submitted proofs await verification)"
            )
        if state == "AGGREGATE" and rnd.get("aggregation") == "secure" and not rnd["unmask_ready"]:
            counts = secagg.share_counts(rnd["reveal"], parts(stub, "rshares", rnd["study_id"], rnd["round"]))
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

    def _from_keys(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        keys = parts(stub, "rkeys", rnd["study_id"], rnd["round"])
        if not set(keys) >= set(rnd["participants"]) and not _deadline_passed(stub, rnd["deadlines"]["keys_ms"]):
            return False
        rnd["masking_set"] = sorted(m for m in keys if m in rnd["participants"])
        for m in sorted(set(rnd["participants"]) - set(keys)):
            update_reputation(stub, m, missed=1)
            rnd["dropped"][m] = "published no round key by the key deadline"
            tokens.slash(stub, m, study["params"]["missing_slash"], rnd["study_id"], rnd["round"],
                         "missed the key deadline", f"round:{rnd['study_id']}:{rnd['round']}")  # fmt: skip
        if len(rnd["masking_set"]) < study["params"]["min_participants"]:
            _transition(stub, rnd, "ABORTED")
            rnd["abort_reason"] = f"{len(rnd['masking_set'])} round keys, fewer than min_participants"
            return False
        rnd["deadlines"]["commit_ms"] = stub.timestamp_ms + study["params"]["commit_window_s"] * 1000
        _transition(stub, rnd, "OPEN")
        return True

    def _from_open(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        commits = parts(stub, "rcommit", rnd["study_id"], rnd["round"])
        expected = rnd["masking_set"] if rnd.get("aggregation") == "secure" else rnd["participants"]
        all_in = set(commits) >= set(expected)
        if not all_in and not _deadline_passed(stub, rnd["deadlines"]["commit_ms"]):
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
            _transition(stub, rnd, "ABORTED")
            rnd["abort_reason"] = f"{len(rnd['committed'])} commitments, fewer than min_participants"
            return False
        _transition(stub, rnd, "COMMIT")
        return True

    def _from_commit(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        commits = parts(stub, "rcommit", rnd["study_id"], rnd["round"])
        seed = selection.challenge_seed([(m, commits[m]["commitment_hash"]) for m in rnd["committed"]])
        rnd["challenge_seed"] = seed.hex()
        if rnd["audited"]:
            steps = study["params"]["local_steps"]
            rnd["audits"] = {m: selection.audit_indices(seed, m, steps, rnd["audited_steps"]) for m in rnd["committed"]}
        _transition(stub, rnd, "CHALLENGE")
        return True

    def _from_challenge(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        rnd["deadlines"]["prove_ms"] = stub.timestamp_ms + study["params"]["prove_window_s"] * 1000
        _transition(stub, rnd, "PROVE")
        return True

    def _from_prove(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        if rnd["audited"]:
            proofs = parts(stub, "rproof", rnd["study_id"], rnd["round"])
            unresolved = [
                m for m in rnd["committed"] if proofs.get(m, {}).get("status") in (None, "pending_verification")
            ]
            if unresolved:
                if not _deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
                    return False
                if any(proofs.get(m, {}).get("status") == "pending_verification" for m in unresolved):
                    return False  # a submitted proof is never skipped: it waits for verification
                for m in unresolved:  # no proof at all by the deadline: a failed audit
                    self._fail_audit(stub, study, rnd, m, "no proof by the prove deadline")
            for m in rnd["committed"]:
                status = parts(stub, "rproof", rnd["study_id"], rnd["round"]).get(m, {}).get("status")
                if status == "verified":
                    update_reputation(stub, m, verified=1)
        rnd["inclusion"] = sorted(m for m in rnd["committed"] if m not in rnd["dropped"])
        if len(rnd["inclusion"]) < study["params"]["min_participants"]:
            _transition(stub, rnd, "ABORTED")
            rnd["abort_reason"] = "too few updates passed their audits"
            return False
        if rnd.get("aggregation") == "secure":
            rnd["reveal"] = secagg.reveal_plan(rnd["masking_set"], rnd["inclusion"])
        rnd["deadlines"]["aggregate_ms"] = stub.timestamp_ms + study["params"]["aggregate_window_s"] * 1000
        _transition(stub, rnd, "AGGREGATE")
        return True

    def _fail_audit(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any], m: str, reason: str) -> None:
        key = part_key(stub, "rproof", rnd["study_id"], rnd["round"], m)
        record = stub.get_json(key) or {"msp_id": m}
        stub.put_json(key, {**record, "status": "failed", "reason": reason, "resolved_at_ms": stub.timestamp_ms})
        update_reputation(stub, m, failed=1)
        rnd["dropped"][m] = f"audit failed: {reason}"
        tokens.slash(
            stub,
            m,
            study["params"]["cheat_slash"],
            rnd["study_id"],
            rnd["round"],
            f"audit failed: {reason}",
            f"audit:{rnd['study_id']}:{rnd['round']}:{m}",
        )

    def _from_aggregate(self, stub: Stub, study: dict[str, Any], rnd: dict[str, Any]) -> bool:
        records = parts(stub, "ragg", rnd["study_id"], rnd["round"])
        agreed = self._agreed(records, rnd["threshold"])
        if agreed is not None:
            self._finalize(stub, study, rnd, agreed, records)
            return False
        if _deadline_passed(stub, rnd["deadlines"]["aggregate_ms"]):
            for m in rnd["committee"]:
                if m not in records:
                    update_reputation(stub, m, missed=1)
            _transition(stub, rnd, "ABORTED")
            rnd["abort_reason"] = (
                f"fewer than {rnd['threshold']} valid shares of every revealed secret by the deadline (nothing was "
                "unmasked)"
                if rnd.get("aggregation") == "secure" and not rnd.get("unmask_ready")
                else f"fewer than {rnd['threshold']} matching committee records by the deadline"
            )
        return False

    @staticmethod
    def _vote(record: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        """What a committee record votes for: the weights (hash, zk commitment) and the set of
        participants it left out. Members that produced the same weights left out the same
        updates, so the exclusions are part of the agreement: one member cannot exclude a
        participant alone, nor keep an excluded one in by leaving its exclusion out."""
        left_out = tuple(sorted({e["msp_id"] for e in record.get("excluded", [])}))
        return record["model_hash"], record.get("model_commitment") or "", left_out

    @classmethod
    def _agreed(
        cls, records: dict[str, dict[str, Any]], threshold: int
    ) -> tuple[str, str, str, tuple[str, ...]] | None:
        """(model CID, model hash, commitment, exclusions) once ``threshold`` members published
        the same vote. Votes count the weights' hash: every member encrypts its copy itself, so
        CIDs differ; the CID kept is that of the first agreeing member by MSP ID."""
        votes: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
        for m, r in sorted(records.items()):
            votes.setdefault(cls._vote(r), []).append(m)
        winners = sorted(v for v, members in votes.items() if len(members) >= threshold)
        if not winners:
            return None
        digest, commitment, left_out = winners[0]
        return records[votes[winners[0]][0]]["model_cid"], digest, commitment, left_out

    def _finalize(
        self,
        stub: Stub,
        study: dict[str, Any],
        rnd: dict[str, Any],
        agreed: tuple[str, str, str, tuple[str, ...]],
        records: dict[str, dict[str, Any]],
    ) -> None:
        cid, digest, commitment, left_out = agreed
        members = sorted(m for m, r in records.items() if self._vote(r) == (digest, commitment, left_out))
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
        _transition(stub, rnd, "FINALIZED")

    # --- secure aggregation: keys and shares ---------------------------------------------------------
    @staticmethod
    def _secure_step(stub: Stub, args: dict[str, Any], role: str, state: str, deadline: str,
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
        if _deadline_passed(stub, rnd["deadlines"][deadline]):
            raise Conflict(f"{deadline.removesuffix('_ms')} deadline passed ({rnd['deadlines'][deadline]} ms); "
                           f"{what} refused as stale")  # fmt: skip
        return msp_id, rnd

    @transaction(KEYS)
    def PublishKeys(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A participant publishes its round public key and commits to the shares it dealt the
        committee (bundle on IPFS; its hash and every share's hash here)."""
        msp_id, rnd = self._secure_step(stub, args, "participants", "KEYS", "keys_ms", "round keys")
        key = _fresh_key(stub, "rkeys", args, msp_id, "published its round key")
        record = secagg.key_record(msp_id, args, rnd["committee"], stub.timestamp_ms, stub.tx_id)
        stub.put_json(key, record)
        _log(stub, "round.keys_published", args, {"msp_id": msp_id, "bundle_cid": args["bundle_cid"]})
        return record

    @transaction(SHARES)
    def SubmitShares(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A committee member publishes its Shamir shares of the secrets the ledger reveals: the
        self-mask seeds of included participants, the round keys of dropped ones. Each share is
        checked against its dealer's hash; a wrong one gets the member slashed."""
        msp_id, rnd = self._secure_step(stub, args, "committee", "AGGREGATE", "aggregate_ms", "shares")
        study = get_study(stub, args["study_id"])
        key = _fresh_key(stub, "rshares", args, msp_id, "published its shares")
        if not args["shares"]:
            raise InvalidArgument("shares is empty: publish at least one share")
        unknown = sorted({c["msp_id"] for c in args["complaints"]} - set(rnd["masking_set"]))
        if unknown:
            raise InvalidArgument(f"complaints name {unknown}, who dealt no shares in round {args['round']}")
        keys = parts(stub, "rkeys", args["study_id"], args["round"])
        wrong = secagg.check_shares(msp_id, args["shares"], rnd["reveal"], keys)
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
        records = {**parts(stub, "rshares", args["study_id"], args["round"]), msp_id: record}
        if not rnd["unmask_ready"] and secagg.ready(rnd["reveal"], records, rnd["threshold"]):
            rnd["unmask_ready"] = True
            rnd["unmask_ready_ms"] = stub.timestamp_ms
            stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
        action = "round.shares_ready" if rnd["unmask_ready"] else "round.shares_submitted"
        _log(stub, action, args, {"msp_id": msp_id, "status": record["status"]})
        return {"record": record, "unmask_ready": rnd["unmask_ready"]}

    # --- proofs, aggregates, validation -----------------------------------------------------------
    @transaction(PROOF)
    def SubmitProof(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Open the audited steps and prove them. Every endorser checks the Merkle openings,
        the chain around each audited step and each Groth16 proof (chaincode/contracts/zk_audit.py)
        under the study's pinned verifying key; the audit is resolved in this transaction:
        ``verified``, or ``failed`` with the reasons (stake slashed, update dropped). An
        incomplete submission (an audited step without its proof or openings) is refused and
        changes nothing, so it can be completed before the deadline."""
        msp_id = require_hospital(stub)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        if not rnd["audited"]:
            raise Conflict(f"study {args['study_id']} is unaudited; there is nothing to prove")
        if rnd["state"] != "PROVE":
            raise Conflict(f"round {args['round']} is {rnd['state']}; proofs are accepted in PROVE only")
        if msp_id not in rnd["audits"] or msp_id in rnd["dropped"]:
            raise Forbidden(f"{msp_id} has no open audit in round {args['round']}")
        if _deadline_passed(stub, rnd["deadlines"]["prove_ms"]):
            raise Conflict("prove deadline passed; proof refused as stale")
        key = _fresh_key(stub, "rproof", args, msp_id, "submitted its proof")
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
        stub.put_json(key, {**record, "status": "submitted"})
        if problems:
            self._fail_audit(stub, study, rnd, msp_id, "; ".join(problems)[:500])
        else:
            stub.put_json(key, {**record, "status": "verified", "resolved_at_ms": stub.timestamp_ms})
        stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
        outcome = stub.get_json(key)
        _log(stub, "round.proof_" + outcome["status"], args, {"msp_id": msp_id, "steps": audits})
        return outcome

    @transaction(AGGREGATE)
    def SubmitAggregate(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A committee member publishes the aggregate it reconstructed; ``t`` matching records
        finalize the round in the same transaction."""
        msp_id = require_hospital(stub)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        if msp_id not in rnd["committee"]:
            raise Forbidden(f"{msp_id} is not on the committee of round {args['round']}")
        if rnd["state"] != "AGGREGATE":
            raise Conflict(f"round {args['round']} is {rnd['state']}; aggregates are accepted in AGGREGATE only")
        if _deadline_passed(stub, rnd["deadlines"]["aggregate_ms"]):
            raise Conflict("aggregate deadline passed; record refused as stale")
        if rnd.get("aggregation") == "secure":
            if not rnd["unmask_ready"]:
                raise Conflict(
                    f"round {args['round']}: not every revealed secret has {rnd['threshold']} valid shares yet"
                )
            if args["excluded"]:
                raise InvalidArgument(
                    "secure aggregation cannot leave out an included update: its mask seed is already revealed, "
                    "and revealing its round key as well would unmask it"
                )
        if rnd["audited"] and args["model_commitment"] is None:
            raise InvalidArgument(
                "an audited study's aggregate needs model_commitment (next round's steps start there)"
            )
        key = _fresh_key(stub, "ragg", args, msp_id, "published its aggregate")
        unknown = sorted({e["msp_id"] for e in args["excluded"]} - set(rnd["inclusion"]))
        if unknown:
            raise InvalidArgument(f"excluded {unknown} did not have an included update in round {args['round']}")
        record = {
            "msp_id": msp_id,
            "model_cid": args["model_cid"],
            "model_hash": args["model_hash"],
            "model_commitment": args["model_commitment"],
            "excluded": args["excluded"],
            "submitted_at_ms": stub.timestamp_ms,
        }
        stub.put_json(key, record)
        records = {**parts(stub, "ragg", args["study_id"], args["round"]), msp_id: record}
        agreed = self._agreed(records, rnd["threshold"])
        if agreed is not None:
            self._finalize(stub, study, rnd, agreed, records)
            self._save(stub, study, rnd)
        action = "round.finalized" if agreed else "round.aggregate_submitted"
        _log(stub, action, args, {"msp_id": msp_id, "state": rnd["state"]})
        return {"record": record, "state": rnd["state"]}

    @transaction(VALIDATION)
    def ReportValidation(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Report how the round's new global model does on your own held-out data."""
        msp_id = require_hospital(stub)
        if msp_id not in enrolled(stub, args["study_id"]):
            raise Forbidden(f"{msp_id} is not enrolled in {args['study_id']}")
        rnd = get_round(stub, args["study_id"], args["round"])
        if rnd["state"] != "FINALIZED":
            raise Conflict(f"round {args['round']} is {rnd['state']}; only finalized models are validated")
        if rnd["settled"]:
            raise Conflict(f"round {args['round']} is already settled")
        if _deadline_passed(stub, rnd["deadlines"]["validation_ms"]):
            raise Conflict("validation deadline passed; report refused as stale")
        key = _fresh_key(stub, "rval", args, msp_id, "reported")
        record = {
            "msp_id": msp_id,
            "metric_ppm": args["metric_ppm"],
            "previous_metric_ppm": args["previous_metric_ppm"],
            "gain_ppm": args["metric_ppm"] - args["previous_metric_ppm"],
            "reported_at_ms": stub.timestamp_ms,
        }
        stub.put_json(key, record)
        _log(stub, "round.validation_reported", args, {"msp_id": msp_id, "gain_ppm": record["gain_ppm"]})
        return record

    @transaction(ROUND_REF)
    def Settle(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Pay the round's rewards and update quality reputation, once every enrolled hospital
        reported or the validation deadline passed."""
        caller = require_hospital(stub)
        require_registered(stub, caller)
        rnd = get_round(stub, args["study_id"], args["round"])
        if rnd["state"] != "FINALIZED" or rnd["settled"]:
            raise Conflict(f"round {args['round']} is {rnd['state']}{' and settled' if rnd['settled'] else ''}")
        reports = parts(stub, "rval", args["study_id"], args["round"])
        electorate = enrolled(stub, args["study_id"])
        if not set(reports) >= set(electorate) and not _deadline_passed(stub, rnd["deadlines"]["validation_ms"]):
            raise Conflict(
                f"{len(reports)}/{len(electorate)} validation reports; settle after all report or after "
                f"{rnd['deadlines']['validation_ms']}"
            )
        gains = {m: r["gain_ppm"] for m, r in reports.items()}
        commits = parts(stub, "rcommit", args["study_id"], args["round"])
        proofs = parts(stub, "rproof", args["study_id"], args["round"])
        excluded = rnd["aggregate"].get("excluded", {})
        eligible = {
            m: commits[m]["sample_bucket"]
            for m in rnd["inclusion"]
            if m not in excluded and (not rnd["audited"] or proofs.get(m, {}).get("status") == "verified")
        }
        payouts = incentives.split_rewards(rnd["reward_rule"]["budget"], eligible, gains)
        paid = {m: tokens.pay_from_pool(stub, args["study_id"], m, amount) for m, amount in payouts.items()}
        for m in rnd["inclusion"]:
            others = [g for r, g in gains.items() if r != m]
            if others:
                update_reputation(stub, m, gain_ppm=median(others))
        rnd["settled"] = True
        rnd["rewards"] = paid
        rnd["validation"] = {"reports": len(reports), "gains_ppm": gains}
        stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
        _log(stub, "round.settled", args, {"rewards": paid})
        return rnd

    # --- queries -----------------------------------------------------------------------------------
    @query(ROUND_REF)
    def Get(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """The round with every commitment, audit, aggregate record and validation report."""
        rnd = get_round(stub, args["study_id"], args["round"])
        return {
            **rnd,
            "keys": parts(stub, "rkeys", args["study_id"], args["round"]),
            "shares": parts(stub, "rshares", args["study_id"], args["round"]),
            "commitments": parts(stub, "rcommit", args["study_id"], args["round"]),
            "proofs": parts(stub, "rproof", args["study_id"], args["round"]),
            "aggregates": parts(stub, "ragg", args["study_id"], args["round"]),
            "validations": parts(stub, "rval", args["study_id"], args["round"]),
        }

    @query(Schema({"msp_id": Str(max_len=64)}))
    def Reputation(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        return get_reputation(stub, args["msp_id"])

    @query(Schema({"study_id": Str(pattern=STUDY_ID), "msp_id": Str(max_len=64)}))
    def Budget(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        study = get_study(stub, args["study_id"])
        spent = privacy_budget.spent(stub, args["study_id"], args["msp_id"])
        return {**spent, "budget_micro": study["params"]["epsilon_budget_micro"]}
