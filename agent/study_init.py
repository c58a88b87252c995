"""A new study from a data schema and a few choices: the initial model, every hash, the file.

The proposing hospital derives the model from its schema (one input per feature, one output
per label class), builds the initial weights, publishes them on its IPFS node encrypted to
every hospital registered now, and fills in every study parameter: the model and its hash, the
initial model's CID and hash, the schema's hash, the privacy budget, the committee, stakes,
rewards and windows, and for an audited study the step circuit, its registered verifying key
and the Poseidon2 commitment of the initial weights. An audited study on a model no step
circuit covers is refused here, saying which shapes have one. The result is written as a
commented study file (agent/study_file.py) for ``fedledger study propose``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.aggregation import ServerStep
from agent.data.schema import Schema
from agent.federation import Hospital, publish_model
from agent.models import ModelSpec, get_weights
from chaincode.contracts import model_names, zk_circuits
from clients.fabric import GatewayError
from clients.ledger import LedgerClient, Registry, Zk

CIRCUIT_BATCH = 32  # batch capacity of the step circuits study init chooses


class StudyInitError(ValueError):
    """The choices cannot make a study (the message says why and what would)."""


@dataclass(frozen=True)
class StudyChoices:
    """What the proposer decides; everything else follows from the schema and the ledger."""

    study_id: str
    title: str
    model: str = "logreg"  # "logreg" | "mlp" | "cnn" (the schema's image)
    hidden: int = 16
    filters: tuple[int, int] = (8, 16)  # cnn
    rounds: int = 3
    epsilon_budget: float = 3.0  # per hospital, whole study
    delta: float = 1e-5
    aggregation: str = "secure"
    committee: int = 0  # 0: 3 (or every hospital, if fewer) in secure mode, 1 in trusted mode
    threshold: int = 0  # 0: 2 in secure mode, 1 in trusted mode
    participants: int = 0  # 0: every registered hospital
    min_participants: int = 0  # 0: participants
    local_steps: int = 100
    audit_rate: float = 0.0
    zk_key: str = ""  # the registered verifying key's SHA-256 (audited studies)
    bind_key: str = ""  # the binding circuit's registered verifying key (secure studies with bound inputs)
    update_norm: float = 10.0  # bound inputs: the largest L2 norm of an update
    min_stake: int = 100
    reward_per_round: int = 300
    window_s: int = 600
    seed: int = 0  # the initial weights' seed
    prox_mu: float = 0.0  # FedProx (unaudited studies)
    server_optimizer: str = "fedavg"  # or "fedavgm"
    server_lr: float = 1.0
    server_momentum: float = 0.0


def circuit_for(spec: ModelSpec) -> str:
    """The step circuit that proves training steps of ``spec``, or StudyInitError saying which
    shapes have one."""
    problem = model_names.audit_problem(model_names.parse(spec.name))
    if problem:
        raise StudyInitError(f"an audited study of {spec.name} is not possible: {problem}")
    hidden = f"-h{spec.hidden}" if spec.kind == "mlp" else ""
    return zk_circuits.parse(f"{spec.kind}-d{spec.input_dim}{hidden}-b{CIRCUIT_BATCH}").name


def committee(c: StudyChoices, hospitals: int) -> tuple[int, int]:
    if c.aggregation == "secure":
        return c.committee or min(3, hospitals), c.threshold or 2
    return c.committee or 1, c.threshold or 1


def build_params(c: StudyChoices, schema: Schema, hospitals: int, model: dict[str, str],
                 audit: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every study parameter, from the choices, the schema, the number of registered hospitals
    and the published initial model (``{"cid", "hash"}``)."""
    spec = ModelSpec.for_schema(schema, c.model, c.hidden, c.filters)
    size, threshold = committee(c, hospitals)
    participants = c.participants or hospitals
    window = c.window_s
    params = {
        "study_id": c.study_id, "title": c.title, "model": spec.name, "model_spec_hash": spec.hash,
        "model_cid": model["cid"], "model_hash": model["hash"], "data_schema_hash": schema.hash,
        "epsilon_budget_micro": round(c.epsilon_budget * 1_000_000), "delta_e12": round(c.delta * 1e12),
        "rounds": c.rounds, "local_steps": c.local_steps, "audit_rate_ppm": round(c.audit_rate * 1_000_000),
        "committee_size": size, "committee_threshold": threshold,
        "participants_per_round": participants, "min_participants": c.min_participants or participants,
        "min_stake": c.min_stake, "reward_pool": c.reward_per_round * c.rounds,
        "reward_per_round": c.reward_per_round, "missing_slash": c.min_stake // 2, "cheat_slash": c.min_stake,
        "commit_window_s": window, "prove_window_s": window, "aggregate_window_s": window,
        "validation_window_s": window, "aggregation": c.aggregation, "keys_window_s": min(window, 120),
        "prox_mu_ppm": round(c.prox_mu * 1_000_000), "server_optimizer": c.server_optimizer,
        "server_lr_ppm": round(c.server_lr * 1_000_000),
        "server_momentum_ppm": round(c.server_momentum * 1_000_000),
    }  # fmt: skip
    if audit:
        params.update(audit)
    return params


def _check_key(ledger: LedgerClient, flag: str, vk_hash: str, circuit: str, spec: ModelSpec, has_proving_key: bool,
               use: str) -> None:  # fmt: skip
    """The registered verifying key ``vk_hash`` is for ``circuit``, and this hospital holds its
    proving key (every participant needs it to ``use``)."""
    try:
        key = ledger.evaluate(Zk.get_key(vk_hash))
    except GatewayError as exc:
        raise StudyInitError(f"{flag} {vk_hash[:12]}...: {exc.chaincode_message or exc}") from None
    if key["circuit"] != circuit:
        raise StudyInitError(f"{flag} {vk_hash[:12]}... is for circuit {key['circuit']}; {spec.name} needs "
                             f"{circuit}")  # fmt: skip
    if not has_proving_key:
        raise StudyInitError(f"no proving key for {vk_hash[:12]}... in this hospital's keys_dir/zk: every "
                             f"participant needs the ceremony's proving key to {use}")  # fmt: skip


def audit_params(c: StudyChoices, spec: ModelSpec, ledger: LedgerClient, weights: Any, has_proving_key: bool
                 ) -> dict[str, Any]:  # fmt: skip
    """The audited study's circuit, its registered key and the initial weights' commitment."""
    from agent.zk.participant import weights_commitment

    circuit = circuit_for(spec)
    if not c.zk_key:
        raise StudyInitError(f"an audited study of {spec.name} needs the consortium's keys for circuit {circuit} "
                             "(its setup ceremony): pass --zk-key with the verifying key's SHA-256")  # fmt: skip
    _check_key(ledger, "--zk-key", c.zk_key, circuit, spec, has_proving_key, "answer audits")
    return {"zk_circuit": circuit, "zk_vk_hash": c.zk_key, "model_commitment": weights_commitment(circuit, weights),
            "learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": 16}  # fmt: skip


def bind_params(c: StudyChoices, spec: ModelSpec, ledger: LedgerClient, weights: Any, has_proving_key: bool
                ) -> dict[str, Any]:  # fmt: skip
    """A secure study's bound inputs: the model's step circuit (its weight count), the binding
    circuit's registered key, the initial weights' commitment and the norm bound."""
    from agent.zk.participant import weights_commitment

    if c.aggregation != "secure":
        raise StudyInitError("--bind-key binds masked inputs: it needs --aggregation secure")
    circuit = circuit_for(spec)
    want = zk_circuits.bind_name(zk_circuits.parse(circuit).weights)
    _check_key(ledger, "--bind-key", c.bind_key, want, spec, has_proving_key, "bind its input")
    if c.update_norm <= 0:
        raise StudyInitError("--update-norm must be positive")
    return {"zk_circuit": circuit, "model_commitment": weights_commitment(circuit, weights),
            "bind_vk_hash": c.bind_key, "update_norm_micro": round(c.update_norm * 1_000_000)}  # fmt: skip


def init_study(c: StudyChoices, schema: Schema, hospital: Hospital, ledger: LedgerClient,
               has_proving_key: bool = False, has_bind_key: bool = False) -> dict[str, Any]:  # fmt: skip
    """Build and publish the initial model and return the complete study parameters."""
    try:
        spec = ModelSpec.for_schema(schema, c.model, c.hidden, c.filters)
        ServerStep(c.server_optimizer, c.server_lr, c.server_momentum)  # the ledger refuses what this does
    except ValueError as exc:
        raise StudyInitError(str(exc)) from None
    if c.prox_mu and c.audit_rate > 0:
        raise StudyInitError("--prox-mu with --audit-rate: the step circuits prove plain DP-SGD steps, without "
                             "FedProx's proximal term")  # fmt: skip
    registered = {e["msp_id"]: e["share_key"] for e in ledger.evaluate(Registry.list())}
    if hospital.msp_id not in registered:
        raise StudyInitError(f"{hospital.msp_id} is not registered: register first (`fedledger registry register`)")
    weights = get_weights(spec.build(seed=c.seed))
    audit = audit_params(c, spec, ledger, weights, has_proving_key) if c.audit_rate > 0 else {}
    bound = bind_params(c, spec, ledger, weights, has_bind_key) if c.bind_key else {}
    model = publish_model(hospital, weights, f"{c.study_id}/initial", registered)
    return build_params(c, schema, len(registered), model, {**audit, **bound})
