"""A participant's shares for the aggregation committee, and how the committee uses them.

For each round a participant draws a round key (X25519, for the pairwise masks) and a self-mask
seed, splits both t-of-k (agent/secagg/shamir.py) and wraps each member's two shares to that
member's registry key (agent/storage/keywrap.py: X25519 + HKDF + AES-GCM, bound to study,
round, participant, member and which secret). The bundle also carries SHA-256 commitments to
both secrets and to every single share, so that

* a non-member cannot open any share (no key), and a tampered wrapped share fails AES-GCM;
* a member who later publishes a share that is not the one it was dealt is identified by name
  (its hash does not match), which is what the ledger needs to slash it;
* fewer than t shares, or any foreign share, fail the secret's commitment.

Which secret a member publishes is decided by the ledger's inclusion set: the self-mask seed
of an included participant, the round key of one that dropped; never both (agent/secagg/masking.py).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from agent.secagg import shamir
from agent.storage.keywrap import unwrap, wrap

SECRETS = ("seed", "key")


class WrongShare(ValueError):
    """A member's published share is not the share it was dealt."""

    def __init__(self, member: str, which: str) -> None:
        self.member = member
        super().__init__(f"{member} published a {which} share that does not match the one it was dealt")


def raw_private(key: x25519.X25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())  # fmt: skip


def _share_hash(share: shamir.Share) -> str:
    return hashlib.sha256(share.to_bytes()).hexdigest()


def _context(context: str, participant: str, member: str, which: str) -> str:
    return f"secagg|{context}|{participant}|{member}|{which}"


@dataclass(frozen=True)
class ShareBundle:
    participant: str
    round_public: str  # base64 X25519 public key of the participant's round key
    commitments: dict[str, str]  # which -> commitment to the secret
    shares: dict[str, dict[str, str]] = field(default_factory=dict)  # member -> {which, which_hash}
    threshold: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"participant": self.participant, "round_public": self.round_public, "commitments": self.commitments,
                "shares": self.shares, "threshold": self.threshold}  # fmt: skip

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ShareBundle:
        return cls(raw["participant"], raw["round_public"], dict(raw["commitments"]),
                   {m: dict(v) for m, v in raw["shares"].items()}, int(raw["threshold"]))  # fmt: skip


def deal(participant: str, round_key: x25519.X25519PrivateKey, self_seed: bytes, committee: dict[str, str],
         threshold: int, context: str) -> ShareBundle:  # fmt: skip
    """Split the round key and the self-mask seed for ``committee`` (member -> registry share
    key, base64); any ``threshold`` members can reconstruct either secret."""
    members = sorted(committee)
    secrets = {"seed": self_seed, "key": raw_private(round_key)}
    dealt = {which: shamir.split(secret, threshold, len(members)) for which, secret in secrets.items()}
    shares: dict[str, dict[str, str]] = {}
    for i, member in enumerate(members):
        entry = {}
        for which in SECRETS:
            share = dealt[which][i]
            wrapped = wrap(share.to_bytes(), committee[member], _context(context, participant, member, which))
            entry[which] = base64.b64encode(wrapped).decode()
            entry[f"{which}_hash"] = _share_hash(share)
        shares[member] = entry
    public = round_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ShareBundle(participant, base64.b64encode(public).decode(),
                       {which: shamir.commitment(s) for which, s in secrets.items()}, shares, threshold)  # fmt: skip


def open_share(bundle: ShareBundle, member: str, private: x25519.X25519PrivateKey, which: str,
               context: str) -> shamir.Share:  # fmt: skip
    """A member opens its own share of ``which`` and checks it against the dealt hash."""
    if which not in SECRETS:
        raise ValueError(f"which must be one of {SECRETS}")
    entry = bundle.shares.get(member)
    if entry is None:
        raise PermissionError(f"{member} is not on this bundle's committee")
    raw = unwrap(base64.b64decode(entry[which]), private, _context(context, bundle.participant, member, which))
    share = shamir.Share.from_bytes(raw)
    if _share_hash(share) != entry[f"{which}_hash"]:
        raise WrongShare(member, which)
    return share


def recover(bundle: ShareBundle, published: dict[str, shamir.Share], which: str) -> bytes:
    """The secret from members' published shares; a member whose share is not the one dealt to
    it is named (WrongShare); too few shares fail the commitment."""
    for member, share in published.items():
        entry = bundle.shares.get(member)
        if entry is None or _share_hash(share) != entry[f"{which}_hash"]:
            raise WrongShare(member, which)
    if len(published) < bundle.threshold:
        raise ValueError(f"{len(published)} shares of {bundle.participant}'s {which}; {bundle.threshold} needed")
    return shamir.reconstruct_checked(list(published.values()), bundle.commitments[which])


def round_key_from(secret: bytes) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(secret)


def round_public(bundle: ShareBundle) -> x25519.X25519PublicKey:
    return x25519.X25519PublicKey.from_public_bytes(base64.b64decode(bundle.round_public))
