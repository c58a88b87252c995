"""A hospital's part in a round, in trusted-aggregator mode, over the ledger and IPFS.

* ``participate``: fetch the round's global model (an envelope for every hospital), train one
  DP-SGD round on the consented records, publish the update in an envelope for the round's
  aggregator only, and return the commitment (hashes, Merkle root, epsilon, envelope CID).
* ``aggregate``: as the aggregator, open every included participant's update, check it against
  the hash committed on the ledger (a swapped, tampered or malformed update is left out and
  reported, never averaged in), FedAvg the rest weighted by committed sample counts, and
  publish the new global model for every hospital.

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

from agent.aggregation import TrustedAggregatorFedAvg, Update, UpdateRejected, check_update
from agent.data.schema import Records
from agent.models import ModelSpec, weights_bytes, weights_from_bytes, weights_hash
from agent.storage.envelope import open_envelope, publish
from agent.storage.vault import ArtifactError, Vault
from agent.training import DPConfig, RoundResult, train_round
from agent.update_codec import UpdateFormatError, decode_update, encode_update
from agent.zk.participant import update_matches, weights_commitment
from clients.fabric import Contract
from clients.kubo import IPFSClient, IPFSError


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


def train_update(
    h: Hospital, rnd: dict[str, Any], spec: ModelSpec, records: Records, dp: DPConfig, seed: int | None = None
) -> RoundResult:
    """One round of local DP-SGD from the round's global model (fetched and hash-checked)."""
    return train_round(spec, fetch_model(h, rnd["model_in"], spec), records, dp, seed=seed)


def publish_update(
    h: Hospital, rnd: dict[str, Any], result: RoundResult, codec: str = "none"
) -> tuple[dict[str, Any], int]:
    """Store the update in an envelope only the round's aggregator can open; return the
    ``Round:Commit`` arguments (hashes, Merkle root, epsilon, envelope CID) and the encoded
    update's size in bytes."""
    data = encode_update(result.update, codec)
    aggregator = rnd["committee"][0]
    label = f"{rnd['study_id']}/{rnd['round']}/update/{h.msp_id}"
    envelope = publish(h.vault, data, label, share_keys(h.registry, [aggregator]))
    return commit_args(rnd, result, data, envelope), len(data)


def commit_args(rnd: dict[str, Any], result: RoundResult, data: bytes, envelope: str) -> dict[str, Any]:
    """``Round:Commit`` arguments for ``data`` (the bytes stored in ``envelope``): its hash, the
    step Merkle root, the sample bucket and count, and the epsilon the round spent."""
    return {
        "study_id": rnd["study_id"],
        "round": rnd["round"],
        "update_hash": hashlib.sha256(data).hexdigest(),
        "step_root": result.step_root.hex(),
        "sample_bucket": min(20, int(math.log2(max(result.sample_count, 1)))),
        "epsilon_micro": math.ceil(result.epsilon_spent * 1_000_000),
        "share_cids": [envelope],
        "consented_records": result.sample_count,
    }


def participate(
    h: Hospital, rnd: dict[str, Any], spec: ModelSpec, records: Records, dp: DPConfig, seed: int | None = None
) -> tuple[dict[str, Any], RoundResult]:
    """Train on this round and return (Commit arguments, training result)."""
    result = train_update(h, rnd, spec, records, dp, seed)
    return publish_update(h, rnd, result)[0], result


def collect_updates(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, global_in: np.ndarray | None = None,
                    circuit: str | None = None) -> tuple[list[Update], list[dict[str, str]]]:  # fmt: skip
    """As the aggregator: open every included participant's update and check it against the
    hash it committed. An update that cannot be fetched or opened, does not match its hash, or
    is malformed is left out with its reason (to be recorded on the ledger), never averaged in.
    In an audited study (``circuit``) the update must also lead from ``global_in`` exactly to
    the final weights the participant committed (whose steps were audited)."""
    if rnd["committee"][0] != h.msp_id:
        raise PermissionError(f"{h.msp_id} is not this round's aggregator")
    dim = spec.parameter_count()
    updates, excluded = [], []
    for m in rnd["inclusion"]:
        commitment = rnd["commitments"][m]
        try:
            data = open_envelope(h.ipfs, commitment["share_cids"][0], h.msp_id, h.share_key)
            if hashlib.sha256(data).hexdigest() != commitment["update_hash"]:
                raise UpdateRejected("the update on IPFS does not match the hash it committed")
            update = Update(m, decode_update(data, dim), commitment["consented_records"] or 1)
            check_update(update, dim)
            if circuit is not None and global_in is not None:
                if not update_matches(circuit, global_in, update.delta, commitment["final_commitment"]):
                    raise UpdateRejected("the update does not lead to the final weights it committed (and audited)")
        except (ArtifactError, UpdateRejected, UpdateFormatError, IPFSError, IndexError, KeyError, TypeError,
                ValueError, AttributeError) as exc:  # fmt: skip
            # a participant's own bytes must never stop the aggregate: anything unreadable excludes it
            excluded.append({"msp_id": m, "reason": exclusion_reason(exc)})
            continue
        updates.append(update)
    return updates, excluded


def exclusion_reason(exc: BaseException) -> str:
    """A reason the ledger accepts whatever the participant put in its envelope: the message may
    echo attacker-chosen text (labels, key ids), so it is reduced to printable ASCII and capped."""
    text = f"{type(exc).__name__}: {exc}" if not isinstance(exc, (UpdateRejected, ArtifactError)) else str(exc)
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text).strip()
    return (cleaned or type(exc).__name__)[:300]


def aggregate(
    h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str], circuit: str | None = None
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """As the round's aggregator: FedAvg of the good included updates, published for
    ``recipients``; returns (model reference, excluded participants with reasons). In an
    audited study the reference also carries the new weights' commitment for the ledger."""
    global_in = fetch_model(h, rnd["model_in"], spec)
    updates, excluded = collect_updates(h, rnd, spec, global_in, circuit)
    new = TrustedAggregatorFedAvg().aggregate(global_in, updates)
    label = f"{rnd['study_id']}/{rnd['round']}/global"
    return with_commitment(publish_model(h, new, label, share_keys(h.registry, recipients)), new, circuit), excluded


def with_commitment(model: dict[str, str], weights: np.ndarray, circuit: str | None) -> dict[str, str]:
    """Add the Poseidon2 commitment of ``weights`` (where the next audited round starts)."""
    if circuit is None:
        return model
    return {**model, "commitment": weights_commitment(circuit, weights)}
