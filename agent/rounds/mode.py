"""What every round mode does: store a trained update for the round's aggregators, and, on
the committee, aggregate the round into a new global model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.federation import Hospital
from agent.models import ModelSpec
from agent.training import RoundResult


@dataclass(frozen=True)
class StoredUpdate:
    """A trained update as stored on IPFS: the envelope's CID and the stored bytes' hash."""

    envelope: str
    data_hash: str  # sha256 of the stored bytes (what Round:Commit commits to)
    size: int
    codec: str  # how the bytes encode the update: none, int8 (trusted) or masked (secure)


@dataclass(frozen=True)
class Aggregate:
    """A round's new global model (cid, hash and, in an audited study, its commitment; empty
    when a bound round's check failed) and the included participants left out, each with its
    reason; in a bound secure round the values at the round's point the member votes with and
    the inputs its own check found failing."""

    model: dict[str, str]
    excluded: list[dict[str, str]] = field(default_factory=list)
    evaluations: dict[str, str] | None = None
    pair_truths: dict[str, str] | None = None
    failed: list[str] = field(default_factory=list)


class RoundMode(Protocol):
    name: str  # as the round record says: "trusted" or "secure"

    def store_update(self, h: Hospital, rnd: dict[str, Any], result: RoundResult) -> StoredUpdate:
        """Put the update on IPFS in an envelope only the round's aggregators can open."""

    def aggregate(self, h: Hospital, rnd: dict[str, Any], spec: ModelSpec, recipients: list[str],
                  circuit: str | None) -> Aggregate:  # fmt: skip
        """As a committee member: the new global model, published for ``recipients``."""

    def account(self) -> str:
        """How the aggregate was made, for the log."""
