"""An in-memory consortium for governance unit tests: hospitals with admin and agent
identities, a clock, and helpers that drive the contracts the way agents do."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from chaincode.contracts import all_contracts, model_names, zk_circuits
from chaincode.runtime.contract import Router
from chaincode.runtime.identity import ClientIdentity
from chaincode.runtime.testing import InMemoryLedger, Result, make_identity

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CID0 = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cid(text: str) -> str:
    """A syntactically valid CIDv1 (base32) derived from ``text``."""
    digest = base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower().rstrip("=")
    return "bafkrei" + digest[:52]


def study_params(**over: Any) -> dict[str, Any]:
    """A workable unaudited study of a 30-feature binary logistic regression; given a
    ``zk_circuit`` and no ``model``, the model is the one that circuit proves."""
    params = {
        "title": "Breast cancer screening",
        "model": "logreg-d30-c2",
        "model_spec_hash": h("logreg-30"),
        "model_cid": CID0,
        "model_hash": h("initial-weights"),
        "data_schema_hash": h("schema"),
        "epsilon_budget_micro": 3_000_000,
        "delta_e12": 10_000_000,
        "rounds": 3,
        "local_steps": 100,
        "audit_rate_ppm": 0,
        "committee_size": 3,
        "committee_threshold": 2,
        "participants_per_round": 3,
        "min_participants": 2,
        "min_stake": 100,
        "reward_pool": 3000,
        "reward_per_round": 1000,
        "missing_slash": 50,
        "cheat_slash": 100,
        "commit_window_s": 600,
        "prove_window_s": 600,
        "aggregate_window_s": 600,
        "validation_window_s": 600,
    }
    if over.get("zk_circuit") and "model" not in over:
        params["model"] = model_names.proved_by(zk_circuits.parse(over["zk_circuit"])).name
    params.update(over)
    return params


@dataclass
class Consortium:
    hospitals: tuple[str, ...] = ("HospitalAMSP", "HospitalBMSP", "HospitalCMSP")
    ledger: InMemoryLedger = field(default_factory=InMemoryLedger)
    router: Router = field(default_factory=lambda: Router(all_contracts()))
    now_ms: int = T0
    admins: dict[str, ClientIdentity] = field(default_factory=dict)
    agents: dict[str, ClientIdentity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.hospitals:
            self.admins[m] = make_identity(m, "admin")
            self.agents[m] = make_identity(m, "client")
        self.regulator = make_identity("RegulatorMSP", "client")

    def tick(self, seconds: float) -> None:
        self.now_ms += int(seconds * 1000)

    def call(self, who: ClientIdentity, function: str, args: Any | None = None) -> Result:
        self.tick(0.01)
        return self.ledger.invoke(self.router, who, function, args, timestamp_ms=self.now_ms)

    def block(self, calls: list[tuple[ClientIdentity, str, Any]]) -> list[Result]:
        """The calls endorsed together and ordered into one block, validated as peers do."""
        self.tick(0.01)
        return self.ledger.block(self.router, calls, timestamp_ms=self.now_ms)

    def ok(self, who: ClientIdentity, function: str, args: Any | None = None) -> Any:
        res = self.call(who, function, args)
        assert res.ok, f"{function} by {who.msp_id}: {res.status} {res.message}"
        return res.json()

    # --- set-up the way a consortium does it --------------------------------------------------
    def register_all(self) -> None:
        for m in self.hospitals:
            self.ok(
                self.admins[m],
                "Registry:Register",
                {
                    "msp_id": m,
                    "display_name": m,
                    "share_key": base64.b64encode(m.encode().ljust(32, b"k")).decode(),
                    "contact": f"it@{m.lower()}.org",
                },
            )

    def fund_all(self, amount: int = 10_000) -> None:
        needed = len(self.hospitals) // 2 + 1
        for m in self.hospitals:
            mint_id = f"init-{m.lower()}"
            self.ok(
                self.admins[self.hospitals[0]], "Token:ProposeMint", {"mint_id": mint_id, "to": m, "amount": amount}
            )
            for approver in self.hospitals[1:needed]:
                self.ok(self.admins[approver], "Token:ApproveMint", {"mint_id": mint_id})

    def stake_all(self, amount: int = 1000) -> None:
        for m in self.hospitals:
            self.ok(self.admins[m], "Token:Stake", {"amount": amount})

    def active_study(self, study_id: str = "bc-screening", **over: Any) -> dict[str, Any]:
        needed = len(self.hospitals) // 2 + 1
        study = self.ok(self.admins[self.hospitals[0]], "Study:Propose", {"study_id": study_id, **study_params(**over)})
        for approver in self.hospitals[1:needed]:
            study = self.ok(self.admins[approver], "Study:Approve", {"study_id": study_id})
        assert study["status"] == "ACTIVE"
        for m in self.hospitals:
            self.ok(self.admins[m], "Study:Enroll", {"study_id": study_id})
        return study

    def ready(self, **over: Any) -> dict[str, Any]:
        self.register_all()
        self.fund_all()
        self.stake_all()
        return self.active_study(**over)

    # --- a round, the way agents drive it -------------------------------------------------------
    def commit(self, m: str, study_id: str, n: int, epsilon_micro: int = 1_000_000, **over: Any) -> Result:
        return self.call(self.agents[m], "Round:Commit", self.commit_args(m, study_id, n, epsilon_micro, **over))

    def commit_args(self, m: str, study_id: str, n: int, epsilon_micro: int = 1_000_000, **over: Any) -> dict:
        args = {
            "study_id": study_id,
            "round": n,
            "update_hash": h(f"update-{m}-{n}"),
            "step_root": h(f"root-{m}-{n}"),
            "sample_bucket": 7,
            "epsilon_micro": epsilon_micro,
            "share_cids": [cid(f"share-{m}-{n}-{i}") for i in range(3)],
            "consented_records": 150,
        }
        args.update(over)
        return args

    def aggregate(self, m: str, study_id: str, n: int, model: str = "model") -> Result:
        return self.call(
            self.agents[m],
            "Round:SubmitAggregate",
            {"study_id": study_id, "round": n, "model_cid": cid(f"{model}-{n}"), "model_hash": h(f"{model}-{n}")},
        )

    def run_round(self, study_id: str = "bc-screening", gains: dict[str, int] | None = None) -> dict[str, Any]:
        rnd = self.ok(self.agents[self.hospitals[0]], "Round:Open", {"study_id": study_id})
        n = rnd["round"]
        for m in rnd["participants"]:
            assert self.commit(m, study_id, n).ok
        rnd = self.ok(self.agents[self.hospitals[0]], "Round:Advance", {"study_id": study_id, "round": n})
        assert rnd["state"] == "AGGREGATE", rnd["state"]
        for m in rnd["committee"][: rnd["threshold"]]:
            assert self.aggregate(m, study_id, n).ok
        for m in self.hospitals:
            gain = (gains or {}).get(m, 20_000)
            self.ok(
                self.agents[m],
                "Round:ReportValidation",
                {"study_id": study_id, "round": n, "metric_ppm": 900_000 + gain, "previous_metric_ppm": 900_000},
            )
        return self.ok(self.agents[self.hospitals[0]], "Round:Settle", {"study_id": study_id, "round": n})

    def supply(self) -> dict[str, Any]:
        return self.ok(self.regulator, "Token:Supply")
