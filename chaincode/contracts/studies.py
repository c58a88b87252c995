"""Studies: what a consortium trains together, under which privacy and incentive rules.

A hospital admin proposes a study with every parameter fixed up front (model name and spec, data
schema, per-hospital DP budget, rounds, audit rate, committee size and threshold, stakes,
reward pool and per-round reward, slashing amounts, deadlines) and escrows the reward pool
from its own balance. The study becomes ACTIVE only when a majority of registered hospital
orgs have approved it (the proposer counts as the first approval). Hospitals then *enroll*:
the followers' decision to take part under the rules the study (the leader) fixed.

``Propose`` refuses parameters under which a round could never complete (and every selected
hospital would be slashed for it), naming the fields:

* ``model`` names a model (chaincode/contracts/model_names.py) the agent can build;
* ``committee_threshold <= committee_size``, ``min_participants <= participants_per_round``;
* ``max(min_participants, committee_size)`` hospitals are registered: ``Round:Open`` draws
  participants and committee from the enrolled hospitals, and only registered ones can enroll;
* ``epsilon_budget_micro >= rounds``: every commitment spends at least one micro-epsilon and a
  hospital may be selected in every round;
* ``reward_per_round * rounds <= reward_pool``; ``missing_slash`` and ``cheat_slash`` at most
  ``min_stake``;
* audited: a binary ``model`` of a shape some circuit proves (logreg or mlp, at most 64 features,
  mlp at most 32 hidden units); a circuit for exactly that model (kind, features, hidden
  units), a verifying key for it and the initial model's commitment;
  ``expected_batch`` within the circuit's batch capacity; ``learning_rate_ppm`` and
  ``clip_ppm`` at least 1 at the circuit's scale 2^12 (245 ppm; the maxima are the schema's);
  at most 64 audited steps per round (``Round:SubmitProof``'s proof limit), and the largest
  proof submission for them (openings with full Merkle paths of a ``local_steps``-leaf tree,
  the proofs in base64) within the per-call argument limit;
* secure aggregation: ``committee_threshold >= 2``, ``min_participants >= 2``, and
  ``participants_per_round <= 64`` (a member publishes one share per participant in one call);
* bound inputs (``bind_vk_hash``, chaincode/contracts/binding.py): secure aggregation, the model's
  ``zk_circuit``, ``model_commitment``, a verifying key of the binding circuit for the model's
  weight count and ``update_norm_micro >= 1``.
* ``server_momentum_ppm`` only with ``server_optimizer`` fedavgm; ``prox_mu_ppm`` only in
  unaudited studies (the step circuits prove plain DP-SGD steps).

Windows are not bounded below beyond the schema's 1 s: how long training takes is the
proposer's and the approvers' judgement, not something the ledger can know.

State::

    study~<study_id>                -> the study record (see ``Propose``)
    study~enroll~<study_id>~<msp>   -> {"active": bool, "enrolled_at_ms": int}
"""

from __future__ import annotations

import hashlib
from typing import Any

from chaincode.contracts import ledger_log, model_names, tokens, zk_audit, zk_circuits
from chaincode.contracts.access import require_hospital_admin
from chaincode.contracts.micro_units import SCALE, ceil_div
from chaincode.contracts.registry import majority, registered_hospitals, require_registered
from chaincode.runtime import canonical
from chaincode.runtime.contract import Contract, query, transaction
from chaincode.runtime.errors import Conflict, InvalidArgument, NotFound
from chaincode.runtime.schema import Int, Schema, Str
from chaincode.runtime.stub import Stub

STUDY = "study"
STUDY_ID = r"[a-z0-9][a-z0-9-]{2,39}"
HEX64 = r"[0-9a-f]{64}"
CID = r"(Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{20,120})"
DAY_S = 86_400
AGGREGATION_MODES = ("trusted", "secure")
SERVER_OPTIMIZERS = ("fedavg", "fedavgm")  # the agent's ServerStep (agent/aggregation.py)

PARAMS = {
    "title": Str(max_len=120),
    # logreg-d<D>-c<C> or mlp-d<D>-h<H>-c<C> (chaincode/contracts/model_names.py); the agent checks
    # model_spec_hash against the spec this name denotes
    "model": Str(max_len=40, pattern=model_names.PATTERN),
    "model_spec_hash": Str(pattern=HEX64),
    "model_cid": Str(max_len=130, pattern=CID),  # the initial global model (an envelope on IPFS)
    "model_hash": Str(pattern=HEX64),  # SHA-256 of the initial weights
    "data_schema_hash": Str(pattern=HEX64),
    "epsilon_budget_micro": Int(1, 100 * SCALE),  # per hospital, whole study
    "delta_e12": Int(1, 10**11),  # delta * 1e12 (1e-5 -> 10_000_000); at most 0.1
    "rounds": Int(1, 1000),
    "local_steps": Int(1, 100_000),
    "audit_rate_ppm": Int(0, SCALE),
    "committee_size": Int(1, 32),
    "committee_threshold": Int(1, 32),
    "participants_per_round": Int(1, 1000),
    "min_participants": Int(1, 1000),
    "min_stake": Int(1, tokens.MAX_AMOUNT),
    "reward_pool": Int(0, tokens.MAX_AMOUNT),
    "reward_per_round": Int(0, tokens.MAX_AMOUNT),
    "missing_slash": Int(0, tokens.MAX_AMOUNT),
    "cheat_slash": Int(0, tokens.MAX_AMOUNT),
    "commit_window_s": Int(1, 30 * DAY_S),
    "prove_window_s": Int(1, 30 * DAY_S),
    "aggregate_window_s": Int(1, 30 * DAY_S),
    "validation_window_s": Int(1, 30 * DAY_S),
    # trusted: the committee's first member decrypts every update (committee of one);
    # secure: masked updates, shares to the committee (chaincode/contracts/secure_aggregation.py)
    "aggregation": Str(choices=AGGREGATION_MODES, required=False, default="trusted"),
    "keys_window_s": Int(1, 30 * DAY_S, required=False, default=60),  # secure mode's KEYS phase
    # audited studies: the step circuit, its pinned verifying key (chaincode/contracts/zk_keys.py),
    # the Poseidon2 commitment of the initial weights, and the training rule every step follows
    "zk_circuit": Str(max_len=40, min_len=0, pattern=zk_circuits.PATTERN + "?", required=False, default=""),
    "zk_vk_hash": Str(min_len=0, pattern=r"([0-9a-f]{64})?", required=False, default=""),
    "model_commitment": Str(min_len=0, pattern=r"([0-9a-f]{64})?", required=False, default=""),
    "learning_rate_ppm": Int(1, 4_000_000, required=False, default=500_000),
    "clip_ppm": Int(1, 16_000_000, required=False, default=1_000_000),
    "expected_batch": Int(1, 1023, required=False, default=16),
    # secure studies with bound inputs: the binding circuit's pinned verifying key and the bound on
    # each update's L2 norm in weight units, in millionths (chaincode/contracts/binding.py)
    "bind_vk_hash": Str(min_len=0, pattern=r"([0-9a-f]{64})?", required=False, default=""),
    "update_norm_micro": Int(0, 10**12, required=False, default=0),
    # learning under heterogeneity: FedProx's mu for local training (millionths; 0: plain SGD) and
    # the server step that turns the mean update into the next model (agent/aggregation.py)
    "prox_mu_ppm": Int(0, 100 * SCALE, required=False, default=0),
    "server_optimizer": Str(choices=SERVER_OPTIMIZERS, required=False, default="fedavg"),
    "server_lr_ppm": Int(1, 10 * SCALE, required=False, default=SCALE),
    "server_momentum_ppm": Int(0, SCALE - 1, required=False, default=0),
}
PROPOSE = Schema({"study_id": Str(pattern=STUDY_ID), **PARAMS})
STUDY_REF = Schema({"study_id": Str(pattern=STUDY_ID)})


def audited_steps(params: dict[str, Any]) -> int:
    """How many of a participant's local steps are audited each round (0 when unaudited)."""
    if params["audit_rate_ppm"] == 0:
        return 0
    return min(params["local_steps"], ceil_div(params["audit_rate_ppm"] * params["local_steps"], SCALE))


def check_params(p: dict[str, Any], registered: int) -> None:
    """Refuse parameters no round could complete under (the list in the module docstring);
    ``registered`` is the number of registered hospitals. Each failure names the fields."""
    from chaincode.contracts import rounds, secure_aggregation  # both import this module

    try:
        model = model_names.parse(p["model"])
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    if p["committee_threshold"] > p["committee_size"]:
        raise InvalidArgument("committee_threshold must not exceed committee_size")
    if p["min_participants"] > p["participants_per_round"]:
        raise InvalidArgument("min_participants must not exceed participants_per_round")
    needed = max(p["min_participants"], p["committee_size"])
    if needed > registered:
        raise InvalidArgument(
            f"min_participants {p['min_participants']} and committee_size {p['committee_size']} need {needed} "
            f"enrolled hospitals; only {registered} are registered"
        )
    if p["epsilon_budget_micro"] < p["rounds"]:
        raise InvalidArgument(
            f"epsilon_budget_micro {p['epsilon_budget_micro']} is less than rounds {p['rounds']}: every commitment "
            "spends at least 1 micro-epsilon, and a hospital may be selected in every round"
        )
    if p["reward_per_round"] * p["rounds"] > p["reward_pool"]:
        raise InvalidArgument("reward_per_round * rounds exceeds reward_pool: the leader must fund every round")
    if p["missing_slash"] > p["min_stake"] or p["cheat_slash"] > p["min_stake"]:
        raise InvalidArgument("missing_slash and cheat_slash must not exceed min_stake (the stake that backs them)")
    if p["audit_rate_ppm"] > 0:
        # without a circuit, first whether any circuit could prove the model: no use asking for one
        problem = None if p["zk_circuit"] else model_names.audit_problem(model)
        if problem:
            raise InvalidArgument(f"audit_rate_ppm {p['audit_rate_ppm']} asks for audits no zk circuit can prove: "
                                  f"{problem}")  # fmt: skip
        if not (p["zk_circuit"] and p["zk_vk_hash"] and p["model_commitment"]):
            raise InvalidArgument("an audited study needs zk_circuit, zk_vk_hash and model_commitment")
        capacity = _model_circuit(p, model).capacity
        if p["expected_batch"] > capacity:
            raise InvalidArgument(
                f"expected_batch {p['expected_batch']} exceeds the circuit's batch capacity {capacity}"
            )
        lr, clip, _ = zk_audit.fixed_params(p)
        for field, value, top in (("learning_rate_ppm", lr, zk_audit.MAX_LR), ("clip_ppm", clip, zk_audit.MAX_CLIP)):
            if not 1 <= value <= top:
                raise InvalidArgument(
                    f"{field} {p[field]} is {value}/2^{zk_audit.F} in the circuit, which takes 1..{top}/2^{zk_audit.F} "
                    f"({ceil_div(SCALE, 1 << zk_audit.F)} ppm and up)"
                )
        steps = audited_steps(p)
        problem = rounds.proof_capacity_problem(p["local_steps"], steps)
        if problem:
            raise InvalidArgument(
                f"audit_rate_ppm {p['audit_rate_ppm']} of local_steps {p['local_steps']} audits {steps} steps per "
                f"round, more than a participant can prove: {problem}"
            )
    if p["aggregation"] == "secure":
        if p["committee_threshold"] < 2:
            raise InvalidArgument("secure aggregation needs committee_threshold >= 2: one member holding a whole "
                                  "secret could unmask an update by itself")  # fmt: skip
        if p["min_participants"] < 2:
            raise InvalidArgument("secure aggregation needs min_participants >= 2: the sum of one update is the update")
        if p["participants_per_round"] > secure_aggregation.MAX_PARTICIPANTS:
            raise InvalidArgument(
                f"secure aggregation takes participants_per_round <= {secure_aggregation.MAX_PARTICIPANTS}: a "
                "committee member publishes the shares of every participant in one Round:SubmitShares"
            )
    if p["server_optimizer"] == "fedavg" and p["server_momentum_ppm"]:
        raise InvalidArgument("server_momentum_ppm needs server_optimizer fedavgm (fedavg has no momentum)")
    if p["prox_mu_ppm"] and p["audit_rate_ppm"] > 0:
        raise InvalidArgument("prox_mu_ppm > 0 with audits: the step circuits prove plain DP-SGD steps, without "
                              "FedProx's proximal term; set prox_mu_ppm 0 or audit_rate_ppm 0")  # fmt: skip
    if p["bind_vk_hash"]:
        if p["aggregation"] != "secure":
            raise InvalidArgument("bind_vk_hash binds masked inputs: it needs aggregation secure")
        if not (p["zk_circuit"] and p["model_commitment"] and p["update_norm_micro"] >= 1):
            raise InvalidArgument("bound inputs need zk_circuit (the model's weights), model_commitment and "
                                  "update_norm_micro >= 1")  # fmt: skip
        _model_circuit(p, model)


def _model_circuit(p: dict[str, Any], model: Any) -> zk_circuits.Circuit:
    """The study's ``zk_circuit``, which must be a circuit of exactly its model."""
    try:
        circuit = zk_circuits.parse(p["zk_circuit"])
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from exc
    problem = model_names.circuit_problem(model, circuit)
    if problem:
        raise InvalidArgument(problem)
    return circuit


def study_key(stub: Stub, study_id: str) -> str:
    return stub.create_composite_key(STUDY, [study_id])


def get_study(stub: Stub, study_id: str) -> dict[str, Any]:
    study = stub.get_json(study_key(stub, study_id))
    if study is None:
        raise NotFound(f"no study {study_id}")
    return study


def put_study(stub: Stub, study: dict[str, Any]) -> None:
    stub.put_json(study_key(stub, study["study_id"]), study)


def require_active(study: dict[str, Any]) -> None:
    if study["status"] != "ACTIVE":
        raise Conflict(f"study {study['study_id']} is {study['status']}, not ACTIVE")


def enrolled(stub: Stub, study_id: str) -> list[str]:
    """MSP IDs currently enrolled in the study, sorted."""
    out = []
    for kv in stub.get_state_by_partial_composite_key(STUDY, ["enroll", study_id]):
        if canonical.loads(kv.value)["active"]:
            out.append(stub.split_composite_key(kv.key)[1][2])
    return out


class StudyContract(Contract):
    name = "Study"

    @transaction(PROPOSE)
    def Propose(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Propose a study and escrow its reward pool from the proposer's free balance."""
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        params = {k: args[k] for k in PARAMS}
        check_params(params, len(registered_hospitals(stub)))
        if params["audit_rate_ppm"] > 0:
            from chaincode.contracts.zk_keys import get_key

            key = get_key(stub, params["zk_vk_hash"])
            if key["circuit"] != params["zk_circuit"]:
                raise InvalidArgument(f"verifying key {params['zk_vk_hash'][:12]}... is for {key['circuit']}, "
                                      f"not {params['zk_circuit']}")  # fmt: skip
        if params["bind_vk_hash"]:
            from chaincode.contracts.zk_keys import get_key

            key, want = get_key(stub, params["bind_vk_hash"]), zk_circuits.bind_name(
                zk_circuits.parse(params["zk_circuit"]).weights)  # fmt: skip
            if key["circuit"] != want:
                raise InvalidArgument(f"bind_vk_hash {params['bind_vk_hash'][:12]}... is a key for "
                                      f"{key['circuit']}, not the model's binding circuit {want}")  # fmt: skip
        if stub.get_state(study_key(stub, args["study_id"])) is not None:
            raise Conflict(f"study {args['study_id']} already exists")
        if params["reward_pool"]:
            tokens.fund_pool(stub, msp_id, args["study_id"], params["reward_pool"])
        study = {
            "study_id": args["study_id"],
            "status": "PROPOSED",
            "proposer": msp_id,
            "approvals": [msp_id],
            "params": params,
            "audited": params["audit_rate_ppm"] > 0,
            "audited_steps_per_round": audited_steps(params),
            "bound": bool(params["bind_vk_hash"]),
            "current_round": -1,
            "rounds_finalized": 0,
            "proposed_at_ms": stub.timestamp_ms,
            "activated_at_ms": None,
            "genesis_hash": None,
        }
        self._maybe_activate(stub, study)
        put_study(stub, study)
        ledger_log.record(stub, "study.proposed", study["study_id"], {"status": study["status"]})
        return study

    @transaction(STUDY_REF)
    def Approve(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        study = get_study(stub, args["study_id"])
        if study["status"] != "PROPOSED":
            raise Conflict(f"study {study['study_id']} is {study['status']}; only PROPOSED studies take approvals")
        if msp_id in study["approvals"]:
            raise Conflict(f"{msp_id} already approved study {study['study_id']}")
        study["approvals"] = sorted([*study["approvals"], msp_id])
        self._maybe_activate(stub, study)
        put_study(stub, study)
        ledger_log.record(
            stub, "study.approved", study["study_id"], {"status": study["status"], "approvals": len(study["approvals"])}
        )
        return study

    @staticmethod
    def _maybe_activate(stub: Stub, study: dict[str, Any]) -> None:
        needed = majority(len(registered_hospitals(stub)))
        study["approvals_needed"] = needed
        if len(study["approvals"]) >= needed:
            study["status"] = "ACTIVE"
            study["activated_at_ms"] = stub.timestamp_ms
            # the seed of round 0's selection: fixed by the study and the activating transaction
            material = canonical.dumps({"study": study["study_id"], "params": study["params"], "tx": stub.tx_id})
            study["genesis_hash"] = hashlib.sha256(material).hexdigest()

    @transaction(STUDY_REF)
    def Enroll(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Declare that your org takes part in the study under its published rules. Enrolling
        again while enrolled returns the existing record and writes nothing, so a retried or
        replayed call cannot move the enrollment's time."""
        msp_id = require_hospital_admin(stub)
        require_registered(stub, msp_id)
        study = get_study(stub, args["study_id"])
        require_active(study)
        key = stub.create_composite_key(STUDY, ["enroll", study["study_id"], msp_id])
        existing = stub.get_json(key)
        if existing is not None and existing["active"]:
            return existing
        stake = tokens.free_stake(stub, msp_id)
        if stake < study["params"]["min_stake"]:
            raise Conflict(f"{msp_id} has {stake} unlocked stake; study needs {study['params']['min_stake']}")
        record = {"active": True, "enrolled_at_ms": stub.timestamp_ms}
        stub.put_json(key, record)
        ledger_log.record(stub, "study.enrolled", study["study_id"], {"msp_id": msp_id})
        return record

    @transaction(STUDY_REF)
    def Withdraw(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        """Stop being selected from the next round on (a current selection must still be served)."""
        msp_id = require_hospital_admin(stub)
        key = stub.create_composite_key(STUDY, ["enroll", args["study_id"], msp_id])
        record = stub.get_json(key)
        if record is None or not record["active"]:
            raise Conflict(f"{msp_id} is not enrolled in {args['study_id']}")
        record = {**record, "active": False, "withdrawn_at_ms": stub.timestamp_ms}
        stub.put_json(key, record)
        ledger_log.record(stub, "study.withdrawn", args["study_id"], {"msp_id": msp_id})
        return record

    @query(STUDY_REF)
    def Get(self, stub: Stub, args: dict[str, Any]) -> dict[str, Any]:
        study = get_study(stub, args["study_id"])
        return {
            **study,
            "enrolled": enrolled(stub, study["study_id"]),
            "pool": tokens.pool_balance(stub, study["study_id"]),
        }

    @query()
    def List(self, stub: Stub, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Every study: status, round, proposer, audited, its parameters and who is enrolled
        (one range scan reads the studies and their enrolments together)."""
        out, enrolled_by = [], {}
        for kv in stub.get_state_by_partial_composite_key(STUDY):
            _, attrs = stub.split_composite_key(kv.key)
            if len(attrs) == 1:
                s = canonical.loads(kv.value)
                fields = ("study_id", "status", "proposer", "current_round", "audited", "params")
                out.append({k: s[k] for k in fields})
            elif len(attrs) == 3 and attrs[0] == "enroll" and canonical.loads(kv.value)["active"]:
                enrolled_by.setdefault(attrs[1], []).append(attrs[2])
        return [{**s, "enrolled": sorted(enrolled_by.get(s["study_id"], []))} for s in out]
