"""A hospital's part in a round, in trusted-aggregator mode, over the ledger and IPFS.

* ``participate``: fetch the round's global model (an envelope for every hospital), train one
  DP-SGD round on the consented records, publish the update in an envelope for the round's
  aggregator only, and return the commitment (hashes, Merkle root, epsilon, envelope CID).
* ``aggregate``: as the aggregator, open every included participant's update, check it against
  the hash committed on the ledger (a swapped or tampered update is refused), FedAvg them
  weighted by committed sample counts, and publish the new global model for every hospital.

Trusted-aggregator mode: the aggregator is the study's committee of one, selected by the
chaincode, and it sees every update in the clear. The secure-committee issue replaces this as
the default; this module is the ``Aggregator`` interface's trusted implementation.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.aggregation import TrustedAggregatorFedAvg, Update, UpdateRejected
from agent.data.schema import Records
from agent.gateway import Contract
from agent.models import ModelSpec, weights_bytes, weights_from_bytes, weights_hash
from agent.storage.envelope import open_envelope, publish
from agent.storage.ipfs_client import IPFSClient
from agent.storage.vault import ArtifactError, Vault
from agent.training import DPConfig, RoundResult, train_round


@dataclass
class Hospital:
    """What one hospital needs to take part: identity, IPFS node, vault and share key."""

    msp_id: str
    ipfs: IPFSClient
    vault: Vault
    share_key: x25519.X25519PrivateKey
    registry: Contract


def share_keys(registry: Contract, msp_ids: list[str]) -> dict[str, str]:
    """The registry's X25519 share keys (base64) of the given hospitals."""
    return {m: registry.evaluate("Get", {"msp_id": m})["share_key"] for m in msp_ids}


def fetch_model(h: Hospital, model_ref: dict[str, str], spec: ModelSpec) -> np.ndarray:
    """Open a global model envelope and check its weights against the ledger's hash."""
    weights = weights_from_bytes(open_envelope(h.ipfs, model_ref["cid"], h.msp_id, h.share_key), spec)
    if weights_hash(weights) != model_ref["hash"]:
        raise ArtifactError(f"global model {model_ref['cid']} does not match the hash on the ledger")
    return weights


def publish_model(h: Hospital, weights: np.ndarray, label: str, recipients: dict[str, str]) -> dict[str, str]:
    return {"cid": publish(h.vault, weights_bytes(weights), label, recipients), "hash": weights_hash(weights)}


def participate(
    h: Hospital, rnd: dict[str, Any], spec: ModelSpec, records: Records, dp: DPConfig, seed: int | None = None
) -> tuple[dict[str, Any], RoundResult]:
    """Train on this round and return (Commit arguments, training result)."""
    weights_in = fetch_model(h, rnd["model_in"], spec)
    result = train_round(spec, weights_in, records, dp, seed=seed)
    aggregator = rnd["committee"][0]
    label = f"{rnd['study_id']}/{rnd['round']}/update/{h.msp_id}"
    envelope = publish(h.vault, weights_bytes(result.update), label, share_keys(h.registry, [aggregator]))
    commit = {
        "study_id": rnd["study_id"],
        "round": rnd["round"],
        "update_hash": hashlib.sha256(weights_bytes(result.update)).hexdigest(),
        "step_root": result.step_root.hex(),
        "sample_bucket": min(20, int(math.log2(max(result.sample_count, 1)))),
        "epsilon_micro": math.ceil(result.epsilon_spent * 1_000_000),
        "share_cids": [envelope],
        "consented_records": result.sample_count,
    }
    return commit, result


def aggregate(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str]) -> dict[str, str]:
    """As the round's aggregator: FedAvg of the included updates, published for ``recipients``."""
    if rnd["committee"][0] != h.msp_id:
        raise PermissionError(f"{h.msp_id} is not this round's aggregator")
    global_in = fetch_model(h, rnd["model_in"], spec)
    updates = []
    for m in rnd["inclusion"]:
        commitment = rnd["commitments"][m]
        data = open_envelope(h.ipfs, commitment["share_cids"][0], h.msp_id, h.share_key)
        if hashlib.sha256(data).hexdigest() != commitment["update_hash"]:
            raise UpdateRejected(f"{m}: the update on IPFS does not match the hash it committed")
        updates.append(Update(m, weights_from_bytes(data, spec), commitment["consented_records"] or 1))
    new = TrustedAggregatorFedAvg().aggregate(global_in, updates)
    label = f"{rnd['study_id']}/{rnd['round']}/global"
    return publish_model(h, new, label, share_keys(h.registry, recipients))
