"""Training rounds: the state machine that runs a study, one round at a time.

::

    KEYS ──► OPEN ──► COMMIT ──► CHALLENGE ──► PROVE ──► AGGREGATE ──► FINALIZED
    └────────┴────────┴──────────┴─────────────┴─────────┴───────────► ABORTED

    (KEYS only in secure-aggregation studies; a trusted-aggregation round opens in OPEN)

* ``Open`` selects participants and the aggregation committee (chaincode/contracts/selection.py),
  locks their stake, fixes the round's reward budget, and starts the commit window (in a
  secure-aggregation study, first the key window: participants ``PublishKeys`` in KEYS). Agents
  train and call ``Commit`` (update hash, step Merkle root, sample-count bucket, epsilon spent,
  share CIDs); the privacy budget is charged there.
* ``Advance`` (anyone in the consortium may call it; agents call it on events and deadlines)
  moves the round as far as completion or deadlines allow, in one transaction:
  KEYS->OPEN fixes the masking set (participants without a round key are dropped);
  OPEN->COMMIT when every participant committed or the commit deadline passed (missing
  participants lose availability and ``missing_slash``); COMMIT->CHALLENGE derives the challenge
  seed from all commitments and each participant's audited steps; CHALLENGE->PROVE opens the
  proof window; PROVE->AGGREGATE once every audit is resolved, where a proof missing at the
  deadline counts as failed (``cheat_slash``, update dropped) and a proof submitted but not yet
  verified blocks the round: audits are never skipped. The inclusion set is fixed here.
  In a secure-aggregation round committee members then ``SubmitShares`` until every revealed
  secret has ``t`` valid shares.
  ``SubmitAggregate`` by committee members finalizes the round as soon as ``t`` of them
  published the same model CID and hash; at the aggregate deadline without ``t`` the round aborts.
  A committee record may list ``excluded`` participants with a reason (an update that could not
  be fetched, did not match its committed hash, or was malformed). The set of excluded
  participants is part of what members agree on, with the weights: members that produced the
  same weights left out the same updates (each words the reason itself). So an exclusion needs
  the model's quorum, and no member can exclude a participant alone or keep an excluded one in
  by leaving its exclusion out. An agreed exclusion is on the ledger for everyone to see and the
  participant earns nothing; what other members listed is kept as ``unconfirmed_exclusions``
  and changes nothing.
* After finalization hospitals ``ReportValidation`` of the new model on their own held-out
  data and ``Settle`` pays rewards (chaincode/contracts/incentives.py) and updates quality
  reputation.

A study with audit rate 0 has no audits; its rounds and lineage say ``audited: false``.
Deadlines are measured in transaction timestamps, which clients set and peers only accept
within their time window (Fabric's TimeWindowCheck, 15 minutes by default).

Where each part lives:

* ``contract.py``: :class:`RoundContract`, every ``Round:*`` transaction and query (Open, Commit,
  Advance, SubmitAggregate, ReportValidation, Settle, Get, Reputation, Budget in full;
  PublishKeys, SubmitShares and SubmitProof hand over to the two modules below).
* ``phases.py``: ``ADVANCES``, the table from each state to the handler that moves a round on
  from it, and the committee's agreement that finalizes a round.
* ``secure.py``: the secure-aggregation steps (PublishKeys, SubmitShares), applying the rules of
  chaincode/contracts/secure_aggregation.py.
* ``audit.py``: SubmitProof and a failed audit, applying chaincode/contracts/zk_audit.py; the
  proof submission's capacity that studies check at proposal.
* ``args.py``: every transaction's argument schema.
* ``records.py``: the state layout (keys, records, reputation) and the rules every phase shares
  (legal transitions, deadlines, saving a round that ended).
"""

from __future__ import annotations

from chaincode.contracts.rounds.audit import proof_capacity_problem
from chaincode.contracts.rounds.contract import RoundContract
from chaincode.contracts.rounds.records import (
    NEXT,
    STATES,
    get_reputation,
    get_round,
    part_key,
    parts,
    round_hash,
    round_key,
    update_reputation,
)

__all__ = [
    "NEXT",
    "STATES",
    "RoundContract",
    "get_reputation",
    "get_round",
    "part_key",
    "parts",
    "proof_capacity_problem",
    "round_hash",
    "round_key",
    "update_reputation",
]
