"""What compliance officers ask the ledger: timelines, activity, slashing, model lineage.

Read-only; any channel member may call these, the Regulator's officers first of all. Every
answer is assembled from governance records, never from anything a hospital keeps off-chain,
and holds no patient data (the ledger has none).
"""

from __future__ import annotations

from typing import Any

from chaincode.contracts import ledger_log, privacy_budget, tokens
from chaincode.contracts.registry import MSP_ID
from chaincode.contracts.rounds import get_round, parts
from chaincode.contracts.rounds.records import round_key
from chaincode.contracts.studies import HEX64, STUDY, STUDY_ID, get_study, study_key
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query
from chaincode.runtime.errors import NotFound
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Stub

STUDY_REF = Schema({"study_id": Str(pattern=STUDY_ID)})
ROUND_PARTS = ("rkeys", "rcommit", "rproof", "rbind", "rshares", "ragg", "rshares2", "ragg2", "rval")
ORG_REF = Schema({"msp_id": Str(max_len=64, pattern=MSP_ID)})


class ComplianceContract(Contract):
    name = "Compliance"

    @query(STUDY_REF)
    def StudyTimeline(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every logged action in the study, oldest first."""
        get_study(stub, args["study_id"])
        return ledger_log.read_log(stub, ledger_log.TIMELINE, args["study_id"])

    @query(ORG_REF)
    def OrgActivity(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Everything an org did (or had done to it, such as slashing), oldest first."""
        return ledger_log.read_log(stub, ledger_log.ACTIVITY, args["msp_id"])

    @query(ORG_REF)
    def ReputationHistory(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """An org's reputation record after each change, oldest first (the last 500)."""
        key = stub.create_composite_key("rep", [args["msp_id"]])
        versions = [v for v in stub.get_history_for_key(key) if not v.is_delete][-500:]
        return [{"tx_id": v.tx_id, "record": canonical.loads(v.value)} for v in versions]

    @query(Schema({"msp_id": Str(max_len=64, pattern=MSP_ID, required=False)}))
    def Slashings(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        return tokens.slashes(stub, args["msp_id"])

    @query(Schema({"study_id": Str(pattern=STUDY_ID), "round": Int(0, 999, required=False, default=None)}))
    def RoundWrites(self, stub: Stub, args: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Which transaction wrote the current value of each record of a round (the round, every
        participant's keys, commitment, audit, binding, shares, aggregate (of both reveal stages)
        and validation) and of the
        study: the evidence a provenance certificate cites. Without ``round``, the study only."""
        study = get_study(stub, args["study_id"])
        keys = [study_key(stub, study["study_id"])]
        n = args["round"]
        if n is not None:
            get_round(stub, study["study_id"], n)
            keys.append(round_key(stub, study["study_id"], n))
            for kind in ROUND_PARTS:
                found = stub.get_state_by_partial_composite_key(kind, [study["study_id"], f"{n:06d}"])
                keys += [kv.key for kv in found]
        out = {}
        for key in keys:
            versions = [v for v in stub.get_history_for_key(key) if not v.is_delete]
            if versions:
                last = versions[-1]
                out[key] = {"tx_id": last.tx_id, "ts_ms": last.timestamp_seconds * 1000 + last.timestamp_nanos // 10**6}
        return out

    @query(Schema({"model_hash": Str(pattern=HEX64)}))
    def FindModel(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """The study and round that made ``model_hash`` (round None: a study's initial model)."""
        digest = args["model_hash"]
        for kv in stub.get_state_by_partial_composite_key(STUDY):
            _, attrs = stub.split_composite_key(kv.key)
            if len(attrs) != 1:
                continue
            study = canonical.loads(kv.value)
            if study["params"]["model_hash"] == digest:
                return {"study_id": study["study_id"], "round": None}
            for n in range(study["current_round"] + 1):
                rnd = get_round(stub, study["study_id"], n)
                if rnd["state"] == "FINALIZED" and rnd["aggregate"]["hash"] == digest:
                    return {"study_id": study["study_id"], "round": n}
        raise NotFound(f"no study made or started from model {digest}")

    @query(ORG_REF)
    def OrgRecord(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """One org's record in one answer: its account, its reputation after each change (the
        last 200), its slashings, and per study it took part in the epsilon it spent against the
        budget and the rewards it was paid (``round.rewarded`` in its activity); its last 200
        logged actions."""
        msp_id = args["msp_id"]
        activity = ledger_log.read_log(stub, ledger_log.ACTIVITY, msp_id)
        rewards: dict[str, list[dict[str, Any]]] = {}
        for e in activity:
            if e["action"] == "round.rewarded":
                rewards.setdefault(e["study"], []).append({"round": e["round"], "amount": e["details"]["amount"],
                                                            "ts_ms": e["ts_ms"]})  # fmt: skip
        studies = {}
        for sid in sorted({e["study"] for e in activity if e.get("study")}):
            study = stub.get_json(study_key(stub, sid))
            if study is None:
                continue
            studies[sid] = {"spent_micro": privacy_budget.spent(stub, sid, msp_id)["spent_micro"],
                            "budget_micro": study["params"]["epsilon_budget_micro"],
                            "rewards": rewards.get(sid, [])}  # fmt: skip
        key = stub.create_composite_key("rep", [msp_id])
        reputation = [{"tx_id": v.tx_id, "record": canonical.loads(v.value)}
                      for v in stub.get_history_for_key(key) if not v.is_delete][-200:]  # fmt: skip
        return {
            "account": tokens.account(stub, msp_id),
            "reputation": reputation,
            "slashings": tokens.slashes(stub, msp_id),
            "studies": studies,
            "activity": activity[-200:],
            "actions": len(activity),
        }

    @query(STUDY_REF)
    def ModelLineage(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Global model version -> round -> contributors -> audit results -> consent counts."""
        study = get_study(stub, args["study_id"])
        versions = []
        for n in range(study["current_round"] + 1):
            rnd = get_round(stub, study["study_id"], n)
            commits = parts(stub, "rcommit", study["study_id"], n)
            proofs = parts(stub, "rproof", study["study_id"], n)
            bindings = parts(stub, "rbind", study["study_id"], n) if rnd.get("bound") else {}
            versions.append(
                {
                    "round": n,
                    "state": rnd["state"],
                    "audited": rnd["audited"],
                    "audit_note": None if rnd["audited"] else "unaudited study: no step of this model was proven",
                    "model_in": rnd["model_in"],
                    "model_out": rnd["aggregate"],
                    # who could see individual updates: one aggregator (trusted) or nobody (secure)
                    "aggregation": rnd.get("aggregation", "trusted"),
                    "contributors": rnd["inclusion"],
                    "dropped": rnd["dropped"],
                    "audits": {m: proofs.get(m, {}).get("status", "none") for m in rnd["committed"]}
                    if rnd["audited"]
                    else {},
                    "bound": rnd.get("bound", False),
                    "bindings": {m: bindings.get(m, {}).get("status", "none") for m in rnd["committed"]}
                    if rnd.get("bound")
                    else {},
                    "consented_records": {m: c.get("consented_records") for m, c in commits.items()},
                    "epsilon_micro": {m: c["epsilon_micro"] for m, c in commits.items()},
                    "final_hash": rnd["final_hash"],
                }
            )
        return {
            "study_id": study["study_id"],
            "audited": study["audited"],
            "status": study["status"],
            "versions": versions,
        }
