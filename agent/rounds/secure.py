"""A hospital's part in a secure-committee round, over IPFS and the ledger.

The protocol's arithmetic is agent/secagg/protocol.py; the ledger's rules are
chaincode/contracts/secure_aggregation.py. This module moves the material:

* ``publish_keys`` (participant, KEYS): deal the share bundle, store it on IPFS (its shares are
  each wrapped to one member's registry key), return ``Round:PublishKeys`` arguments.
* ``SecureMode.store_update`` (participant, OPEN): mask the sample-weighted update against the
  masking set and store it in an envelope for the committee (the committed hash is that of
  the masked vector's bytes).
* ``committee_shares`` (member, AGGREGATE): first check that every included masked vector is
  on IPFS and matches its commitment (an included update must not be missing once its seed is
  revealed), then open this member's shares of the secrets the ledger reveals.
* ``SecureMode.aggregate`` (member, once the ledger says unmask-ready): reconstruct, unmask
  the weighted sum, publish the new global model for every enrolled hospital.

Nobody here ever holds another hospital's update in the clear: a member sees masked vectors,
its own shares and, after the ledger's reveal, the included participants' self-mask seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agent.federation import Hospital, fetch_model, publish_model, share_keys, with_commitment
from agent.models import ModelSpec
from agent.rounds.mode import Aggregate, StoredUpdate
from agent.secagg import field
from agent.secagg.protocol import (
    ProtocolError,
    RoundSecrets,
    bundle_bytes,
    context,
    deal_bundle,
    keys_args,
    mask_input,
    member_shares,
    new_global,
    parse_bundle,
    unmask,
    weighted_input,
)
from agent.secagg.shares import ShareBundle
from agent.storage.envelope import open_envelope, publish
from agent.storage.vault import ArtifactError
from agent.training import RoundResult
from clients.kubo import IPFSError

MAX_BUNDLE_BYTES = 64 * 1024
# a decoded global model beyond this is refused rather than published: a masked sum cannot say
# whose input was out of range, so the committee stops the round instead of spreading it
MAX_MODEL_ABS = 1e4


def publish_keys(h: Hospital, rnd: dict[str, Any], secrets: RoundSecrets) -> dict[str, Any]:
    ctx = context(rnd["study_id"], rnd["round"])
    bundle = deal_bundle(h.msp_id, secrets, share_keys(h.registry, rnd["committee"]), rnd["threshold"], ctx)
    raw = bundle_bytes(bundle)
    return keys_args(rnd["study_id"], rnd["round"], bundle, h.ipfs.add(raw), raw)


def fetch_bundles(h: Hospital, rnd: dict[str, Any], who: list[str]) -> dict[str, ShareBundle]:
    out = {}
    for p in who:
        record = rnd["keys"][p]
        try:
            raw = h.ipfs.cat(record["bundle_cid"], max_bytes=MAX_BUNDLE_BYTES)
        except IPFSError as exc:
            raise ProtocolError(f"{p}'s share bundle {record['bundle_cid']} cannot be fetched: {exc}") from None
        out[p] = parse_bundle(raw, record)
    return out


def fetch_masked(h: Hospital, rnd: dict[str, Any], spec: ModelSpec) -> dict[str, np.ndarray]:
    """Every included masked vector, checked against its commitment and length."""
    dim = spec.parameter_count()
    out = {}
    for p in rnd["inclusion"]:
        commitment = rnd["commitments"][p]
        try:
            data = open_envelope(h.ipfs, commitment["share_cids"][0], h.msp_id, h.share_key)
        except (ArtifactError, IPFSError, IndexError) as exc:
            raise ProtocolError(f"{p}'s masked update cannot be fetched or opened: {exc}") from None
        if hashlib.sha256(data).hexdigest() != commitment["update_hash"]:
            raise ProtocolError(f"{p}'s masked update does not match the hash it committed")
        try:
            out[p] = field.from_bytes(data, dim)
        except field.FieldError as exc:
            raise ProtocolError(f"{p}'s masked update is malformed: {exc}") from None
    return out


Masked = dict[str, np.ndarray]


def committee_shares(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, masked: Masked | None = None) -> dict[str, Any]:
    """``Round:SubmitShares`` arguments for this member. Raises ProtocolError when an included
    masked vector is unavailable: then no share is published, and without t members'
    shares the round aborts at its deadline with nothing revealed. ``masked``: the included
    vectors if already fetched (``fetch_masked``)."""
    if masked is None:
        fetch_masked(h, rnd, spec)
    reveal = rnd["reveal"]
    bundles = fetch_bundles(h, rnd, reveal["seed"] + reveal["key"])
    ctx = context(rnd["study_id"], rnd["round"])
    shares, complaints = member_shares(h.msp_id, h.share_key, reveal, bundles, ctx)
    if not shares:
        raise ProtocolError(f"{h.msp_id} could open none of its shares: {complaints}")
    return {"study_id": rnd["study_id"], "round": rnd["round"], "shares": shares, "complaints": complaints}


def unmasked_model(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, masked: Masked | None = None) -> np.ndarray:
    """The new global weights from the ledger's valid shares and the masked vectors."""
    reveal = rnd["reveal"]
    bundles = fetch_bundles(h, rnd, reveal["seed"] + reveal["key"])
    masked = fetch_masked(h, rnd, spec) if masked is None else masked
    field_sum = unmask(reveal, bundles, rnd["shares"], masked, context(rnd["study_id"], rnd["round"]))
    total = sum(rnd["commitments"][p]["consented_records"] or 0 for p in rnd["inclusion"])
    weights = new_global(fetch_model(h, rnd["model_in"], spec), field_sum, total)
    if not np.isfinite(weights).all() or float(np.abs(weights).max()) > MAX_MODEL_ABS:
        raise ProtocolError(
            f"the unmasked model has weights beyond {MAX_MODEL_ABS:g}: some participant masked an out-of-range "
            "update; not publishing it"
        )
    return weights


class MaskedCache:
    """A committee member's fetched masked vectors, kept from its shares duty to its aggregate
    (only the current round's)."""

    def __init__(self) -> None:
        self._round: tuple[str, int] | None = None
        self._vectors: Masked = {}

    def get(self, h: Hospital, rnd: dict[str, Any], spec: ModelSpec) -> Masked:
        key = (rnd["study_id"], rnd["round"])
        if self._round != key:
            self._vectors, self._round = fetch_masked(h, rnd, spec), key
        return self._vectors

    def clear(self) -> None:
        self._round, self._vectors = None, {}


@dataclass
class SecureMode:
    """``secrets``: this participant's round secrets (drawn at KEYS, kept until committed)."""

    secrets: Callable[[], RoundSecrets]
    masked: MaskedCache = dataclasses.field(default_factory=MaskedCache)
    name: str = "secure"

    def store_update(self, h: Hospital, rnd: dict[str, Any], result: RoundResult) -> StoredUpdate:
        ctx = context(rnd["study_id"], rnd["round"])
        masking = {p: rnd["keys"][p] for p in rnd["masking_set"]}
        vector = weighted_input(result.update, result.sample_count)
        data = field.to_bytes(mask_input(h.msp_id, self.secrets(), vector, masking, ctx))
        label = f"{rnd['study_id']}/{rnd['round']}/masked/{h.msp_id}"
        envelope = publish(h.vault, data, label, share_keys(h.registry, rnd["committee"]))
        return StoredUpdate(envelope, hashlib.sha256(data).hexdigest(), len(data), "masked")

    def aggregate(self, h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str],
                  circuit: str | None = None) -> Aggregate:  # fmt: skip
        """Unmask the weighted sum and publish the new global model (with its commitment in an
        audited study). Nobody is left out here: the ledger decided inclusion before the reveal."""
        weights = unmasked_model(h, rnd, spec, self.masked.get(h, rnd, spec))
        self.masked.clear()
        label = f"{rnd['study_id']}/{rnd['round']}/global"
        model = publish_model(h, weights, label, share_keys(h.registry, recipients))
        return Aggregate(with_commitment(model, weights, circuit))

    def account(self) -> str:
        return "unmasked their sum (secure committee)"
