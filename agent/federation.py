"""A hospital in the federation: its identity, IPFS node, vault and share key, and the global
models every round starts from and ends with (envelopes for every enrolled hospital, checked
against the hash on the ledger). What a hospital does in a round is agent/rounds/.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.aggregation import ServerStep
from agent.models import ModelSpec, weights_bytes, weights_from_bytes, weights_hash
from agent.storage.envelope import open_envelope, publish
from agent.storage.vault import ArtifactError, Vault
from agent.zk.participant import weights_commitment
from clients.fabric import Contract
from clients.kubo import BlobStore
from clients.ledger.calls import Registry


@dataclass
class Hospital:
    """What one hospital needs to take part: identity, IPFS node, vault and share key."""

    msp_id: str
    ipfs: BlobStore
    vault: Vault
    share_key: x25519.X25519PrivateKey
    registry: Contract


def share_keys(registry: Contract, msp_ids: list[str]) -> dict[str, str]:
    """The registry's X25519 share keys (base64) of the given hospitals."""
    calls = [Registry.get(m) for m in msp_ids]
    return {m: registry.evaluate(c.function, c.args)["share_key"] for m, c in zip(msp_ids, calls, strict=True)}


def fetch_model(h: Hospital, model_ref: dict[str, str], spec: ModelSpec) -> np.ndarray:
    """Open a global model envelope and check its weights against the ledger's hash."""
    weights = weights_from_bytes(open_envelope(h.ipfs, model_ref["cid"], h.msp_id, h.share_key), spec)
    if weights_hash(weights) != model_ref["hash"]:
        raise ArtifactError(f"global model {model_ref['cid']} does not match the hash on the ledger")
    return weights


def server_step(h: Hospital, rnd: dict[str, Any], spec: ModelSpec) -> tuple[ServerStep, np.ndarray | None]:
    """The round's server step as its record says and, when the step needs it (momentum), the
    model this round's model was made from (None in the first round)."""
    server = ServerStep.from_round(rnd)
    previous = fetch_model(h, rnd["model_prev"], spec) if server.needs_previous and rnd.get("model_prev") else None
    return server, previous


def publish_model(h: Hospital, weights: np.ndarray, label: str, recipients: dict[str, str]) -> dict[str, str]:
    return {"cid": publish(h.vault, weights_bytes(weights), label, recipients), "hash": weights_hash(weights)}


def with_commitment(model: dict[str, str], weights: np.ndarray, circuit: str | None) -> dict[str, str]:
    """Add the Poseidon2 commitment of ``weights`` (where the next audited round starts)."""
    if circuit is None:
        return model
    return {**model, "commitment": weights_commitment(circuit, weights)}
