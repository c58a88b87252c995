"""The ``Round`` contract: every ``Round:*`` transaction and query, in the order a round uses them.

Each method checks the caller and the round, then writes. ``Advance`` moves the round through
the handler table of chaincode/contracts/rounds/phases.py; ``PublishKeys`` and ``SubmitShares``
hand over to chaincode/contracts/rounds/secure.py, ``SubmitProof`` to
chaincode/contracts/rounds/audit.py.
"""

from __future__ import annotations

import hashlib
from typing import Any

from chaincode.contracts import incentives, ledger_log, privacy_budget, selection, tokens
from chaincode.contracts.access import require_hospital
from chaincode.contracts.micro_units import SCALE, median
from chaincode.contracts.registry import require_registered
from chaincode.contracts.rounds import audit, binding, phases, secure
from chaincode.contracts.rounds.args import (
    AGGREGATE,
    BINDING,
    BUDGET,
    COMMIT,
    KEYS,
    OPEN,
    PROOF,
    REPUTATION,
    ROUND_REF,
    SHARES,
    VALIDATION,
)
from chaincode.contracts.rounds.records import (
    deadline_passed,
    fresh_key,
    get_reputation,
    get_round,
    log_round,
    part_key,
    parts,
    round_key,
    save,
    update_reputation,
)
from chaincode.contracts.studies import enrolled, get_study, put_study, require_active
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, Forbidden, InvalidArgument
from chaincode.runtime.stub import Stub


class RoundContract(Contract):
    name = "Round"

    # --- open ---------------------------------------------------------------------------------
    @transaction(OPEN)
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
            # the model this round's model was made from (server momentum); an aborted round made none
            model_prev = previous["model_in"] if previous.get("aggregate") else previous.get("model_prev")
        else:
            seed_hex = study["genesis_hash"]
            model_in = {"cid": p["model_cid"], "hash": p["model_hash"], "commitment": p.get("model_commitment") or None}
            model_prev = None
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
        buckets = {m: _last_bucket(stub, study["study_id"], n, m) for m in candidates}
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
        secure_mode = p.get("aggregation", "trusted") == "secure"
        first = "KEYS" if secure_mode else "OPEN"
        rnd = {
            "study_id": study["study_id"],
            "round": n,
            "state": first,
            "aggregation": "secure" if secure_mode else "trusted",
            "audited": study["audited"],
            "audited_steps": study["audited_steps_per_round"],
            "bound": study.get("bound", False),
            "seed": seed_hex,
            "model_in": model_in,
            "model_prev": model_prev,
            "server": {
                "optimizer": p.get("server_optimizer", "fedavg"),
                "lr_ppm": p.get("server_lr_ppm", SCALE),
                "momentum_ppm": p.get("server_momentum_ppm", 0),
            },
            "participants": participants,
            "committee": committee,
            "threshold": p["committee_threshold"],
            "weights": {"participants": {m: p_weights[m] for m in participants}},
            "locked": {m: p["min_stake"] for m in locked},
            "reward_rule": {"rule": incentives.RULE_NAME, "budget": budget},
            "deadlines": {
                "keys_ms": now + p["keys_window_s"] * 1000 if secure_mode else None,
                "commit_ms": None if secure_mode else now + p["commit_window_s"] * 1000,
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

    # --- secure aggregation: keys (KEYS) --------------------------------------------------------
    @transaction(KEYS)
    def PublishKeys(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A participant publishes its round public key and commits to the shares it dealt the
        committee (bundle on IPFS; its hash and every share's hash here)."""
        return secure.publish_keys(stub, args)

    # --- commit (OPEN) ----------------------------------------------------------------------------
    @transaction(COMMIT)
    def Commit(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A selected participant commits to its trained update (hashes only, never data): in
        OPEN, or in a secure round's KEYS once every participant published its round key."""
        msp_id = require_hospital(stub)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        if msp_id not in rnd["participants"]:
            raise Forbidden(f"{msp_id} is not a participant of round {args['round']} of {args['study_id']}")
        if rnd["state"] == "KEYS" and rnd.get("aggregation") == "secure":
            # every participant's round key is in: the masking set is fixed, so commitments need
            # not wait a block for the Advance that records it (phases.from_keys)
            sid, n = args["study_id"], args["round"]
            missing = [m for m in rnd["participants"] if stub.get_state(part_key(stub, "rkeys", sid, n, m)) is None]
            if missing:
                raise Conflict(f"round {args['round']} is KEYS and {', '.join(missing)} published no round key yet; "
                               "commitments open once every participant has, or after the key deadline")  # fmt: skip
        elif rnd["state"] != "OPEN":
            raise Conflict(f"round {args['round']} is {rnd['state']}; commitments closed")
        elif rnd.get("aggregation") == "secure" and msp_id not in rnd["masking_set"]:
            raise Forbidden(f"{msp_id} published no round key in time: nobody masked against it, it cannot commit")
        elif deadline_passed(stub, rnd["deadlines"]["commit_ms"]):
            raise Conflict(f"commit deadline passed ({rnd['deadlines']['commit_ms']} ms); commitment refused as stale")
        key = fresh_key(stub, "rcommit", args, msp_id, "committed")
        if rnd["audited"]:
            missing = [k for k in ("step_count", "final_commitment", "noise_multiplier_micro") if args[k] is None]
            if missing:
                raise InvalidArgument(f"an audited study's commitment needs {', '.join(missing)}")
            if args["step_count"] != study["params"]["local_steps"]:
                raise InvalidArgument(f"step_count {args['step_count']} is not the study's local_steps "
                                      f"{study['params']['local_steps']}")  # fmt: skip
        if rnd.get("bound"):
            missing = [k for k in ("final_commitment", "bind_commitment") if args[k] is None]
            if missing or not args["consented_records"]:
                raise InvalidArgument("a bound round's commitment needs final_commitment, bind_commitment and "
                                      "consented_records >= 1 (the weight its input carries)")  # fmt: skip
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
            "consent_digest": args["consent_digest"],
            "step_count": args["step_count"],
            "final_commitment": args["final_commitment"],
            "noise_multiplier_micro": args["noise_multiplier_micro"],
            "bind_commitment": args["bind_commitment"],
            "committed_at_ms": stub.timestamp_ms,
            "tx_id": stub.tx_id,
        }
        commitment["commitment_hash"] = hashlib.sha256(canonical.dumps(commitment)).hexdigest()
        stub.put_json(key, commitment)
        log_round(stub, "round.committed", args, {"msp_id": msp_id, "commitment_hash": commitment["commitment_hash"]})
        return commitment

    # --- the state machine --------------------------------------------------------------------------
    @transaction(ROUND_REF)
    def Advance(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Move the round forward as far as completion and deadlines allow."""
        caller = require_hospital(stub)
        require_registered(stub, caller)
        study = get_study(stub, args["study_id"])
        rnd = get_round(stub, args["study_id"], args["round"])
        start, stage = rnd["state"], rnd.get("reveal_stage", 1)
        while True:
            step = phases.ADVANCES.get(rnd["state"])
            if step is None or not step(stub, study, rnd):
                break
        if rnd["state"] == start and rnd.get("reveal_stage", 1) == stage:  # a second reveal is progress too
            raise Conflict(phases.waiting_for(stub, rnd))
        save(stub, study, rnd)
        ledger_log.record(
            stub, "round.advanced", study["study_id"], {"from": start, "to": rnd["state"]}, round_no=rnd["round"]
        )
        return rnd

    # --- proofs (PROVE) -------------------------------------------------------------------------------
    @transaction(PROOF)
    def SubmitProof(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Open the audited steps and prove them. Every endorser checks the Merkle openings,
        the chain around each audited step and each Groth16 proof (chaincode/contracts/zk_audit.py)
        under the study's pinned verifying key; the audit is resolved in this transaction:
        ``verified``, or ``failed`` with the reasons (stake slashed, update dropped). An
        incomplete submission (an audited step without its proof or openings) is refused and
        changes nothing, so it can be completed before the deadline."""
        return audit.submit_proof(stub, args)

    @transaction(BINDING)
    def SubmitBinding(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Bind the masked input to the committed update (bound secure rounds): its value at the
        round's point, a Groth16 proof that it is the value of the committed weights' update with
        its norm within the study's bound (every endorser verifies it; an invalid one excludes and
        slashes like a failed audit), and the values of the masks shared with every other committed
        participant (chaincode/contracts/binding.py)."""
        return binding.submit_binding(stub, args)

    # --- shares and aggregates (AGGREGATE) ------------------------------------------------------------
    @transaction(SHARES)
    def SubmitShares(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """A committee member publishes its Shamir shares of the secrets the ledger reveals: the
        self-mask seeds of included participants, the round keys of dropped ones. Each share is
        checked against its dealer's hash; a wrong one gets the member slashed."""
        return secure.submit_shares(stub, args)

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
        if deadline_passed(stub, rnd["deadlines"]["aggregate_ms"]):
            raise Conflict("aggregate deadline passed; record refused as stale")
        _check_bound_values(rnd, args)
        if (args["model_cid"] is None or args["model_hash"] is None) and not rnd.get("bound"):
            raise InvalidArgument("an aggregate needs model_cid and model_hash")
        if (args["model_cid"] is None) != (args["model_hash"] is None):
            raise InvalidArgument("model_cid and model_hash come together")
        if rnd.get("aggregation") == "secure":
            if phases.unmask_ready_at(stub, rnd) is None:
                raise Conflict(
                    f"round {args['round']}: not every revealed secret has {rnd['threshold']} valid shares yet"
                )
            if args["excluded"]:
                raise InvalidArgument(
                    "secure aggregation cannot leave out an included update: its mask seed is already revealed, "
                    "and revealing its round key as well would unmask it"
                )
        if (rnd["audited"] or rnd.get("bound")) and args["model_commitment"] is None and args["model_hash"]:
            raise InvalidArgument(
                "an audited or bound study's aggregate needs model_commitment (next round's steps and bindings "
                "start there)"
            )
        kind = phases.aggregate_kind(rnd)
        key = fresh_key(stub, kind, args, msp_id, "published its aggregate")
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
        if rnd.get("bound"):
            record.update(evaluations=args["evaluations"], pair_truths=args["pair_truths"])
        stub.put_json(key, record)
        records = {**parts(stub, kind, args["study_id"], args["round"]), msp_id: record}
        agreed = phases.agreed(records, rnd["threshold"])
        if agreed is not None:
            phases.conclude(stub, study, rnd, agreed, records)
            save(stub, study, rnd)
        ends = {"FINALIZED": "round.finalized", "ABORTED": "round.aborted"}
        action = ends.get(rnd["state"], "round.aggregate_submitted")
        log_round(stub, action, args, {"msp_id": msp_id, "state": rnd["state"]})
        return {"record": record, "state": rnd["state"]}

    # --- validation and rewards (FINALIZED) -------------------------------------------------------
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
        if deadline_passed(stub, rnd["deadlines"]["validation_ms"]):
            raise Conflict("validation deadline passed; report refused as stale")
        key = fresh_key(stub, "rval", args, msp_id, "reported")
        record = {
            "msp_id": msp_id,
            "metric_ppm": args["metric_ppm"],
            "previous_metric_ppm": args["previous_metric_ppm"],
            "gain_ppm": args["metric_ppm"] - args["previous_metric_ppm"],
            "reported_at_ms": stub.timestamp_ms,
        }
        stub.put_json(key, record)
        log_round(stub, "round.validation_reported", args, {"msp_id": msp_id, "gain_ppm": record["gain_ppm"]})
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
        if not set(reports) >= set(electorate) and not deadline_passed(stub, rnd["deadlines"]["validation_ms"]):
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
        for m, amount in sorted(paid.items()):  # each hospital's own record of what it was paid
            ledger_log.record(stub, "round.rewarded", args["study_id"], {"amount": amount}, org=m,
                              round_no=args["round"], event=False, timeline=False)  # fmt: skip
        for m in rnd["inclusion"]:
            others = [g for r, g in gains.items() if r != m]
            if others:
                update_reputation(stub, m, gain_ppm=median(others))
        rnd["settled"] = True
        rnd["rewards"] = paid
        rnd["validation"] = {"reports": len(reports), "gains_ppm": gains}
        stub.put_json(round_key(stub, rnd["study_id"], rnd["round"]), rnd)
        log_round(stub, "round.settled", args, {"rewards": paid})
        return rnd

    # --- queries -----------------------------------------------------------------------------------
    @query(ROUND_REF)
    def Get(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """The round with every commitment, audit, binding, share and aggregate record (of both
        reveal stages) and validation report, and what follows from them before the next
        transition records it: whether the current reveal stage is unmask-ready, and once every
        expected commitment is in, the masking set and the challenge (phases.early_view)."""
        rnd = get_round(stub, args["study_id"], args["round"])
        ready_at = phases.unmask_ready_at(stub, rnd) if rnd.get("aggregation") == "secure" and rnd["reveal"] else None
        return {
            **rnd,
            **phases.early_view(stub, get_study(stub, args["study_id"]), rnd),
            "unmask_ready": ready_at is not None,
            "unmask_ready_ms": ready_at,
            "keys": parts(stub, "rkeys", args["study_id"], args["round"]),
            "shares": parts(stub, "rshares", args["study_id"], args["round"]),
            "commitments": parts(stub, "rcommit", args["study_id"], args["round"]),
            "proofs": parts(stub, "rproof", args["study_id"], args["round"]),
            "bindings": parts(stub, "rbind", args["study_id"], args["round"]),
            "shares2": parts(stub, "rshares2", args["study_id"], args["round"]),
            "aggregates": parts(stub, "ragg", args["study_id"], args["round"]),
            "aggregates2": parts(stub, "ragg2", args["study_id"], args["round"]),
            "validations": parts(stub, "rval", args["study_id"], args["round"]),
        }

    @query(REPUTATION)
    def Reputation(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        return get_reputation(stub, args["msp_id"])

    @query(BUDGET)
    def Budget(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        study = get_study(stub, args["study_id"])
        spent = privacy_budget.spent(stub, args["study_id"], args["msp_id"])
        return {**spent, "budget_micro": study["params"]["epsilon_budget_micro"]}


def _check_bound_values(rnd: dict[str, Any], args: dict[str, Any]) -> None:
    """A bound round's aggregate carries a value for exactly the included participants, and in
    the first reveal a mask value for exactly the disputed pairs; other rounds carry neither."""
    if not rnd.get("bound"):
        if args["evaluations"] is not None or args["pair_truths"] is not None:
            raise InvalidArgument("evaluations and pair_truths belong to rounds that bind inputs")
        return
    if args["evaluations"] is None or sorted(args["evaluations"]) != sorted(rnd["inclusion"]):
        raise InvalidArgument(f"evaluations must give a value for exactly the included participants {rnd['inclusion']}")
    pairs = sorted(d["pair"] for d in rnd.get("disputes", [])) if rnd.get("reveal_stage", 1) == 1 else []
    if sorted(args["pair_truths"] or {}) != pairs:
        raise InvalidArgument(f"pair_truths must give a value for exactly the disputed pairs {pairs}")


def _last_bucket(stub: Stub, study_id: str, n: int, msp_id: str) -> int:
    """``msp_id``'s sample-count bucket in its last commitment of the five rounds before ``n``
    (0 if none): how much data it brought, for the participant draw."""
    for back in range(n - 1, max(-1, n - 6), -1):
        commit = stub.get_json(part_key(stub, "rcommit", study_id, back, msp_id))
        if commit is not None:
            return commit["sample_bucket"]
    return 0
