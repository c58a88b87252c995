"""The ledger's side of secure-committee aggregation (Bonawitz et al.-style masking).

What the chaincode decides and checks, so that no member has to be trusted for it:

* **KEYS** (a round state before OPEN): every selected participant publishes its round public
  key (X25519, for the pairwise masks), the CID and SHA-256 of its share bundle on IPFS, the
  commitments to its two secrets (self-mask seed, round key) and, per committee member, the
  SHA-256 of the Shamir share of each secret dealt to that member. The *masking set* is fixed
  when the phase ends: participants mask only against it, and only its members may commit.
* **Which secret is revealed for whom** is fixed with the inclusion set when the round enters
  AGGREGATE: the self-mask seed of every included participant, the round key of every member
  of the masking set that is not included (missed the commit deadline, failed an audit).
  Never both for one participant, so its masked update stays masked.
* **Shares**: a committee member publishes its shares (``SubmitShares``); each is checked
  against the hash its dealer committed to. A share that does not match is evidence that the
  member published something other than what it was dealt (or tried to reveal the other
  secret): the member is slashed ``cheat_slash``, its shares are discarded and its honesty
  record drops. Once every needed secret has ``t`` valid shares the round is *unmask-ready*
  and members reconstruct, unmask the sum, and submit the aggregate as in trusted mode.

The transactions that apply these rules (``Round:PublishKeys``, ``Round:SubmitShares``) are in
chaincode/contracts/rounds/secure.py.

State::

    rkeys~<study>~<r:06d>~<msp>     -> a participant's key record
    rshares~<study>~<r:06d>~<msp>   -> a committee member's share record (status valid|wrong)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from chaincode.contracts.registry import MSP_ID
from chaincode.contracts.studies import CID, HEX64
from chaincode.runtime.errors import InvalidArgument
from chaincode.runtime.schema import B64Key, Field, Str

SHARE_BYTES = 68  # agent/secagg/shamir.py: 2-byte x, 66-byte y
SECRETS = ("seed", "key")
MAX_MEMBERS = 32
MAX_PARTICIPANTS = 64


class SecretHashes(Field):
    """``{"seed": hex64, "key": hex64}``."""

    def check(self, name: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or set(value) != set(SECRETS):
            raise InvalidArgument(f"{name} must be {{'seed': <sha256 hex>, 'key': <sha256 hex>}}")
        return {w: Str(pattern=HEX64).check(f"{name}.{w}", value[w]) for w in SECRETS}


class MemberShareHashes(Field):
    """Per committee member, the hashes of the two shares dealt to it."""

    def check(self, name: str, value: Any) -> dict[str, dict[str, str]]:
        if not isinstance(value, dict) or not 1 <= len(value) <= MAX_MEMBERS:
            raise InvalidArgument(f"{name} must map 1..{MAX_MEMBERS} committee members to their share hashes")
        out = {}
        for member, hashes in value.items():
            Str(max_len=64, pattern=MSP_ID).check(f"{name} key", member)
            out[member] = SecretHashes().check(f"{name}.{member}", hashes)
        return out


class ShareMap(Field):
    """Participant MSP ID -> one base64 Shamir share of 68 bytes."""

    def check(self, name: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or len(value) > MAX_PARTICIPANTS:
            raise InvalidArgument(f"{name} must map at most {MAX_PARTICIPANTS} participants to shares")
        for participant, share in value.items():
            Str(max_len=64, pattern=MSP_ID).check(f"{name} key", participant)
            B64Key(SHARE_BYTES).check(f"{name}.{participant}", share)
        return dict(value)


KEYS_FIELDS = {
    "round_public": B64Key(32),
    "bundle_cid": Str(max_len=130, pattern=CID),
    "bundle_hash": Str(pattern=HEX64),
    "commitments": SecretHashes(),
    "share_hashes": MemberShareHashes(),
}


def key_record(msp_id: str, args: dict[str, Any], committee: list[str], ts_ms: int, tx_id: str) -> dict[str, Any]:
    """The participant's key record; its share hashes must name exactly the round's committee."""
    if sorted(args["share_hashes"]) != sorted(committee):
        raise InvalidArgument(f"share_hashes must name exactly the round's committee {committee}")
    return {
        "msp_id": msp_id,
        "round_public": args["round_public"],
        "bundle_cid": args["bundle_cid"],
        "bundle_hash": args["bundle_hash"],
        "commitments": args["commitments"],
        "share_hashes": args["share_hashes"],
        "published_at_ms": ts_ms,
        "tx_id": tx_id,
    }


def reveal_plan(masking_set: list[str], inclusion: list[str]) -> dict[str, list[str]]:
    """Whose seed and whose round key the committee reveals (disjoint by construction)."""
    return {"seed": sorted(inclusion), "key": sorted(set(masking_set) - set(inclusion))}


def which_secret(plan: dict[str, list[str]], participant: str) -> str:
    for which in SECRETS:
        if participant in plan[which]:
            return which
    raise InvalidArgument(f"{participant} has no secret to reveal in this round (not in the masking set)")


def check_shares(
    member: str, shares: dict[str, str], plan: dict[str, list[str]], keys: dict[str, dict[str, Any]]
) -> list[dict[str, str]]:
    """The shares of ``member`` that do not match what their dealers committed to (empty when
    all match). Shares for participants outside the reveal plan are refused outright."""
    wrong = []
    for participant, b64 in sorted(shares.items()):
        which = which_secret(plan, participant)
        try:
            raw = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:  # pragma: no cover - ShareMap validated it already
            raise InvalidArgument(f"shares.{participant} is not valid base64") from exc
        expected = keys[participant]["share_hashes"][member][which]
        got = hashlib.sha256(raw).hexdigest()
        if got != expected:
            wrong.append({"participant": participant, "which": which, "expected": expected, "got": got})
    return wrong


def share_counts(plan: dict[str, list[str]], records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Valid published shares per participant of the reveal plan."""
    counts = {p: 0 for which in SECRETS for p in plan[which]}
    for record in records.values():
        if record["status"] == "valid":
            for p in record["shares"]:
                counts[p] += 1
    return counts


def ready(plan: dict[str, list[str]], records: dict[str, dict[str, Any]], threshold: int) -> bool:
    """Every secret the plan reveals has at least ``threshold`` valid shares."""
    return all(c >= threshold for c in share_counts(plan, records).values())
