"""One secure-aggregation round, step by step, as pure functions (no ledger, no IPFS).

The ledger's side is chaincode/contracts/secure_aggregation.py; agent/rounds/secure.py
moves these values through IPFS and the ledger. In order:

1. a participant draws ``RoundSecrets`` (round key, self-mask seed) and deals a share bundle to
   the committee (``deal_bundle``); ``keys_args`` is what it publishes on the ledger;
2. once the ledger fixed the masking set, it masks its sample-weighted update against the
   round keys of that set (``mask_input``);
3. once the ledger fixed the reveal plan, each committee member opens its shares of exactly the
   secrets the plan reveals (``member_shares``);
4. from the valid published shares anyone holding the masked vectors recovers the weighted sum
   (``unmask``) and the new global model (``new_global``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.aggregation import FEDAVG, ServerStep
from agent.secagg import field, shamir
from agent.secagg.masking import mask, pairwise_seed, unmask_sum
from agent.secagg.shares import (
    SECRETS,
    ShareBundle,
    WrongShare,
    deal,
    open_share,
    raw_private,
    recover,
    round_key_from,
    round_public,
)
from agent.storage.keywrap import KeyWrapError


class ProtocolError(ValueError):
    """The round's published material is inconsistent (bad bundle, missing shares...)."""


def context(study_id: str, n: int) -> str:
    """What every key derivation and wrapped share of the round is bound to."""
    return f"{study_id}/round-{n}"


@dataclass(frozen=True)
class RoundSecrets:
    """A participant's two secrets for one round; kept in its journal until the round ends."""

    round_key: x25519.X25519PrivateKey
    self_seed: bytes

    @classmethod
    def new(cls) -> RoundSecrets:
        return cls(x25519.X25519PrivateKey.generate(), os.urandom(32))

    def to_json(self) -> dict[str, str]:
        return {"round_key": raw_private(self.round_key).hex(), "self_seed": self.self_seed.hex()}

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> RoundSecrets:
        return cls(round_key_from(bytes.fromhex(raw["round_key"])), bytes.fromhex(raw["self_seed"]))


def deal_bundle(me: str, secrets: RoundSecrets, committee_keys: dict[str, str], threshold: int,
                ctx: str) -> ShareBundle:  # fmt: skip
    return deal(me, secrets.round_key, secrets.self_seed, committee_keys, threshold, ctx)


def bundle_bytes(bundle: ShareBundle) -> bytes:
    return json.dumps(bundle.to_json(), sort_keys=True, separators=(",", ":")).encode()


def parse_bundle(raw: bytes, record: dict[str, Any]) -> ShareBundle:
    """A bundle fetched from IPFS, checked against the participant's key record on the ledger."""
    if hashlib.sha256(raw).hexdigest() != record["bundle_hash"]:
        raise ProtocolError(f"{record['msp_id']}'s share bundle does not match the hash on the ledger")
    try:
        bundle = ShareBundle.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(f"{record['msp_id']}'s share bundle is malformed: {exc}") from None
    if bundle.participant != record["msp_id"] or bundle.round_public != record["round_public"]:
        raise ProtocolError(f"{record['msp_id']}'s share bundle names another participant or round key")
    return bundle


def keys_args(study_id: str, n: int, bundle: ShareBundle, bundle_cid: str, raw: bytes) -> dict[str, Any]:
    """``Round:PublishKeys`` arguments."""
    return {
        "study_id": study_id,
        "round": n,
        "round_public": bundle.round_public,
        "bundle_cid": bundle_cid,
        "bundle_hash": hashlib.sha256(raw).hexdigest(),
        "commitments": dict(bundle.commitments),
        "share_hashes": {m: {w: e[f"{w}_hash"] for w in SECRETS} for m, e in bundle.shares.items()},
    }


def weighted_input(update: np.ndarray, sample_count: int) -> np.ndarray:
    """The participant's summand: its update times its sample count, encoded in the field."""
    if sample_count <= 0:
        raise ProtocolError("sample count must be positive")
    return field.encode(np.asarray(update, dtype=np.float64) * sample_count)


def _public(record: dict[str, Any]) -> x25519.X25519PublicKey:
    return x25519.X25519PublicKey.from_public_bytes(base64.b64decode(record["round_public"]))


def mask_input(me: str, secrets: RoundSecrets, x: np.ndarray, masking_keys: dict[str, dict[str, Any]],
               ctx: str) -> np.ndarray:  # fmt: skip
    """Mask ``x`` against every other member of the masking set (their ledger key records)."""
    if me not in masking_keys:
        raise ProtocolError(f"{me} is not in the masking set")
    pairs = {o: pairwise_seed(secrets.round_key, _public(r), me, o, ctx) for o, r in masking_keys.items() if o != me}
    return mask(x, me, secrets.self_seed, pairs)


Complaints = list[dict[str, str]]


def member_shares(member: str, private: x25519.X25519PrivateKey, reveal: dict[str, list[str]],
                  bundles: dict[str, ShareBundle], ctx: str) -> tuple[dict[str, str], Complaints]:  # fmt: skip
    """The member's shares of the secrets the reveal plan names (base64), and complaints about
    dealers whose share to this member does not open or match its hash."""
    shares, complaints = {}, []
    for which in SECRETS:
        for p in reveal[which]:
            try:
                share = open_share(bundles[p], member, private, which, ctx)
            except (WrongShare, KeyWrapError, PermissionError, ValueError) as exc:
                complaints.append({"msp_id": p, "reason": f"{which} share dealt to {member} unusable: {exc}"[:300]})
                continue
            shares[p] = base64.b64encode(share.to_bytes()).decode()
    return shares, complaints


def _published(records: dict[str, dict[str, Any]], p: str) -> dict[str, shamir.Share]:
    return {
        m: shamir.Share.from_bytes(base64.b64decode(r["shares"][p]))
        for m, r in records.items()
        if r.get("status") == "valid" and p in r.get("shares", {})
    }


Revealed = tuple[dict[str, bytes], dict[str, x25519.X25519PrivateKey]]


def revealed_secrets(reveal: dict[str, list[str]], bundles: dict[str, ShareBundle],
                     records: dict[str, dict[str, Any]]) -> Revealed:  # fmt: skip
    """The self seeds and round keys ``reveal`` names, reconstructed from the members' valid
    published shares (``records``, from the ledger)."""
    try:
        seeds = {p: recover(bundles[p], _published(records, p), "seed") for p in reveal["seed"]}
        keys = {p: round_key_from(recover(bundles[p], _published(records, p), "key")) for p in reveal["key"]}
    except ValueError as exc:
        raise ProtocolError(f"cannot reconstruct the revealed secrets: {exc}") from None
    return seeds, keys


def unmask_with(seeds: dict[str, bytes], dropped_keys: dict[str, x25519.X25519PrivateKey],
                bundles: dict[str, ShareBundle], masked: dict[str, np.ndarray], ctx: str) -> np.ndarray:  # fmt: skip
    """The field sum of the included participants' inputs from their masked vectors, their self
    seeds and the round keys of the dropped."""
    if set(masked) != set(seeds):
        raise ProtocolError("masked vectors are needed for exactly the included participants")
    pairs = {(d, s): pairwise_seed(key, round_public(bundles[s]), d, s, ctx) for d, key in dropped_keys.items()
             for s in seeds}  # fmt: skip
    return unmask_sum(masked, seeds, pairs)


def unmask(reveal: dict[str, list[str]], bundles: dict[str, ShareBundle], records: dict[str, dict[str, Any]],
           masked: dict[str, np.ndarray], ctx: str) -> np.ndarray:  # fmt: skip
    """The field sum of the included participants' weighted inputs. ``records`` are the members'
    share records from the ledger (only valid ones count); ``masked`` the included vectors."""
    if set(masked) != set(reveal["seed"]):
        raise ProtocolError("masked vectors are needed for exactly the included participants")
    seeds, keys = revealed_secrets(reveal, bundles, records)
    return unmask_with(seeds, keys, bundles, masked, ctx)


def effective_reveal(rnd: dict[str, Any]) -> dict[str, list[str]]:
    """What the unmasking uses: the self seeds of the included participants and the round keys
    of everyone else in the masking set. Equal to the ledger's reveal plan, except after a second
    reveal in a bound round, where the round keys of the inputs that failed the check were
    revealed too (their seeds, revealed first, are no longer used)."""
    included = sorted(rnd["inclusion"])
    return {"seed": included, "key": sorted(set(rnd["masking_set"]) - set(included))}


def stage_records(rnd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every member's valid published shares across reveal stages, in the form ``unmask``
    reads: a share counts if the record of the stage that revealed it is valid."""
    second = set((rnd.get("reveal2") or {}).get("key", []))
    out: dict[str, dict[str, Any]] = {}
    for stage, records in ((1, rnd.get("shares", {})), (2, rnd.get("shares2", {}))):
        for m, record in records.items():
            if record.get("status") != "valid":
                continue
            keep = {p: s for p, s in record["shares"].items() if stage == 2 or p not in second}
            out.setdefault(m, {"status": "valid", "shares": {}})["shares"].update(keep)
    return out


def new_global(global_in: np.ndarray, field_sum: np.ndarray, total_samples: int, server: ServerStep = FEDAVG,
               previous: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """The next model from the unmasked weighted sum: the mean update sum(n_i * update_i) /
    sum(n_i) applied by the study's server step (agent/aggregation.py; FedAvg: global + mean)."""
    if total_samples <= 0:
        raise ProtocolError("the included participants committed no samples")
    global_in = np.asarray(global_in, dtype=np.float64).ravel()
    try:
        mean = field.decode(field_sum, len(global_in)) / total_samples
    except field.FieldError as exc:
        raise ProtocolError(f"the unmasked sum does not fit the model: {exc}") from None
    return server.apply(global_in, mean, previous)
