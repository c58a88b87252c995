"""Audited studies on a consortium: the circuit's keys, their registration on the ledger and
their distribution to the hospitals' agents.

``dev_keys`` makes one-party keys (for tests and benchmarks: whoever ran it could forge
proofs); the consortium's multi-party ceremony is ``fedledger-zk ceremony`` (zk/ceremony).
Either way the verifying key is registered with ``Zk:RegisterKey`` and pinned by its SHA-256 in
the study; each agent finds the proving key at ``<keys_dir>/zk/<vk sha256>.pk``.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.daemon.config import AgentConfig
from agent.gateway import GatewayError
from agent.zk import binary
from agent.zk.participant import weights_commitment


@dataclass(frozen=True)
class ZkKeys:
    circuit: str
    pk: Path
    vk: Path
    ceremony: dict[str, Any]  # the record Zk:RegisterKey stores

    @property
    def vk_b64(self) -> str:
        return base64.b64encode(self.vk.read_bytes()).decode()

    @property
    def vk_hash(self) -> str:
        return hashlib.sha256(self.vk.read_bytes()).hexdigest()


def dev_keys(directory: Path, circuit: str, party: str) -> ZkKeys:
    """One-party keys, cached in ``directory`` (tests and benchmarks only)."""
    directory.mkdir(parents=True, exist_ok=True)
    pk, vk = directory / f"{circuit}.pk", directory / f"{circuit}.vk"
    if not (pk.exists() and vk.exists()):
        binary.dev_setup(circuit, pk, vk)
    digest = hashlib.sha256(vk.read_bytes()).hexdigest()
    ceremony = {"phase1": [digest], "phase2": [digest], "contributors": [party], "beacon1": "00", "beacon2": "00"}
    return ZkKeys(circuit, pk, vk, ceremony)


def register(admins: Any, keys: ZkKeys) -> str:
    """Register the verifying key as the first hospital's admin, committed on every hospital's
    peer before returning (idempotent); returns its SHA-256."""
    try:
        admins.tx(admins.names[0], "Zk", "RegisterKey",
                  {"circuit": keys.circuit, "vk": keys.vk_b64, "ceremony": keys.ceremony})  # fmt: skip
    except GatewayError as exc:
        if exc.chaincode_status != 409:
            raise
    return keys.vk_hash


def distribute(keys: ZkKeys, agents: dict[str, AgentConfig]) -> None:
    """Give every hospital's agent the proving key (it is public: what matters is who made it)."""
    for cfg in agents.values():
        target = cfg.keys_dir / "zk" / f"{keys.vk_hash}.pk"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(keys.pk, target)


def audit_params(keys: ZkKeys, initial_weights: np.ndarray, audit_rate_ppm: int, local_steps: int,
                 expected_batch: int = 16) -> dict[str, Any]:  # fmt: skip
    """The study parameters of an audited study with these keys."""
    return {"audit_rate_ppm": audit_rate_ppm, "local_steps": local_steps, "zk_circuit": keys.circuit,
            "zk_vk_hash": keys.vk_hash, "model_commitment": weights_commitment(keys.circuit, initial_weights),
            "learning_rate_ppm": 500_000, "clip_ppm": 1_000_000, "expected_batch": expected_batch}  # fmt: skip
