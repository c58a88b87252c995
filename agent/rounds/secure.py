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
  the weighted sum, publish the new global model for every enrolled hospital. In a round that
  binds inputs (chaincode/contracts/binding.py) the member first computes every included
  input's value at the round's point and checks it against the bound value: if one fails it
  publishes those values and no model, and the ledger starts a second reveal.

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

from agent.federation import Hospital, fetch_model, publish_model, server_step, share_keys, with_commitment
from agent.models import ModelSpec
from agent.rounds.mode import Aggregate, StoredUpdate
from agent.secagg import field
from agent.secagg.binding import BLINDING_ELEMENTS, pair_truths, unmask_and_check
from agent.secagg.protocol import (
    ProtocolError,
    RoundSecrets,
    bundle_bytes,
    context,
    deal_bundle,
    effective_reveal,
    keys_args,
    mask_input,
    member_shares,
    new_global,
    parse_bundle,
    revealed_secrets,
    stage_records,
    unmask_with,
    weighted_input,
)
from agent.secagg.shares import ShareBundle
from agent.storage.envelope import open_envelope, publish
from agent.storage.vault import ArtifactError
from agent.training import RoundResult
from chaincode.contracts import binding as rules
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
    """Every included masked vector, checked against its commitment and length (a bound
    round's inputs end with the two blinding elements)."""
    dim = spec.parameter_count()
    extra = BLINDING_ELEMENTS if rnd.get("bound") else 0
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
            out[p] = field.from_bytes(data, dim, extra)
        except field.FieldError as exc:
            raise ProtocolError(f"{p}'s masked update is malformed: {exc}") from None
    return out


Masked = dict[str, np.ndarray]


def committee_shares(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, masked: Masked | None = None,
                     stage: int = 1) -> dict[str, Any]:  # fmt: skip
    """``Round:SubmitShares`` arguments for this member. Raises ProtocolError when an included
    masked vector is unavailable: then no share is published, and without t members'
    shares the round aborts at its deadline with nothing revealed. ``masked``: the included
    vectors if already fetched (``fetch_masked``). ``stage`` 2: the second reveal of a bound
    round (the round keys of inputs that failed the check)."""
    if masked is None and stage == 1:
        fetch_masked(h, rnd, spec)
    reveal = rnd["reveal2"] if stage == 2 else rnd["reveal"]
    bundles = fetch_bundles(h, rnd, reveal["seed"] + reveal["key"])
    ctx = context(rnd["study_id"], rnd["round"])
    shares, complaints = member_shares(h.msp_id, h.share_key, reveal, bundles, ctx)
    if not shares:
        raise ProtocolError(f"{h.msp_id} could open none of its shares: {complaints}")
    return {"study_id": rnd["study_id"], "round": rnd["round"], "shares": shares, "complaints": complaints}


@dataclass(frozen=True)
class Unmasked:
    """What a member computed after the reveal: the new weights (None when a bound round's check
    fails) and, in a bound round, the values it votes with."""

    weights: np.ndarray | None
    evaluations: dict[str, str] | None = None
    pair_truths: dict[str, str] | None = None
    failed: list[str] = dataclasses.field(default_factory=list)


def unmasked_model(h: Hospital, rnd: dict[str, Any], spec: ModelSpec, masked: Masked | None = None) -> Unmasked:
    """The new global weights from the ledger's valid shares and the masked vectors (both
    reveal stages of a bound round), after a bound round's check."""
    reveal = effective_reveal(rnd)
    bundles = fetch_bundles(h, rnd, reveal["seed"] + reveal["key"])
    masked = fetch_masked(h, rnd, spec) if masked is None else masked
    masked = {p: masked[p] for p in reveal["seed"]}
    ctx = context(rnd["study_id"], rnd["round"])
    seeds, keys = revealed_secrets(reveal, bundles, stage_records(rnd))
    checked = Unmasked(None)
    if rnd.get("bound"):  # every input's value at the point, checked before anything is published
        publics = {p: rnd["keys"][p]["round_public"] for p in rnd["masking_set"]}
        z = int(rnd["bind_point"])
        values, field_sum = unmask_and_check(masked, seeds, keys, publics, ctx, z)
        elements = field.elements(spec.parameter_count()) + BLINDING_ELEMENTS
        truths = pair_truths(rnd.get("disputes", []) if rnd.get("reveal_stage", 1) == 1 else [], keys, publics, ctx,
                             elements, z)  # fmt: skip
        failed = rules.failures(values, rnd["bindings"], reveal["seed"])
        checked = Unmasked(None, values, truths, failed)
        if failed:
            return checked
    else:
        field_sum = unmask_with(seeds, keys, bundles, masked, ctx)
    field_sum = field_sum[: field.elements(spec.parameter_count())]
    total = sum(rnd["commitments"][p]["consented_records"] or 0 for p in rnd["inclusion"])
    server, previous = server_step(h, rnd, spec)
    weights = new_global(fetch_model(h, rnd["model_in"], spec), field_sum, total, server, previous)
    if not np.isfinite(weights).all() or float(np.abs(weights).max()) > MAX_MODEL_ABS:
        raise ProtocolError(
            f"the unmasked model has weights beyond {MAX_MODEL_ABS:g}: some participant masked an out-of-range "
            "update; not publishing it"
        )
    return dataclasses.replace(checked, weights=weights)


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
    """``secrets``: this participant's round secrets (drawn at KEYS, kept until committed, or
    in a bound round until bound). ``summand``: in a bound round, the input to mask
    (agent/secagg/binding.py ``bound_input``) instead of the sample-weighted update."""

    secrets: Callable[[], RoundSecrets]
    masked: MaskedCache = dataclasses.field(default_factory=MaskedCache)
    summand: Callable[[RoundResult], np.ndarray] | None = None
    name: str = "secure"

    def store_update(self, h: Hospital, rnd: dict[str, Any], result: RoundResult) -> StoredUpdate:
        ctx = context(rnd["study_id"], rnd["round"])
        masking = {p: rnd["keys"][p] for p in rnd["masking_set"]}
        vector = self.summand(result) if self.summand else weighted_input(result.update, result.sample_count)
        data = field.to_bytes(mask_input(h.msp_id, self.secrets(), vector, masking, ctx))
        label = f"{rnd['study_id']}/{rnd['round']}/masked/{h.msp_id}"
        envelope = publish(h.vault, data, label, share_keys(h.registry, rnd["committee"]))
        return StoredUpdate(envelope, hashlib.sha256(data).hexdigest(), len(data), "masked")

    def aggregate(self, h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str],
                  circuit: str | None = None) -> Aggregate:  # fmt: skip
        """Unmask the weighted sum and publish the new global model (with its commitment in an
        audited study). Nobody is left out here: the ledger decided inclusion before the reveal
        (and, in a bound round, decides after it on the values this member computed)."""
        done = unmasked_model(h, rnd, spec, self.masked.get(h, rnd, spec))
        if done.weights is None:  # a bound input failed: the values go to the ledger, no model
            return Aggregate({}, evaluations=done.evaluations, pair_truths=done.pair_truths, failed=done.failed)
        self.masked.clear()
        label = f"{rnd['study_id']}/{rnd['round']}/global/{rnd.get('reveal_stage', 1)}"
        model = publish_model(h, done.weights, label, share_keys(h.registry, recipients))
        return Aggregate(with_commitment(model, done.weights, circuit), evaluations=done.evaluations,
                         pair_truths=done.pair_truths)  # fmt: skip

    def account(self) -> str:
        return "unmasked their sum (secure committee)"
