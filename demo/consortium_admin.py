"""The hospitals' side of the consortium's set-up on a local network; the admins' sequence
itself (register, mint, stake, propose, approve, enroll) is network/admins.py.

What it cannot know below the agent's layer lives here: each hospital's share key in this
machine's key stores, the study's initial model published for every hospital, and the demo's
study parameters. Used by the demo, the benchmarks and the integration tests.
"""

from __future__ import annotations

from typing import Any

from agent.aggregation import FEDAVG, ServerStep
from agent.data.schema import Schema
from agent.federation import Hospital, publish_model
from agent.keys import load_or_create_x25519, public_b64
from agent.models import ModelSpec, get_weights
from agent.storage.vault import KeyStore, Vault
from clients.kubo import IPFSClient
from clients.ledger import Registry, StudyParams
from network.admins import Admins


def register_hospitals(admins: Admins) -> list[dict[str, Any]]:
    """Each hospital's admin registers (or updates) its entry with the share key of this
    machine's key store (created on first use); returns what happened per hospital."""
    keys = {n: public_b64(load_or_create_x25519(admins.share_key_path(n))) for n in admins.names}
    return admins.register(keys)


def publish_initial_model(admins: Admins, study_id: str, spec: ModelSpec, seed: int = 0) -> dict[str, str]:
    """The study's initial weights, encrypted on the first hospital's IPFS node for every hospital."""
    net = admins.net
    keys = {m: public_b64(load_or_create_x25519(admins.share_key_path(n)))
            for n, m in zip(admins.names, admins.msps, strict=True)}  # fmt: skip
    first = net.org(admins.names[0])
    ipfs = IPFSClient(net.ipfs_api(first.name))
    vault = Vault(ipfs, KeyStore(net.state.root / "keys" / first.short / "artifacts"))
    sender = load_or_create_x25519(admins.share_key_path(first.name))
    hospital = Hospital(first.msp_id, ipfs, vault, sender, admins.ledger(first.name).contract(Registry.NAME))
    return publish_model(hospital, get_weights(spec.build(seed=seed)), f"{study_id}/initial", keys)


def study_params(
    study_id: str,
    spec: ModelSpec,
    model: dict[str, str],
    schema: Schema,
    *,
    rounds: int,
    epsilon_per_round: float,
    participants: int = 3,
    title: str = "Breast cancer malignancy, DP-SGD",
    window_s: int = 600,
    aggregation: str = "trusted",
    server: ServerStep = FEDAVG,
    prox_mu: float = 0.0,
) -> StudyParams:
    """Study parameters for an unaudited study: trusted aggregation by a committee of one, or
    secure aggregation by a committee of (up to) three of which any two unmask the sum."""
    committee = (min(3, participants), 2) if aggregation == "secure" else (1, 1)
    return {
        "study_id": study_id, "title": title, "model": spec.name, "model_spec_hash": spec.hash,
        "model_cid": model["cid"], "model_hash": model["hash"], "data_schema_hash": schema.hash,
        "epsilon_budget_micro": int(epsilon_per_round * rounds * 1_000_000), "delta_e12": 10_000_000,
        "rounds": rounds, "local_steps": 100, "audit_rate_ppm": 0,
        "committee_size": committee[0], "committee_threshold": committee[1],
        "participants_per_round": participants, "min_participants": participants, "min_stake": 100,
        "reward_pool": 300 * rounds, "reward_per_round": 300, "missing_slash": 50, "cheat_slash": 100,
        "commit_window_s": window_s, "prove_window_s": window_s, "aggregate_window_s": window_s,
        "validation_window_s": window_s, "aggregation": aggregation, "keys_window_s": min(window_s, 120),
        "prox_mu_ppm": round(prox_mu * 1_000_000), "server_optimizer": server.optimizer,
        "server_lr_ppm": round(server.learning_rate * 1_000_000),
        "server_momentum_ppm": round(server.momentum * 1_000_000),
    }  # fmt: skip
